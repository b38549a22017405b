// STUN messages (RFC 8489) with the attributes of NAT behaviour discovery (RFC 5780 7), ICE
// (RFC 8445 16.1) and TURN (RFC 8656 18). Pure: parsing never throws, it says why bytes are not
// a STUN message. MESSAGE-INTEGRITY is computed in integrity.ts.
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { crc32 } from 'node:zlib';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;

/** RFC 8489 5: the class bits C1 C0, spread over the message type. */
export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASS_BITS: Record<StunClass, number> = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 };

export const BINDING = 0x001;
/** RFC 8656 17: the TURN methods. */
export const ALLOCATE = 0x003;
export const REFRESH = 0x004;
export const SEND = 0x006;
export const DATA = 0x007;
export const CREATE_PERMISSION = 0x008;
export const CHANNEL_BIND = 0x009;

export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
  /**
   * Peerdial's own, comprehension-optional (0xC000-0xFFFF, RFC 8489 18.3): in a partner
   * member's answer request, where the answer goes (the asker's observed source, XOR-encoded).
   */
  PEERDIAL_ANSWER_TO: 0xc0de,
  /** Peerdial's own: "be my partner" in a request, "I am yours" in the answer; the value is the sender's alternate port. */
  PEERDIAL_PARTNER: 0xc0df,
} as const;

export interface TransportAddress {
  address: string;
  port: number;
}

export interface StunAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  klass: StunClass;
  /** 12 octets. */
  transactionId: Buffer;
  attributes: StunAttribute[];
}

export type StunRejection =
  | 'too-short'
  | 'not-stun'
  | 'bad-length'
  | 'truncated-attribute'
  | 'bad-fingerprint'
  | 'attribute-after-fingerprint';

export type StunParseOutcome = { ok: true; message: StunMessage } | { ok: false; reason: StunRejection };

/**
 * RFC 7983 / RFC 8489 6: the first two bits of a STUN message are zero and its second word is
 * the magic cookie, while SIP starts with a letter and RTP with version bits 10. Enough to route
 * a datagram arriving on the SIP socket before parsing it.
 */
export function looksLikeStun(bytes: Buffer): boolean {
  return bytes.length >= HEADER_BYTES && bytes[0] < 2 && bytes.readUInt32BE(4) === MAGIC_COOKIE;
}

/** On a stream: the whole message's length once its header is in, else undefined. */
export function stunLengthOnStream(buffer: Buffer): number | undefined {
  if (buffer.length < 4) return undefined;
  return HEADER_BYTES + buffer.readUInt16BE(2);
}

export function parseStun(bytes: Buffer): StunParseOutcome {
  if (bytes.length < HEADER_BYTES) return { ok: false, reason: 'too-short' };
  if (!looksLikeStun(bytes)) return { ok: false, reason: 'not-stun' };
  const type = bytes.readUInt16BE(0);
  const length = bytes.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER_BYTES + length !== bytes.length) return { ok: false, reason: 'bad-length' };
  const attributes: StunAttribute[] = [];
  let offset = HEADER_BYTES;
  let fingerprintSeen = false;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) return { ok: false, reason: 'truncated-attribute' };
    const attrType = bytes.readUInt16BE(offset);
    const attrLength = bytes.readUInt16BE(offset + 2);
    const end = offset + 4 + attrLength;
    if (end > bytes.length) return { ok: false, reason: 'truncated-attribute' };
    if (fingerprintSeen) return { ok: false, reason: 'attribute-after-fingerprint' };
    if (attrType === ATTR.FINGERPRINT) {
      // RFC 8489 14.7: CRC-32 of the message up to this attribute, XORed with 0x5354554e.
      if (attrLength !== 4) return { ok: false, reason: 'bad-fingerprint' };
      const expected = (crc32(bytes.subarray(0, offset)) ^ 0x5354554e) >>> 0;
      if (bytes.readUInt32BE(offset + 4) !== expected) return { ok: false, reason: 'bad-fingerprint' };
      fingerprintSeen = true;
    }
    attributes.push({ type: attrType, value: Buffer.from(bytes.subarray(offset + 4, end)) });
    offset = end + ((4 - (attrLength % 4)) % 4);
  }
  if (offset !== bytes.length) return { ok: false, reason: 'truncated-attribute' };
  return {
    ok: true,
    message: { method: methodOf(type), klass: classOf(type), transactionId: Buffer.from(bytes.subarray(8, 20)), attributes },
  };
}

/**
 * Serialises a message. With `integrityKey`, MESSAGE-INTEGRITY (RFC 8489 14.5: HMAC-SHA1 over the
 * message up to it, the length already counting it) goes after the attributes; FINGERPRINT
 * (14.7) is appended when asked, always last.
 */
