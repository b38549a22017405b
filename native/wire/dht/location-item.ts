// A Peerdial user's location item in the BitTorrent mainline DHT: a BEP 44 mutable item signed
// by the user's Ed25519 identity key, found by anyone who has that key pinned (docs/protocol.md,
// "Location items in the BitTorrent DHT (BEP 44)").
//
//   salt   = "peerdial-location-v1:" || hex(SHA-1(lowercase(overlay)))       (61 bytes; BEP 44 allows 64)
//   target = SHA-1(public key || salt)                                        (BEP 44)
//   v      = the bencoded dictionary below, carried as one byte string: its bencoded form is at
//            most 1000 bytes (BEP 44), so the encoder leaves out the bindings that do not fit.
//
//   u  user name                          x  X25519 public key (32 raw bytes)
//   w  0 when the user takes no voice messages (absent: they do)
//   b  list of bindings, each a dictionary:
//        c  contact, without "sip:USER@" when it starts so       d  device tag: SHA-1(slot)[0..8]
//        e  expiry, seconds since the epoch                       v  the member a client is attached to (HOST:PORT)
//        t  TLS port                                              f  SHA-256 of the TLS certificate (32 raw bytes)
//
// The item's BEP 44 seq is the time of signing in milliseconds, like a ring record's seq.
import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { decodeBencode } from './krpc-check.js';
import { PHONE_CONTACT_PARAM } from '../overlay/record.js';

/** BEP 44: the bencoded `v` of an item is at most 1000 bytes. */
export const LOCATION_ITEM_MAX_BYTES = 1000;
export const LOCATION_SALT_LABEL = 'peerdial-location-v1:';

export interface LocationBinding {
  /** Tells the user's devices apart (the binding's ring slot, hashed and cut to 8 bytes). */
  device: string;
  contact: string;
  via?: string;
  tls?: { port: number; certificate: string };
  /** Milliseconds since the epoch. */
  expires: number;
}

export interface LocationItem {
  user: string;
  /** Raw X25519 public key, base64url. */
  x25519?: string;
  voicemail?: false;
  bindings: LocationBinding[];
}

export function locationSalt(overlay: string): Buffer {
  return Buffer.from(LOCATION_SALT_LABEL + createHash('sha1').update(overlay.toLowerCase()).digest('hex'), 'ascii');
}

/** Where BEP 44 keeps the item of `publicKey` (32 raw bytes) for `overlay`. */
export function locationTarget(publicKey: Buffer, overlay: string): Buffer {
  return createHash('sha1').update(Buffer.concat([publicKey, locationSalt(overlay)])).digest();
}

/** The device tag of a binding's ring slot. */
export function deviceTag(slot: string): string {
  return createHash('sha1').update(slot).digest().subarray(0, 8).toString('hex');
}

/** The bytes of a bencoded byte string holding `v`: what BEP 44's 1000-byte limit counts. */
function bencodedSize(v: Buffer): number {
  return String(v.length).length + 1 + v.length;
}

/**
 * Encodes the item; bindings that do not fit in 1000 bytes are left out: phones first, then the
 * soonest to expire. `dropped` says how many.
 */
export function encodeLocationItem(item: LocationItem): { value: Buffer; dropped: number } {
  const ranked = [...item.bindings].sort((a, b) => phoneRank(a) - phoneRank(b) || b.expires - a.expires);
  for (let keep = ranked.length; keep >= 0; keep--) {
    const value = Buffer.from(bencode.encode(toWire({ ...item, bindings: ranked.slice(0, keep) })));
    if (bencodedSize(value) <= LOCATION_ITEM_MAX_BYTES) return { value, dropped: ranked.length - keep };
  }
  throw new Error('a location item with no binding does not fit in 1000 bytes');
}

function toWire(item: LocationItem): Record<string, unknown> {
  const prefix = `sip:${item.user}@`;
  return {
    u: item.user,
    ...(item.x25519 ? { x: Buffer.from(item.x25519, 'base64url') } : {}),
    ...(item.voicemail === false ? { w: 0 } : {}),
    b: item.bindings.map((b) => ({
      c: b.contact.startsWith(prefix) ? b.contact.slice(prefix.length) : b.contact,
      d: Buffer.from(b.device, 'hex'),
      e: Math.floor(b.expires / 1000),
      ...(b.via ? { v: b.via } : {}),
      ...(b.tls ? { t: b.tls.port, f: Buffer.from(b.tls.certificate, 'base64url') } : {}),
    })),
  };
}

