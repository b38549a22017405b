// Records stored in the overlay: signed by their owner's Ed25519 key, versioned by a sequence
// number, and expiring. The signature covers a canonical JSON form of every field but `sig`.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export type RecordType = 'name' | 'binding';
export const RECORD_TYPES: readonly RecordType[] = ['name', 'binding'];

export interface OverlayRecord {
  type: RecordType;
  /** The ring key (40 hex digits): SHA-1 of `user@overlay` for names and bindings. */
  key: string;
  /** The owner's raw Ed25519 public key, base64url. */
  owner: string;
  /** Tells apart several records of one type under one key: '' for a name, the device's node ID for a binding. */
  slot: string;
  /** Grows with every update the owner makes; an older one is a replay. */
  seq: number;
  /** Milliseconds since the epoch after which the record is dropped. */
  expires: number;
  value: NameValue | BindingValue;
  /** Ed25519 signature over canonicalBytes(), base64url. */
  sig: string;
}

/** A first-come claim of a user name in an overlay. */
export interface NameValue {
  user: string;
  overlay: string;
  displayName?: string;
}

/** Where one device of a user can be reached. */
export interface BindingValue {
  user: string;
  overlay: string;
  /** The device's SIP contact, e.g. sip:alice@192.0.2.10:5060. */
  contact: string;
  /** For a client (not in the ring), the member it is attached to. */
  via?: string;
}

export type UnsignedRecord = Omit<OverlayRecord, 'sig'>;

/** Stable JSON: object keys sorted at every depth, so signer and verifier hash the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}';
  }
  return JSON.stringify(value);
}

export function canonicalBytes(record: UnsignedRecord): Buffer {
  const { type, key, owner, slot, seq, expires, value } = record;
  return Buffer.from('peerdial-record-v1\n' + canonicalJson({ type, key, owner, slot, seq, expires, value }), 'utf8');
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function signRecord(record: UnsignedRecord, privateKeyPkcs8: Buffer | KeyObject): OverlayRecord {
  const key = Buffer.isBuffer(privateKeyPkcs8) ? createPrivateKey({ key: privateKeyPkcs8, format: 'der', type: 'pkcs8' }) : privateKeyPkcs8;
  return { ...record, sig: sign(null, canonicalBytes(record), key).toString('base64url') };
}

export function verifyRecord(record: OverlayRecord): boolean {
  try {
    const raw = Buffer.from(record.owner, 'base64url');
    if (raw.length !== 32) return false;
    return verify(null, canonicalBytes(record), publicKeyFromRaw(raw), Buffer.from(record.sig, 'base64url'));
  } catch {
    return false;
  }
}

/** Checks the shape of a record that arrived from the network; returns it typed, or why not. */
export function parseRecord(input: unknown): OverlayRecord | string {
  if (!input || typeof input !== 'object') return 'not an object';
  const r = input as Record<string, unknown>;
  if (!RECORD_TYPES.includes(r.type as RecordType)) return 'unknown record type';
  if (typeof r.key !== 'string' || !/^[0-9a-f]{40}$/.test(r.key)) return 'bad key';
  if (typeof r.owner !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(r.owner)) return 'bad owner';
  if (typeof r.slot !== 'string' || r.slot.length > 64) return 'bad slot';
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) return 'bad seq';
  if (!Number.isSafeInteger(r.expires)) return 'bad expires';
  if (typeof r.sig !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(r.sig)) return 'bad signature encoding';
  const v = r.value as Record<string, unknown> | undefined;
  if (!v || typeof v !== 'object' || typeof v.user !== 'string' || typeof v.overlay !== 'string') return 'bad value';
  if (r.type === 'binding' && (typeof v.contact !== 'string' || v.contact.length > 256)) return 'bad binding contact';
  if (canonicalJson(v).length > 1024) return 'value too large';
  return input as OverlayRecord;
}

/** Identity of a stored record: one per (key, type, slot). */
export function recordSlotId(r: Pick<OverlayRecord, 'key' | 'type' | 'slot'>): string {
  return `${r.key}/${r.type}/${r.slot}`;
}