export function serializeStun(message: StunMessage, options: { fingerprint?: boolean; integrityKey?: Buffer } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const a of message.attributes) parts.push(encodeAttribute(a));
  let body = Buffer.concat(parts);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(typeOf(message.method, message.klass), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(header, 8, 0, 12);
  if (options.integrityKey) {
    header.writeUInt16BE(body.length + 24, 2);
    const hmac = createHmac('sha1', options.integrityKey).update(header).update(body).digest();
    body = Buffer.concat([body, encodeAttribute({ type: ATTR.MESSAGE_INTEGRITY, value: hmac })]);
  }
  if (options.fingerprint) {
    header.writeUInt16BE(body.length + 8, 2);
    const crc = (crc32(Buffer.concat([header, body])) ^ 0x5354554e) >>> 0;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc);
    body = Buffer.concat([body, encodeAttribute({ type: ATTR.FINGERPRINT, value })]);
  }
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

function encodeAttribute(a: StunAttribute): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(a.type, 0);
  head.writeUInt16BE(a.value.length, 2);
  const pad = Buffer.alloc((4 - (a.value.length % 4)) % 4);
  return Buffer.concat([head, a.value, pad]);
}

function typeOf(method: number, klass: StunClass): number {
  // RFC 8489 5: M11..M7 C1 M6..M4 C0 M3..M0
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[klass];
}
function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}
function classOf(type: number): StunClass {
  const bits = type & 0x0110;
  return bits === 0x0000 ? 'request' : bits === 0x0010 ? 'indication' : bits === 0x0100 ? 'success' : 'error';
}

export function attribute(message: StunMessage, type: number): Buffer | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

/** RFC 8489 14.1 (MAPPED-ADDRESS and the RFC 5780 addresses share its form). */
export function encodeAddress(a: TransportAddress): Buffer {
  const v6 = isIPv6(a.address);
  if (!v6 && !isIPv4(a.address)) throw new Error(`not an IP address: ${a.address}`);
  const raw = v6 ? ipv6Bytes(a.address) : Buffer.from(a.address.split('.').map(Number));
  const value = Buffer.alloc(4 + raw.length);
  value[1] = v6 ? 0x02 : 0x01;
  value.writeUInt16BE(a.port, 2);
  raw.copy(value, 4);
  return value;
}

export function decodeAddress(value: Buffer): TransportAddress | undefined {
  if (value.length < 4) return undefined;
  const family = value[1];
  const port = value.readUInt16BE(2);
  if (family === 0x01 && value.length === 8) return { address: [...value.subarray(4, 8)].join('.'), port };
  if (family === 0x02 && value.length === 20) return { address: ipv6Text(value.subarray(4, 20)), port };
  return undefined;
}

/** RFC 8489 14.2: the port XORed with the cookie's top half, the address with cookie (+ transaction ID). */
export function encodeXorAddress(a: TransportAddress, transactionId: Buffer): Buffer {
  return xorAddress(encodeAddress(a), transactionId);
}
export function decodeXorAddress(value: Buffer, transactionId: Buffer): TransportAddress | undefined {
  if (value.length < 4) return undefined;
  return decodeAddress(xorAddress(value, transactionId));
}
function xorAddress(value: Buffer, transactionId: Buffer): Buffer {
  const out = Buffer.from(value);
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4, 0, 12);
  out[2] ^= mask[0];
  out[3] ^= mask[1];
  for (let i = 4; i < out.length; i++) out[i] ^= mask[i - 4];
  return out;
}

/** RFC 5780 7.2: bit 0x4 asks for another address, 0x2 for another port. */
export interface ChangeRequest {
  changeIp: boolean;
  changePort: boolean;
}
export function encodeChangeRequest(c: ChangeRequest): Buffer {
  const value = Buffer.alloc(4);
  value.writeUInt32BE((c.changeIp ? 4 : 0) | (c.changePort ? 2 : 0));
  return value;
}
export function decodeChangeRequest(value: Buffer): ChangeRequest | undefined {
  if (value.length !== 4) return undefined;
  const bits = value.readUInt32BE(0);
  return { changeIp: (bits & 4) !== 0, changePort: (bits & 2) !== 0 };
}

/** RFC 8489 14.8: class in the hundreds digit, number in the rest, then a reason phrase. */
export function encodeErrorCode(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const value = Buffer.alloc(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  text.copy(value, 4);
  return value;
}
export function decodeErrorCode(value: Buffer): { code: number; reason: string } | undefined {
  if (value.length < 4) return undefined;
  return { code: (value[2] & 0x7) * 100 + value[3], reason: value.subarray(4).toString('utf8') };
}

/** RFC 8489 15: attribute types below 0x8000 must be understood; an unknown one gets a 420. */
export function unknownRequiredAttributes(message: StunMessage, known: readonly number[]): number[] {
  return message.attributes.filter((a) => a.type < 0x8000 && !known.includes(a.type)).map((a) => a.type);
}

function ipv6Bytes(text: string): Buffer {
  const groups = (s: string) => (s ? s.split(':') : []).flatMap((g) => {
    if (!g.includes('.')) return [parseInt(g, 16)];
    const [a, b, c, d] = g.split('.').map(Number); // an IPv4 tail (::ffff:192.0.2.1)
    return [(a << 8) | b, (c << 8) | d];
  });
  const [head, tail] = text.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}
function ipv6Text(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  // The compressed form node:net and the OS print (longest run of zero words as ::).
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return words.join(':');
  return `${words.slice(0, best.at).join(':')}::${words.slice(best.at + best.len).join(':')}`;
}
