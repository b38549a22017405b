// What the servers of a farm say to each other, in MESSAGE bodies of their own content type
// (docs/protocol.md, "Server farms"):
//
//   join   a node started with --farm asks a member for the farm's secret, giving a fresh X25519
//          public key; the member (while it admits servers) answers 200 with `key`: the secret
//          sealed to that key (wire/crypto/sealed-box.ts), so nobody else on the LAN reads it.
//   sync   a member sends the farm's phone accounts (digest H(A1) values, never passwords) and
//          the accounts removed, sealed with AES-256-GCM under the key derived from the secret.
//          Only members can make or read one; the AAD names the farm and the sender.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { openSealed, sealToRecipient } from '../crypto/sealed-box.js';
import { FARM_SECRET_BYTES, isFarmId } from './farm-keys.js';

export const FARM_CONTENT_TYPE = 'application/vnd.peerdial.farm+json';
const TYPE = 'peerdial-farm';
const KEY_CONTEXT = Buffer.from('peerdial-farm-key-v1');
const SYNC_AAD = 'peerdial-farm-sync-v1';
/** Accounts one sync message carries; more go in further messages. */
export const FARM_ACCOUNTS_PER_MESSAGE = 40;
/** Limits that keep one body well inside a SIP message (64 KiB). */
const MAX_BODY_BYTES = 48 * 1024;
const USER = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

/** A phone account of a farm user: what a member needs to check its digest and route to it. */
export interface FarmAccount {
  id: string;
  /** The farm user, the phone's AOR being sip:USER@OVERLAY. */
  user: string;
  name: string;
  username: string;
  ha1: { md5: string; sha256: string; sha512_256: string };
  createdAt: number;
  updatedAt: number;
}

export interface FarmRemoval {
  id: string;
  removedAt: number;
}

export type FarmMessage =
  | { op: 'join'; node: string; x25519: string }
  | { op: 'key'; farm: string; key: string }
  | { op: 'sync'; farm: string; node: string; sealed: string };

export interface FarmSync {
  sentAt: number;
  accounts: FarmAccount[];
  removed: FarmRemoval[];
}

export function encodeFarmMessage(message: FarmMessage): string {
  return JSON.stringify({ type: TYPE, ...message });
}

/** The message, or the first problem with it as a sentence. */
export function readFarmMessage(body: string): FarmMessage | string {
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) return 'too large';
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (!d || typeof d !== 'object' || d.type !== TYPE) return 'not a farm message';
  const base64url = (v: unknown, max: number) => typeof v === 'string' && v.length <= max && /^[A-Za-z0-9_-]+$/.test(v);
  const nodeId = (v: unknown) => typeof v === 'string' && HEX(40).test(v);
  switch (d.op) {
    case 'join':
      if (!nodeId(d.node) || !base64url(d.x25519, 43) || (d.x25519 as string).length !== 43) return 'a join names a node and an X25519 key';
      return { op: 'join', node: d.node as string, x25519: d.x25519 as string };
    case 'key':
      if (!isFarmId(d.farm) || !base64url(d.key, 400)) return 'a key answer names the farm and carries the sealed key';
      return { op: 'key', farm: d.farm, key: d.key as string };
    case 'sync':
      if (!isFarmId(d.farm) || !nodeId(d.node) || !base64url(d.sealed, MAX_BODY_BYTES)) return 'a sync names the farm and the sender and is sealed';
      return { op: 'sync', farm: d.farm, node: d.node as string, sealed: d.sealed as string };
    default:
      return 'unknown operation';
  }
}

/** The farm's secret sealed to a joining node's one-time X25519 key. */
export function sealFarmSecret(secret: Buffer, x25519: string): string {
  return sealToRecipient(secret, Buffer.from(x25519, 'base64url'), KEY_CONTEXT).toString('base64url');
}

export function openFarmSecret(sealed: string, x25519Private: Parameters<typeof openSealed>[1]): Buffer | undefined {
  const secret = openSealed(Buffer.from(sealed, 'base64url'), x25519Private, KEY_CONTEXT);
  return secret?.length === FARM_SECRET_BYTES ? secret : undefined;
}

function aad(farm: string, node: string): Buffer {
  return Buffer.from(`${SYNC_AAD}\n${farm}\n${node}`);
}

/** nonce (12) || AES-256-GCM ciphertext || tag (16), base64url. */
export function sealFarmSync(sync: FarmSync, syncKey: Buffer, farm: string, node: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', syncKey, nonce);
  cipher.setAAD(aad(farm, node));
  const body = Buffer.concat([cipher.update(JSON.stringify(sync)), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

/** The accounts, or why not: sealed by someone without the farm's key, altered, or malformed. */
export function openFarmSync(sealed: string, syncKey: Buffer, farm: string, node: string): FarmSync | string {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < 12 + 16) return 'too short';
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', syncKey, bytes.subarray(0, 12));
    decipher.setAAD(aad(farm, node));
    decipher.setAuthTag(bytes.subarray(-16));
    plain = Buffer.concat([decipher.update(bytes.subarray(12, -16)), decipher.final()]);
  } catch {
    return 'not sealed with this farm\'s key';
  }
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (!Number.isSafeInteger(d.sentAt) || !Array.isArray(d.accounts) || !Array.isArray(d.removed)) return 'malformed';
  if (d.accounts.length > FARM_ACCOUNTS_PER_MESSAGE || d.removed.length > 4 * FARM_ACCOUNTS_PER_MESSAGE) return 'too many accounts';
  const accounts: FarmAccount[] = [];
  for (const a of d.accounts as Array<Record<string, unknown>>) {
    const ha1 = (a?.ha1 ?? {}) as Record<string, unknown>;
    const ok =
      typeof a.id === 'string' && HEX(12).test(a.id) &&
      typeof a.user === 'string' && USER.test(a.user) &&
      typeof a.name === 'string' && a.name.length > 0 && a.name.length <= 40 &&
      typeof a.username === 'string' && /^[a-z0-9._-]{1,64}$/.test(a.username) &&
      typeof ha1.md5 === 'string' && HEX(32).test(ha1.md5) &&
      typeof ha1.sha256 === 'string' && HEX(64).test(ha1.sha256) &&
      typeof ha1.sha512_256 === 'string' && HEX(64).test(ha1.sha512_256) &&
      Number.isSafeInteger(a.createdAt) && Number.isSafeInteger(a.updatedAt);
    if (!ok) return 'a malformed account';
    accounts.push({ id: a.id as string, user: a.user as string, name: a.name as string, username: a.username as string, ha1: { md5: ha1.md5 as string, sha256: ha1.sha256 as string, sha512_256: ha1.sha512_256 as string }, createdAt: a.createdAt as number, updatedAt: a.updatedAt as number });
  }
  const removed: FarmRemoval[] = [];
  for (const r of d.removed as Array<Record<string, unknown>>) {
    if (typeof r?.id !== 'string' || !HEX(12).test(r.id) || !Number.isSafeInteger(r.removedAt)) return 'a malformed removal';
    removed.push({ id: r.id, removedAt: r.removedAt as number });
  }
  return { sentAt: d.sentAt as number, accounts, removed };
}
