// Identifiers on the Chord ring: 160-bit integers (SHA-1), compared on a circle.
import { createHash } from 'node:crypto';

export type NodeId = bigint;
export const ID_BITS = 160;
export const RING_SIZE: bigint = 1n << BigInt(ID_BITS);

export function idToHex(id: NodeId): string {
  return id.toString(16).padStart(ID_BITS / 4, '0');
}

export function idFromHex(hex: string): NodeId | undefined {
  return /^[0-9a-f]{40}$/i.test(hex) ? BigInt('0x' + hex) : undefined;
}

export function sha1Id(data: string | Buffer): NodeId {
  return BigInt('0x' + createHash('sha1').update(data).digest('hex'));
}

/** A node's ID is the SHA-1 of its raw Ed25519 public key (DESIGN.md). */
export function nodeIdFromPublicKey(rawPublicKey: Buffer): NodeId {
  return sha1Id(rawPublicKey);
}

/** The ring key of a user's records: SHA-1 of `user@overlay`, lower-cased. */
export function keyForAor(user: string, overlay: string): NodeId {
  return sha1Id(`${user.toLowerCase()}@${overlay.toLowerCase()}`);
}

/** (a + b) mod 2^160. */
export function addId(a: NodeId, b: bigint): NodeId {
  return (((a + b) % RING_SIZE) + RING_SIZE) % RING_SIZE;
}

/** The start of finger i of node n: n + 2^i (Chord, Stoica et al. 2001, table 1). */
export function fingerStart(n: NodeId, i: number): NodeId {
  return addId(n, 1n << BigInt(i));
}

/** Clockwise distance from a to b. */
export function ringDistance(a: NodeId, b: NodeId): bigint {
  return (((b - a) % RING_SIZE) + RING_SIZE) % RING_SIZE;
}

/** x in the open interval (a, b) going clockwise; when a == b the interval is the whole ring but a. */
export function inOpenInterval(x: NodeId, a: NodeId, b: NodeId): boolean {
  if (a === b) return x !== a;
  const dx = ringDistance(a, x);
  return dx > 0n && dx < ringDistance(a, b);
}

/** x in (a, b]: the arc a node b is responsible for when a is its predecessor. */
export function inHalfOpenInterval(x: NodeId, a: NodeId, b: NodeId): boolean {
  if (a === b) return true;
  const dx = ringDistance(a, x);
  return dx > 0n && dx <= ringDistance(a, b);
}
