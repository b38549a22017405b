// Records stored in the overlay: signed by their owner's Ed25519 key, versioned by a sequence
// number, and expiring. The signature covers a canonical JSON form of every field but `sig`.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isCertificateFingerprint } from '../crypto/certificate.js';
import { isNonce } from './id-puzzle.js';

export type RecordType = 'name' | 'binding' | 'mailbox' | 'service';
export const RECORD_TYPES: readonly RecordType[] = ['name', 'binding', 'mailbox', 'service'];

export interface OverlayRecord {
  type: RecordType;
  /** The ring key (40 hex digits): SHA-1 of `user@overlay` for names and bindings, of `mailbox:user@overlay` for mailboxes. */
  key: string;
  /** The owner's raw Ed25519 public key, base64url. */
  owner: string;
  /**
   * Tells apart several records of one type under one key: '' for a name, the device's node ID
   * for a binding; in a mailbox `m:` + SHA-1 of the message's Call-ID, or `ack:` + the recipient's key;
   * for a service advertisement, SHA-1 of the owner's key (one advertisement per node).
   */
  slot: string;
  /** Grows with every update the owner makes; an older one is a replay. */
  seq: number;
  /** Milliseconds since the epoch after which the record is dropped. */
  expires: number;
  value: NameValue | BindingValue | MailboxValue | ServiceValue;
  /** Ed25519 signature over canonicalBytes(), base64url. */
  sig: string;
}

/** A first-come claim of a user name in an overlay. */
export interface NameValue {
  user: string;
  overlay: string;
  displayName?: string;
  /** The user's X25519 public key (raw, base64url): messages kept for them while offline are sealed to it. */
  x25519?: string;
  /** false: the user takes no voice messages (absent: they do). */
  voicemail?: boolean;
  /**
   * The claim's proof of work (id-puzzle.ts): a nonce giving SHA-256("pdnm1" || owner key ||
   * nonce || "user@overlay") the overlay's nameDifficulty zero bits. Storing nodes refuse a claim
   * without it (reason `name-work`).
   */
  work?: number;
}

/**
 * The contact parameter naming one of the user's SIP phones in a binding its node publishes for
 * it (`sip:alice@HOST:PORT;pdphone=ID`): the node is the phone's registrar and proxy.
 */
export const PHONE_CONTACT_PARAM = 'pdphone';

/** Where one device of a user can be reached. */
export interface BindingValue {
  user: string;
  overlay: string;
  /** The device's SIP contact, e.g. sip:alice@192.0.2.10:5060. */
  contact: string;
  /** For a client (not in the ring), the member it is attached to. */
  via?: string;
  /**
   * The device's SIP over TLS listener on the contact's host, and the SHA-256 of the certificate
   * it presents (base64url): a peer that reaches the device there accepts exactly that one.
   */
  tls?: { port: number; certificate: string };
}

/**
 * A mailbox entry for a user (`user`, `overlay`: the recipient). A message is owned (signed) by
 * its sender and carries `sealed`; the recipient's acknowledgement is owned by the recipient,
 * lists the message slots it took (`acked`), and makes the nodes that hold the mailbox drop them.
 */
export interface MailboxValue {
  user: string;
  overlay: string;
  /** The recipient's Ed25519 key (raw, base64url): only it may acknowledge the message. */
  to: string;
  /** The sealed message (wire/im/offline-message.ts), base64url; absent in an acknowledgement. */
  sealed?: string;
  /** The message slots the recipient took; only in an acknowledgement. */
  acked?: string[];
  /** One encrypted chunk of a voice message's audio (wire/im/voice-message.ts), base64url; only in a chunk. */
  chunk?: string;
  /** The recipient's own recorded greeting, packed Opus (voice-message.ts), base64url, in the clear: callers play it. */
  greeting?: string;
}

/**
 * A node offering a service to the overlay (today: `rescue`, a DotSlash rescue server), stored
 * under serviceKey(service, overlay). `user` is the service's name, so every record names what
 * its key is the hash of. Short-lived: the node stores it again while it offers the service.
 */
export interface ServiceValue {
  user: string;
  overlay: string;
  /** Where the node's SIP listens (DSRP goes there). */
  contact: string;
  /** The service's own address, e.g. the rescue server's http://HOST:PORT. */
  url: string;
  /** Spare capacity now, in the service's unit (rescue: Mbit/s it can still give). */
  headroom: number;
}