/**
 * Reads an item's `v` as it came from the DHT (its signature already checked): the item, or why
 * it is refused. Only the canonical encoding is accepted (what encodeLocationItem writes), so a
 * value cannot say two things to two readers.
 */
export function decodeLocationItem(value: Uint8Array): LocationItem | string {
  const bytes = Buffer.from(value);
  if (bencodedSize(bytes) > LOCATION_ITEM_MAX_BYTES) return `larger than ${LOCATION_ITEM_MAX_BYTES} bytes`;
  // bencode 4.0.1's decoder takes a negative string length ("d:-4:") as a step backwards and
  // loops forever (found by fuzzing): only what our strict reader accepts goes on to it.
  if (decodeBencode(bytes) === undefined) return 'not bencode';
  let decoded: unknown;
  try {
    decoded = bencode.decode(bytes);
  } catch {
    return 'not bencode';
  }
  if (!isDict(decoded)) return 'not a dictionary';
  const user = text(decoded.u);
  if (!user || !/^[a-z0-9][a-z0-9._-]{0,31}$/.test(user)) return 'no valid user name';
  const x = decoded.x;
  if (x !== undefined && !(x instanceof Uint8Array && x.length === 32)) return 'the X25519 key is not 32 bytes';
  if (decoded.w !== undefined && decoded.w !== 0) return 'w is not 0';
  if (!Array.isArray(decoded.b)) return 'no binding list';
  const bindings: LocationBinding[] = [];
  for (const raw of decoded.b) {
    const binding = readBinding(raw, user);
    if (typeof binding === 'string') return binding;
    bindings.push(binding);
  }
  const item: LocationItem = { user, ...(x ? { x25519: Buffer.from(x).toString('base64url') } : {}), ...(decoded.w === 0 ? { voicemail: false as const } : {}), bindings };
  if (!Buffer.from(bencode.encode(toWire(item))).equals(bytes)) return 'not in canonical form';
  return item;
}

function readBinding(raw: unknown, user: string): LocationBinding | string {
  if (!isDict(raw)) return 'a binding is not a dictionary';
  const c = text(raw.c);
  if (!c || c.length > 200) return 'a binding has no contact';
  const contact = /^sips?:/i.test(c) ? c : `sip:${user}@${c}`;
  if (!(raw.d instanceof Uint8Array) || raw.d.length !== 8) return 'a binding has no 8-byte device tag';
  if (!Number.isSafeInteger(raw.e) || (raw.e as number) <= 0) return 'a binding has no expiry';
  const via = raw.v === undefined ? undefined : text(raw.v);
  if (raw.v !== undefined && (!via || !/^\[?[^\s\]]+\]?:\d{1,5}$/.test(via))) return 'a binding\'s member is not HOST:PORT';
  let tls: LocationBinding['tls'];
  if (raw.t !== undefined || raw.f !== undefined) {
    if (!Number.isInteger(raw.t) || (raw.t as number) < 1 || (raw.t as number) > 65535) return 'a binding\'s TLS port is not a port';
    if (!(raw.f instanceof Uint8Array) || raw.f.length !== 32) return 'a binding\'s certificate hash is not 32 bytes';
    tls = { port: raw.t as number, certificate: Buffer.from(raw.f).toString('base64url') };
  }
  return { device: Buffer.from(raw.d).toString('hex'), contact, ...(via ? { via } : {}), ...(tls ? { tls } : {}), expires: (raw.e as number) * 1000 };
}

function isDict(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A byte string that is valid UTF-8 without control characters, as text. */
function text(value: unknown): string | undefined {
  if (!(value instanceof Uint8Array)) return undefined;
  const s = Buffer.from(value).toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(Buffer.from(value)) || /[\u0000-\u001f\u007f]/.test(s)) return undefined;
  return s;
}

function phoneRank(b: LocationBinding): number {
  return new RegExp(`;${PHONE_CONTACT_PARAM}=`, 'i').test(b.contact) ? 1 : 0;
}
