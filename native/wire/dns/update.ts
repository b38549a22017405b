// DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945): what `peerdial origin --dns-update` sends
// to add rescue servers' addresses to the site's name and to take them out again. Pure: time is
// an argument, bytes in and out.
//
// Hand-written rather than with dns-packet (already in the tree through multicast-dns): an
// UPDATE needs class NONE (254) to delete one record, which dns-packet 5.6 does not know (its
// toClass('NONE') gives 0 without a word), records with empty RDATA, and TSIG's MAC over the
// exact bytes sent with its own "variables" layout (RFC 8945 4.3.3), which no DNS library on
// npm covers. Only this small subset is needed: A/AAAA records, one zone, no compression.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const DNS_OPCODE_UPDATE = 5;
const TYPE_SOA = 6;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_TSIG = 250;
const CLASS_IN = 1;
const CLASS_NONE = 254;
const CLASS_ANY = 255;
/** RFC 8945 5.2.3: how far the two clocks may differ; 300 s is what the RFC recommends. */
export const TSIG_FUDGE_SECONDS = 300;

/**
 * TSIG algorithms (RFC 8945 6) and node:crypto's names for them. hmac-md5 is left out: no one
 * should start using it. A Map, so that a name such as "constructor" finds nothing.
 */
export const TSIG_ALGORITHMS: ReadonlyMap<string, string> = new Map([
  ['hmac-sha1', 'sha1'],
  ['hmac-sha224', 'sha224'],
  ['hmac-sha256', 'sha256'],
  ['hmac-sha384', 'sha384'],
  ['hmac-sha512', 'sha512'],
]);
const KNOWN_TSIG = [...TSIG_ALGORITHMS.keys()].join(', ');

export interface TsigKey {
  /** The key's name, as both sides know it (e.g. `peerdial-origin.`). */
  name: string;
  /** One of TSIG_ALGORITHMS' names, e.g. `hmac-sha256`. */
  algorithm: string;
  secret: Buffer;
}

/** One address record to add to or delete from `name` (a fully qualified name, trailing dot optional). */
export interface AddressChange {
  name: string;
  address: string;
  ttl: number;
}

export interface UpdateRequest {
  id: number;
  zone: string;
  add: AddressChange[];
  /** Deleted one by one (class NONE, RFC 2136 2.5.4): records of the name this origin did not add stay. */
  remove: AddressChange[];
}

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

/** A name in wire form, lower-cased and never compressed (RFC 8945 4.3.3 wants the canonical form). */
export function encodeName(name: string): Buffer {
  const trimmed = name.replace(/\.$/, '').toLowerCase();
  if (trimmed === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of trimmed.split('.')) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`"${name}" is not a DNS name: each label has 1 to 63 characters`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new RangeError(`"${name}" is longer than a DNS name may be`);
  return out;
}

/** True for a host name of letters, digits and hyphens (RFC 1123 2.1), dot-separated. */
export function isHostName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** True when `name` is `zone` or below it. */
export function inZone(name: string, zone: string): boolean {
  const n = name.replace(/\.$/, '').toLowerCase();
  const z = zone.replace(/\.$/, '').toLowerCase();
  return z === '' || n === z || n.endsWith('.' + z);
}