export const SERVICE_LIMITS = {
  /** Advertisements kept under one service key. */
  maxRecords: 256,
  /** The longest an advertisement may live. */
  maxTtlMs: 15 * 60_000,
};

/** The ring key of a service's advertisements: SHA-1 of `service:NAME@overlay`. */
export function serviceKey(service: string, overlay: string): string {
  return createHash('sha1').update(`service:${service.toLowerCase()}@${overlay.toLowerCase()}`).digest('hex');
}

/** The slot of an owner's advertisement: SHA-1 of its raw key. */
export function serviceSlot(ownerBase64Url: string): string {
  return createHash('sha1').update(Buffer.from(ownerBase64Url, 'base64url')).digest('hex');
}

/** Limits that keep a mailbox within one overlay fetch (a SIP message is at most 64 KiB). */
export const MAILBOX_LIMITS = {
  /** Records under one mailbox key: messages and acknowledgements. */
  maxRecords: 50,
  /** Serialized bytes of all messages under one mailbox key. */
  maxMessageBytes: 40 * 1024,
  /** Serialized bytes of one message record (16 KiB of text sealed and base64url'd fits). */
  maxRecordBytes: 24 * 1024,
  /** Message slots one acknowledgement lists (the newest are kept). */
  maxAcked: 64,
  /** Acknowledgements under one mailbox key (the recipient needs one). */
  maxAcks: 4,
  /**
   * Voice: serialized bytes of all chunk records under one mailbox key. A chunk record is about
   * 22 KiB, so 3 MiB is 140 chunks: four 2-minute messages at 24 kbit/s, or 30 half-minute ones.
   */
  maxVoiceBytes: 3 * 1024 * 1024,
  /** Voice: chunk records under one mailbox key. */
  maxVoiceChunks: 160,
};

export type UnsignedRecord = Omit<OverlayRecord, 'sig'>;

/** The ring key of a user's mailbox: apart from the name's key, so a lookup never carries mail. */
export function mailboxKey(user: string, overlay: string): string {
  return createHash('sha1').update(`mailbox:${user.toLowerCase()}@${overlay.toLowerCase()}`).digest('hex');
}

/** The slot of the message with this Call-ID in a mailbox. */
export function mailboxMessageSlot(callId: string): string {
  return 'm:' + createHash('sha1').update(callId).digest('hex');
}

/** The slot of chunk `index` of the voice message with this Call-ID: acknowledging the message drops its chunks. */
export function mailboxChunkSlot(callId: string, index: number): string {
  return `v:${mailboxMessageSlot(callId).slice(2)}:${index}`;
}

/** The message slot (`m:...`) a chunk slot belongs to, or undefined for any other slot. */
export function messageSlotOfChunk(slot: string): string | undefined {
  const match = /^v:([0-9a-f]{40}):\d{1,3}$/.exec(slot);
  return match ? `m:${match[1]}` : undefined;
}

/** The slot of a recipient's recorded greeting: one per recipient key. */
export function mailboxGreetingSlot(recipientKey: string): string {
  return 'g:' + recipientKey;
}

/** The slot of a recipient's acknowledgement: one per recipient key. */
export function mailboxAckSlot(recipientKey: string): string {
  return 'ack:' + recipientKey;
}

/**
 * One version of one record, in 16 hex digits (SHA-1 of its place, seq and signature): what a
 * primary lists to its replicas each round instead of the records themselves (op `sync`).
 */
export function recordDigest(record: OverlayRecord): string {
  return createHash('sha1').update(`${record.key} ${record.type} ${record.slot} ${record.seq} ${record.sig}`).digest('hex').slice(0, 16);
}

