// Crypto puzzles that make ring positions and names cost work (issue 21 item 1; after the static
// puzzle of S/Kademlia, Baumgart and Mies 2007, with a nonce in place of regenerating the key).
//
// Node ID: work = SHA-256("pdid1" || raw Ed25519 key (32) || nonce (8, big-endian)), 45 bytes,
// one SHA-256 block. The proof holds when `work` starts with at least D zero bits; the node's ID
// is the last 160 bits of `work`. Each try is one hash and yields a fresh random ID, so an honest
// node pays 2^D hashes once per key, and an attacker who wants an ID inside an arc holding a
// share f of the ring pays 2^D / f per ID: the zero bits cannot be traded for the position.
// Checking is one hash of one block.
//
// Name claim: work = SHA-256("pdnm1" || raw owner key (32) || nonce (8) || lower-case
// "user@overlay"), the same rule with its own difficulty: a claim costs 2^D hashes per name and
// key, and cannot be moved to another name or key.
import { createHash } from 'node:crypto';
import type { NodeId } from './node-id.js';

const ID_TAG = Buffer.from('pdid1');
const NAME_TAG = Buffer.from('pdnm1');
/** Difficulties above this are refused: the ID takes the digest's last 160 bits, and the zero bits must not reach them. */
export const MAX_DIFFICULTY = 64;
/** Nonces are JSON numbers on the wire: whole, from 0 to 2^53-1. */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

/** A node reference's proof: its raw Ed25519 key (base64url, 43 characters) and the nonce. */
export interface IdProof {
  pk: string;
  nonce: number;
}

export function isNonce(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function isPublicKeyText(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
}

/** The number of zero bits the digest starts with. */
export function leadingZeroBits(digest: Buffer): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

function writeNonce(buf: Buffer, offset: number, nonce: number): void {
  buf.writeUInt32BE(Math.floor(nonce / 0x1_0000_0000), offset);
  buf.writeUInt32BE(nonce % 0x1_0000_0000, offset + 4);
}

/** The node-ID puzzle's input, nonce left at 0 (solve and verify write it in place). */
function idInput(rawKey: Buffer): Buffer {
  if (rawKey.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return Buffer.concat([ID_TAG, rawKey, Buffer.alloc(8)]);
}

const ID_NONCE_AT = ID_TAG.length + 32;

export function idWork(rawKey: Buffer, nonce: number): Buffer {
  const input = idInput(rawKey);
  writeNonce(input, ID_NONCE_AT, nonce);
  return createHash('sha256').update(input).digest();
}

/** The ring ID a key and nonce give: the last 160 bits of the work digest. */
export function idFromWork(work: Buffer): NodeId {
  return BigInt('0x' + work.subarray(12).toString('hex'));
}

export function nodeIdFromProof(rawKey: Buffer, nonce: number): NodeId {
  return idFromWork(idWork(rawKey, nonce));
}

/** Why a node reference's ID does not stand, or undefined when it does. */
export type IdProofProblem = 'missing' | 'malformed' | 'wrong-id' | 'too-little-work';

/**
 * Checks that `id` (40 hex digits) is the ID the proof gives and that the proof has at least
 * `difficulty` zero bits. One SHA-256 block; a few microseconds.
 */
export function checkIdProof(ref: { id: string; pk?: unknown; nonce?: unknown }, difficulty: number): IdProofProblem | undefined {
  if (ref.pk === undefined && ref.nonce === undefined) return 'missing';
  if (!isPublicKeyText(ref.pk) || !isNonce(ref.nonce)) return 'malformed';
  const raw = Buffer.from(ref.pk, 'base64url');
  if (raw.length !== 32) return 'malformed';
  const work = idWork(raw, ref.nonce);
  if (work.subarray(12).toString('hex') !== ref.id) return 'wrong-id';
  return leadingZeroBits(work) >= difficulty ? undefined : 'too-little-work';
}

/**
 * Tries `count` nonces from `from` on; the first whose work has `difficulty` zero bits, or
 * undefined. Pure and bounded, so a caller can run it in slices between other work.
 */
export function solveIdRange(rawKey: Buffer, difficulty: number, from: number, count: number): { nonce: number; bits: number } | undefined {
  return solveRange(idInput(rawKey), ID_NONCE_AT, difficulty, from, count);
}

function nameInput(rawOwner: Buffer, user: string, overlay: string): Buffer {
  if (rawOwner.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return Buffer.concat([NAME_TAG, rawOwner, Buffer.alloc(8), Buffer.from(`${user}@${overlay}`.toLowerCase(), 'utf8')]);
}

const NAME_NONCE_AT = NAME_TAG.length + 32;

export function nameWork(rawOwner: Buffer, user: string, overlay: string, nonce: number): Buffer {
  const input = nameInput(rawOwner, user, overlay);
  writeNonce(input, NAME_NONCE_AT, nonce);
  return createHash('sha256').update(input).digest();
}

/** Whether a name claim's `work` nonce has `difficulty` zero bits for its name and owner. */
export function checkNameWork(claim: { owner: string; value: { user: string; overlay: string; work?: unknown } }, difficulty: number): boolean {
  if (difficulty <= 0) return true;
  const nonce = claim.value.work;
  if (!isNonce(nonce) || !isPublicKeyText(claim.owner)) return false;
  const raw = Buffer.from(claim.owner, 'base64url');
  return raw.length === 32 && leadingZeroBits(nameWork(raw, claim.value.user, claim.value.overlay, nonce)) >= difficulty;
}

export function solveNameRange(rawOwner: Buffer, user: string, overlay: string, difficulty: number, from: number, count: number): { nonce: number; bits: number } | undefined {
  return solveRange(nameInput(rawOwner, user, overlay), NAME_NONCE_AT, difficulty, from, count);
}

function solveRange(input: Buffer, nonceAt: number, difficulty: number, from: number, count: number): { nonce: number; bits: number } | undefined {
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > MAX_DIFFICULTY) throw new RangeError(`difficulty must be a whole number from 0 to ${MAX_DIFFICULTY}`);
  const end = Math.min(from + count, MAX_NONCE);
  for (let nonce = from; nonce < end; nonce++) {
    writeNonce(input, nonceAt, nonce);
    const bits = leadingZeroBits(createHash('sha256').update(input).digest());
    if (bits >= difficulty) return { nonce, bits };
  }
  return undefined;
}