function rr(name: string, type: number, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

function addressRdata(address: string): { type: number; rdata: Buffer } {
  const family = isIP(address);
  if (family === 4) return { type: TYPE_A, rdata: Buffer.from(address.split('.').map(Number)) };
  if (family === 6) return { type: TYPE_AAAA, rdata: ipv6Bytes(address.split('%')[0]) };
  throw new RangeError(`"${address}" is not an IP address`);
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  // An IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) text = `${text.slice(0, v4.index)}${((+v4[1] << 8) | +v4[2]).toString(16)}:${((+v4[3] << 8) | +v4[4]).toString(16)}`;
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function header(id: number, counts: [number, number, number, number], flags = DNS_OPCODE_UPDATE << 11): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id & 0xffff, 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return h;
}

/** The unsigned UPDATE: zone section (the zone's SOA), no prerequisites, the update section. */
export function encodeUpdate(request: UpdateRequest): Buffer {
  const updates: Buffer[] = [];
  for (const change of request.remove) {
    const { type, rdata } = addressRdata(change.address);
    // RFC 2136 2.5.4: "Delete An RR From An RRset": class NONE, TTL 0, the RR's own RDATA.
    updates.push(rr(change.name, type, CLASS_NONE, 0, rdata));
  }
  for (const change of request.add) {
    const { type, rdata } = addressRdata(change.address);
    // RFC 2136 2.5.1: "Add To An RRset": class IN with TTL and RDATA.
    updates.push(rr(change.name, type, CLASS_IN, change.ttl, rdata));
  }
  const zone = Buffer.concat([encodeName(request.zone), Buffer.from([0, TYPE_SOA, 0, CLASS_IN])]);
  return Buffer.concat([header(request.id, [1, 0, updates.length, 0]), zone, ...updates]);
}

/** RFC 8945 4.3.3: the TSIG variables the MAC covers (after the message, or after the request MAC and the message for a response). */
function tsigVariables(key: TsigKey, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(CLASS_ANY, 0);
  fixed.writeUInt32BE(0, 2);
  const time = Buffer.alloc(10);
  time.writeUIntBE(timeSigned, 0, 6);
  time.writeUInt16BE(fudge, 6);
  time.writeUInt16BE(error, 8);
  const otherLen = Buffer.alloc(2);
  otherLen.writeUInt16BE(other.length, 0);
  return Buffer.concat([encodeName(key.name), fixed, encodeName(key.algorithm), time, otherLen, other]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const digest = TSIG_ALGORITHMS.get(key.algorithm.replace(/\.$/, '').toLowerCase());
  if (!digest) throw new RangeError(`unknown TSIG algorithm "${key.algorithm}" (known: ${KNOWN_TSIG})`);
  const h = createHmac(digest, key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Appends a TSIG record to `message` (RFC 8945 4.2): returns the signed message and the MAC, which the response's MAC covers. */
export function signTsig(message: Buffer, key: TsigKey, nowSeconds: number): { message: Buffer; mac: Buffer } {
  const mac = hmac(key, message, tsigVariables(key, nowSeconds, TSIG_FUDGE_SECONDS, 0, Buffer.alloc(0)));
  const rdata = Buffer.alloc(10 + 2 + mac.length + 6);
  rdata.writeUIntBE(nowSeconds, 0, 6);
  rdata.writeUInt16BE(TSIG_FUDGE_SECONDS, 6);
  rdata.writeUInt16BE(mac.length, 8);
  mac.copy(rdata, 10);
  let o = 10 + mac.length;
  rdata.writeUInt16BE(message.readUInt16BE(0), o); // Original ID
  rdata.writeUInt16BE(0, o + 2); // Error
  rdata.writeUInt16BE(0, o + 4); // Other Len
  o += 6;
  const record = rr(key.name, TYPE_TSIG, CLASS_ANY, 0, Buffer.concat([encodeName(key.algorithm), rdata.subarray(0, o)]));
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

export interface UpdateResponse {
  id: number;
  rcode: number;
  /** The TSIG error the server put in its TSIG record (BADSIG, BADKEY, BADTIME), 0 for none. */
  tsigError: number;
  /** Whether the response carried a TSIG whose MAC verified with our key and request MAC. */
  signed: 'verified' | 'unsigned' | 'bad';
  /** The server's clock, from its TSIG (for a BADTIME answer). */
  serverTime?: number;
}

export type ParsedUpdateResponse = { ok: true; response: UpdateResponse } | { ok: false; reason: string };

/** Skips a (possibly compressed) name; returns the offset after it. */
function skipName(buf: Buffer, offset: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (offset >= buf.length) throw new RangeError('name runs past the end');
    const len = buf[offset];
    if (len === 0) return offset + 1;
    if ((len & 0xc0) === 0xc0) return offset + 2;
    if (len & 0xc0) throw new RangeError('bad label type');
    offset += 1 + len;
  }
  throw new RangeError('name too long');
}

function readName(buf: Buffer, offset: number): string {
  const labels: string[] = [];
  for (let guard = 0; guard < 128; guard++) {
    const len = buf[offset];
    if (len === undefined) throw new RangeError('name runs past the end');
    if (len === 0) return labels.join('.');
    if ((len & 0xc0) === 0xc0) {
      offset = ((len & 0x3f) << 8) | buf[offset + 1];
      continue;
    }
    labels.push(buf.toString('ascii', offset + 1, offset + 1 + len).toLowerCase());
    offset += 1 + len;
  }
  throw new RangeError('name loops');
}

/**
 * Reads the server's answer to an UPDATE: its RCODE and, when it signed it, the TSIG error and
 * whether the MAC verifies (RFC 8945 5.3: over the request's MAC, the response without its TSIG
 * and with its original ID, and the TSIG variables). Junk gives a reason, never a throw.
 */
export function parseUpdateResponse(buf: Buffer, key: TsigKey, requestMac: Buffer): ParsedUpdateResponse {
  try {
    if (buf.length < 12) return { ok: false, reason: 'shorter than a DNS header' };
    const id = buf.readUInt16BE(0);
    const flags = buf.readUInt16BE(2);
    if (!(flags & 0x8000)) return { ok: false, reason: 'not a response' };
    if (((flags >> 11) & 0xf) !== DNS_OPCODE_UPDATE) return { ok: false, reason: 'not an answer to an UPDATE' };
    if (flags & 0x0200) return { ok: false, reason: 'truncated (TC): the server wants TCP' };
    const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
    let o = 12;
    for (let i = 0; i < counts[0]; i++) o = skipName(buf, o) + 4;
    for (let i = 0; i < counts[1] + counts[2]; i++) {
      o = skipName(buf, o);
      o += 10 + buf.readUInt16BE(o + 8);
    }
    let tsigError = 0;
    let signed: UpdateResponse['signed'] = 'unsigned';
    let serverTime: number | undefined;
    for (let i = 0; i < counts[3]; i++) {
      const start = o;
      const nameStart = o;
      o = skipName(buf, o);
      const type = buf.readUInt16BE(o);
      const rdlength = buf.readUInt16BE(o + 8);
      const rdStart = o + 10;
      o = rdStart + rdlength;
      if (o > buf.length) return { ok: false, reason: 'a record runs past the end' };
      if (type !== TYPE_TSIG) continue;
      if (i !== counts[3] - 1) return { ok: false, reason: 'TSIG is not the last record' };
      let r = skipName(buf, rdStart);
      const algorithm = readName(buf, rdStart);
      const timeSigned = buf.readUIntBE(r, 6);
      const fudge = buf.readUInt16BE(r + 6);
      const macSize = buf.readUInt16BE(r + 8);
      const mac = buf.subarray(r + 10, r + 10 + macSize);
      r += 10 + macSize;
      const originalId = buf.readUInt16BE(r);
      tsigError = buf.readUInt16BE(r + 2);
      const otherLen = buf.readUInt16BE(r + 4);
      const other = buf.subarray(r + 6, r + 6 + otherLen);
      serverTime = timeSigned;
      if (readName(buf, nameStart) !== key.name.replace(/\.$/, '').toLowerCase() || macSize === 0) {
        signed = 'unsigned';
        break;
      }
      const unsignedMessage = Buffer.from(buf.subarray(0, start));
      unsignedMessage.writeUInt16BE(originalId, 0);
      unsignedMessage.writeUInt16BE(counts[3] - 1, 10);
      const macLen = Buffer.alloc(2);
      macLen.writeUInt16BE(requestMac.length, 0);
      const expected = hmac({ ...key, algorithm }, macLen, requestMac, unsignedMessage, tsigVariables({ ...key, algorithm }, timeSigned, fudge, tsigError, other));
      signed = expected.length === mac.length && timingSafeEqual(expected, mac) ? 'verified' : 'bad';
    }
    return { ok: true, response: { id, rcode: flags & 0xf, tsigError, signed, ...(serverTime !== undefined ? { serverTime } : {}) } };
  } catch (error) {
    return { ok: false, reason: `malformed: ${(error as Error).message}` };
  }
}

/** What a failed UPDATE answer means, in a sentence the site owner can act on; undefined for success. */
export function explainUpdateFailure(response: UpdateResponse, key: TsigKey, zone: string, nowSeconds: number): string | undefined {
  const keyName = key.name.replace(/\.$/, '');
  switch (response.tsigError) {
    case 16:
      return `the server says the TSIG signature is wrong (BADSIG): the secret of key "${keyName}" differs from the server's`;
    case 17:
      // knot answers so for a key it knows that the zone's ACL does not allow, too.
      return `the server does not accept TSIG key "${keyName}" (${key.algorithm}) for zone ${zone} (BADKEY): it knows no key of that name and algorithm, or that key may not update this zone`;
    case 18:
      return `the server's clock and this machine's differ by more than ${TSIG_FUDGE_SECONDS} s (BADTIME${response.serverTime !== undefined ? `, server ${response.serverTime - nowSeconds > 0 ? '+' : ''}${response.serverTime - nowSeconds} s` : ''})`;
  }
  if (response.rcode === 0) return response.signed === 'bad' ? 'the answer\'s TSIG signature does not verify: something between us and the server altered it' : undefined;
  const name = RCODE_NAMES[response.rcode] ?? `RCODE ${response.rcode}`;
  switch (response.rcode) {
    case 5:
      return `the server refused the update (REFUSED): key "${keyName}" may not update zone ${zone} (check its ACL or update-policy)`;
    case 9:
      return `the server is not authoritative for zone ${zone}, or did not accept key "${keyName}" (NOTAUTH)`;
    case 10:
      return `the name is not in zone ${zone} (NOTZONE)`;
    case 4:
      return `the server does not take dynamic updates (NOTIMP)`;
    case 2:
      return `the server failed to apply the update (SERVFAIL)`;
    default:
      return `the server answered ${name}`;
  }
}

/** `NAME:ALGORITHM:BASE64-SECRET`. */
export function parseTsigKey(text: string): TsigKey {
  const parts = text.trim().split(':');
  if (parts.length !== 3) throw new RangeError('a TSIG key is NAME:ALGORITHM:SECRET, e.g. peerdial-origin:hmac-sha256:c2VjcmV0...');
  const [first, second, secret] = parts;
  // nsupdate -y writes [ALGORITHM:]NAME:SECRET: either order of the first two is read.
  const swapped = TSIG_ALGORITHMS.has(first.toLowerCase()) && !TSIG_ALGORITHMS.has(second.toLowerCase());
  return swapped ? checkKey(second, first, secret) : checkKey(first, second, secret);
}

/**
 * A key file as BIND's tsig-keygen and knot's keymgr write it:
 * `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` (knot's YAML `id:`/`algorithm:`/`secret:` too).
 */
export function parseTsigKeyFile(text: string): TsigKey {
  const bind = /key\s+"?([^"\s{]+)"?\s*\{([^}]*)\}/i.exec(text);
  if (bind) {
    const algorithm = /algorithm\s+"?([^";\s]+)"?\s*;/i.exec(bind[2])?.[1];
    const secret = /secret\s+"([^"]+)"\s*;/i.exec(bind[2])?.[1];
    if (!algorithm || !secret) throw new RangeError('the key file\'s key { } block needs an algorithm and a secret');
    return checkKey(bind[1], algorithm, secret);
  }
  const id = /^\s*-?\s*id:\s*(\S+)/m.exec(text)?.[1];
  const algorithm = /^\s*algorithm:\s*(\S+)/m.exec(text)?.[1];
  const secret = /^\s*secret:\s*(\S+)/m.exec(text)?.[1];
  if (id && algorithm && secret) return checkKey(id, algorithm, secret);
  const line = text.trim();
  if (line && !line.includes('\n')) return parseTsigKey(line);
  throw new RangeError('not a TSIG key file: expected key "NAME" { algorithm ...; secret "..."; }; (tsig-keygen), knot\'s id/algorithm/secret, or NAME:ALGORITHM:SECRET');
}

function checkKey(name: string, algorithm: string, secret: string): TsigKey {
  if (!isHostName(name.replace(/\.$/, '').replace(/_/g, 'a'))) throw new RangeError(`"${name}" is not a TSIG key name (a DNS name, e.g. peerdial-origin)`);
  const alg = algorithm.replace(/\.$/, '').toLowerCase();
  if (!TSIG_ALGORITHMS.has(alg)) throw new RangeError(`unknown TSIG algorithm "${algorithm}" (use one of ${KNOWN_TSIG})`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw new RangeError('the TSIG secret must be base64, as tsig-keygen or keymgr prints it');
  const bytes = Buffer.from(secret, 'base64');
  if (bytes.length < 16) throw new RangeError(`the TSIG secret is ${bytes.length} bytes: use at least 16 (tsig-keygen makes 32)`);
  return { name: name.toLowerCase(), algorithm: alg, secret: bytes };
}