/** Serialized size, as the limits count it. */
export function recordBytes(record: OverlayRecord): number {
  return Buffer.byteLength(JSON.stringify(record));
}


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
  if (nestedDeeperThan(input, MAX_RECORD_DEPTH)) return 'nested too deep';
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
  if (r.type === 'binding' && v.tls !== undefined && !isTlsListener(v.tls)) return 'bad binding tls';
  if (r.type === 'name' && v.voicemail !== undefined && typeof v.voicemail !== 'boolean') return 'bad voicemail flag';
  if (r.type === 'name' && v.work !== undefined && !isNonce(v.work)) return 'bad name work';
  if (r.type === 'name' && v.x25519 !== undefined && (typeof v.x25519 !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(v.x25519))) return 'bad x25519 key';
  if (r.type === 'mailbox') return checkMailbox(r, v) ?? (input as OverlayRecord);
  if (r.type === 'service') {
    if (typeof v.contact !== 'string' || v.contact.length > 256 || typeof v.url !== 'string' || v.url.length > 256) return 'bad service address';
    if (typeof v.headroom !== 'number' || !Number.isFinite(v.headroom) || v.headroom < 0) return 'bad service headroom';
  }
  if (canonicalJson(v).length > 1024) return 'value too large';
  return input as OverlayRecord;
}

/** Records we write nest 3 levels (record, value, tls); see nestedDeeperThan. */
const MAX_RECORD_DEPTH = 8;

/**
 * JSON.parse takes a 12 KB body nested 6,000 deep; canonicalJson (and JSON.stringify) then
 * overflow the stack with a RangeError. Signed JSON from the network is refused by this before
 * canonicalJson sees it (found by fuzzing). Recursion here stops at `levels`.
 */
export function nestedDeeperThan(value: unknown, levels: number): boolean {
  if (!value || typeof value !== 'object') return false;
  if (levels === 0) return true;
  return Object.values(value).some((v) => nestedDeeperThan(v, levels - 1));
}

function isTlsListener(value: unknown): boolean {
  const t = value as { port?: unknown; certificate?: unknown } | null;
  return !!t && typeof t === 'object' && Number.isInteger(t.port) && (t.port as number) > 0 && (t.port as number) < 65536 && isCertificateFingerprint(t.certificate);
}

/** Identity of a stored record: one per (key, type, slot). */
export function recordSlotId(r: Pick<OverlayRecord, 'key' | 'type' | 'slot'>): string {
  return `${r.key}/${r.type}/${r.slot}`;
}

function checkMailbox(r: Record<string, unknown>, v: Record<string, unknown>): string | undefined {
  if (typeof v.to !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(v.to)) return 'bad mailbox recipient';
  const isMessage = typeof v.sealed === 'string';
  const isAck = Array.isArray(v.acked);
  const isChunk = typeof v.chunk === 'string';
  const isGreeting = typeof v.greeting === 'string';
  if (Number(isMessage) + Number(isAck) + Number(isChunk) + Number(isGreeting) !== 1) return 'a mailbox record is a message, a voice chunk, a greeting or an acknowledgement';
  if (isGreeting) {
    if (r.slot !== mailboxGreetingSlot(v.to) || r.owner !== v.to) return "a greeting is the recipient's own";
    if (!/^[A-Za-z0-9_-]*$/.test(v.greeting as string)) return 'bad greeting';
    if (recordBytes(r as unknown as OverlayRecord) > MAILBOX_LIMITS.maxRecordBytes) return 'greeting too large';
    return undefined;
  }
  if (isChunk) {
    if (!messageSlotOfChunk(r.slot as string)) return 'bad voice chunk slot';
    if (!/^[A-Za-z0-9_-]+$/.test(v.chunk as string)) return 'bad voice chunk';
    if (recordBytes(r as unknown as OverlayRecord) > MAILBOX_LIMITS.maxRecordBytes) return 'voice chunk too large';
    return undefined;
  }
  if (isMessage) {
    if (!/^m:[0-9a-f]{40}$/.test(r.slot as string)) return 'bad mailbox slot';
    if (!/^[A-Za-z0-9_-]+$/.test(v.sealed as string)) return 'bad sealed message';
    if (recordBytes(r as unknown as OverlayRecord) > MAILBOX_LIMITS.maxRecordBytes) return 'mailbox message too large';
    return undefined;
  }
  const acked = v.acked as unknown[];
  if (r.slot !== mailboxAckSlot(v.to) || r.owner !== v.to) return 'an acknowledgement is the recipient\'s own';
  if (acked.length > MAILBOX_LIMITS.maxAcked || !acked.every((s) => typeof s === 'string' && /^m:[0-9a-f]{40}$/.test(s))) return 'bad acknowledgement';
  return undefined;
}
