// SRTP and SRTCP (RFC 3711) on node:crypto, with two transforms: AES_CM_128_HMAC_SHA1_80 (RFC
// 3711) and AEAD_AES_128_GCM (RFC 7714). Pure: bytes in, bytes out, with the per-SSRC state the
// RFC asks for (rollover counter, highest index, replay list), which both suites share.
//
// Why by hand: werift-rtp 0.8.9, the one maintained TypeScript SRTP, accepts a replayed packet
// (no replay list, 3.3.2), guesses the rollover counter by a heuristic rather than 3.3.1, and
// pulls a 12 MB media library with it (measurements in the team's notes for issue 14).
import { HmacSha1 } from '../crypto/hmac-sha1.js';
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';

export const SRTP_MASTER_KEY_BYTES = 16;
/** The AES_CM_128_HMAC_SHA1_80 master salt (RFC 3711 8.2); SRTP_SUITES has every suite's. */
export const SRTP_MASTER_SALT_BYTES = 14;
/** HMAC-SHA1 cut to 80 bits (RFC 3711 5.2). */
export const SRTP_AUTH_TAG_BYTES = 10;
/** The replay list's size (3.3.2: at least 64). */
export const SRTP_REPLAY_WINDOW = 64;

/** The suites a sender or receiver can be built for, by their RFC 4568 / RFC 7714 names. */
export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AEAD_AES_128_GCM';

export interface SrtpSuiteSizes {
  masterKeyBytes: number;
  masterSaltBytes: number;
  /** What the suite appends to each packet: the HMAC tag, or GCM's own. */
  tagBytes: number;
}

/** RFC 7714 12: AEAD_AES_128_GCM has a 96-bit master (and session) salt and a 16-octet tag. */
const GCM_TAG_BYTES = 16;
const GCM_SALT_BYTES = 12;

export const SRTP_SUITES: Readonly<Record<SrtpSuite, Readonly<SrtpSuiteSizes>>> = {
  AES_CM_128_HMAC_SHA1_80: { masterKeyBytes: SRTP_MASTER_KEY_BYTES, masterSaltBytes: SRTP_MASTER_SALT_BYTES, tagBytes: SRTP_AUTH_TAG_BYTES },
  AEAD_AES_128_GCM: { masterKeyBytes: SRTP_MASTER_KEY_BYTES, masterSaltBytes: GCM_SALT_BYTES, tagBytes: GCM_TAG_BYTES },
};
/** What a sender or receiver uses when its caller names no suite. */
export const DEFAULT_SRTP_SUITE: SrtpSuite = 'AES_CM_128_HMAC_SHA1_80';

export function isSrtpSuite(name: string): name is SrtpSuite {
  return Object.hasOwn(SRTP_SUITES, name);
}

/** The session keys derived from a master key and salt (4.3), for RTP or for RTCP. */
export interface SrtpSessionKeys {
  encryption: Buffer;
  /** Empty for AEAD_AES_128_GCM: its tag needs no key of its own. */
  auth: Buffer;
  salt: Buffer;
}

/**
 * AES-CM (4.1.1) as a keystream from one long-lived AES-128-ECB cipher: the counter blocks of a
 * packet go through it and the result is XORed in. A cipher object per packet (aes-128-ctr with
 * the packet's IV) made enough garbage at a few hundred calls to delay the media clock's ticks.
 */
class CounterMode {
  private readonly ecb;
  private counters = Buffer.alloc(16 * 16);

  constructor(key: Buffer) {
    this.ecb = createCipheriv('aes-128-ecb', key, null);
    this.ecb.setAutoPadding(false);
  }

  /** XORs the keystream for `iv` over `input` into `output` at `at`. */
  apply(iv: Buffer, input: Buffer, output: Buffer, at: number): void {
    const blocks = Math.ceil(input.length / 16);
    if (this.counters.length < blocks * 16) this.counters = Buffer.alloc(blocks * 16);
    for (let b = 0; b < blocks; b++) {
      iv.copy(this.counters, b * 16);
      // The block counter lives in the IV's last 16 bits (zero in the IV itself).
      this.counters.writeUInt16BE(b, b * 16 + 14);
    }
    const keystream = this.ecb.update(this.counters.subarray(0, blocks * 16));
    for (let i = 0; i < input.length; i++) output[at + i] = input[i] ^ keystream[i];
  }
}

/**
 * RFC 3711 4.3.1 with a key derivation rate of 0: x = label || 0 (48 bits) XOR master salt,
 * and the key is AES-CM of zeros under the master key with IV x * 2^16. A 12-byte GCM salt
 * fills the first 12 of x's 14 bytes, the rest zero (RFC 7714 11, as libsrtp pads it).
 */
function derive(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] ^= label;
  return createCipheriv('aes-128-ctr', masterKey, iv).update(Buffer.alloc(length));
}

export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer, of: 'rtp' | 'rtcp', suite: SrtpSuite = DEFAULT_SRTP_SUITE): SrtpSessionKeys {
  const sizes = SRTP_SUITES[suite];
  if (masterKey.length !== sizes.masterKeyBytes) throw new RangeError(`an SRTP master key is ${sizes.masterKeyBytes} bytes`);
  if (masterSalt.length !== sizes.masterSaltBytes) throw new RangeError(`an ${suite} master salt is ${sizes.masterSaltBytes} bytes`);
  const base = of === 'rtp' ? 0 : 3;
  const auth = suite === 'AEAD_AES_128_GCM' ? Buffer.alloc(0) : derive(masterKey, masterSalt, base + 1, 20);
  return { encryption: derive(masterKey, masterSalt, base, 16), auth, salt: derive(masterKey, masterSalt, base + 2, sizes.masterSaltBytes) };
}

/** The RTP header's length (fixed part, CSRCs, extension), or undefined when it does not fit. */
function headerLength(packet: Buffer): number | undefined {
  if (packet.length < 12 || packet[0] >> 6 !== 2) return undefined;
  let length = 12 + 4 * (packet[0] & 0x0f);
  if (packet[0] & 0x10) {
    if (packet.length < length + 4) return undefined;
    length += 4 + 4 * packet.readUInt16BE(length + 2);
  }
  return length <= packet.length ? length : undefined;
}

/** The session salt XOR the SSRC at `ssrcAt` and the 48-bit index in the 6 bytes after it. */
function saltedIv(size: number, salt: Buffer, ssrcAt: number, ssrc: number, index: number, into?: Buffer): Buffer {
  const iv = into ?? Buffer.alloc(size);
  iv.fill(0);
  iv.writeUInt32BE(ssrc >>> 0, ssrcAt);
  iv.writeUIntBE(index, ssrcAt + 4, 6);
  for (let i = 0; i < salt.length; i++) iv[i] ^= salt[i];
  return iv;
}

/** 4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16). */
export function counterIv(salt: Buffer, ssrc: number, index: number): Buffer {
  return saltedIv(16, salt, 4, ssrc, index);
}

/**
 * RFC 7714 8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt, 12 bytes; ROC || SEQ is the 48-bit
 * packet index. 9.1: for SRTCP, (0x0000 || SSRC || 0x0000 || 0 || SRTCP index) XOR salt, which is
 * the same with the 31-bit SRTCP index as the index.
 */
export function gcmIv(salt: Buffer, ssrc: number, index: number): Buffer {
  return saltedIv(12, salt, 2, ssrc, index);
}

/**
 * AES-GCM (RFC 7714 7) under a fresh cipher per packet: node:crypto takes a GCM IV only when the
 * cipher is made. Writes the ciphertext of `plain` into `out` at `at`, its 16-byte tag right after.
 */
function seal(key: Buffer, iv: Buffer, aad: Buffer, plain: Buffer, out: Buffer, at: number): void {
  const gcm = createCipheriv('aes-128-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  gcm.setAAD(aad);
  const sealed = gcm.update(plain);
  sealed.copy(out, at);
  gcm.final();
  gcm.getAuthTag().copy(out, at + sealed.length);
}

/** Checks `tag` over `aad` and `sealed`; only then writes the plaintext into `out` at `at`. */
function open(key: Buffer, iv: Buffer, aad: Buffer, sealed: Buffer, tag: Buffer, out: Buffer, at: number): boolean {
  const gcm = createDecipheriv('aes-128-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  gcm.setAAD(aad);
  gcm.setAuthTag(tag);
  const plain = gcm.update(sealed);
  try {
    gcm.final();
  } catch {
    return false;
  }
  plain.copy(out, at);
  return true;
}

/** One suite's work on one RTP packet; SrtpSender and SrtpReceiver keep the per-SSRC state around it. */
export interface SrtpTransform {
  readonly tagBytes: number;
  /** The SRTP packet: the `header` bytes in the clear, the payload encrypted, the tag appended. */
  protect(rtp: Buffer, header: number, ssrc: number, index: number): Buffer;
  /** Checks `tag` over `body` (the packet without it) and decrypts the payload in place; false, and `body` untouched, when it does not match. */
  unprotect(body: Buffer, tag: Buffer, header: number, ssrc: number, index: number): boolean;
}

/** RFC 3711 4.1.1 and 4.2.1: AES-CM, then HMAC-SHA1 over the packet and the ROC (80 bits of it). */
class CounterModeHmacRtp implements SrtpTransform {
  readonly tagBytes = SRTP_AUTH_TAG_BYTES;
  private readonly cm: CounterMode;
  private readonly hmac: HmacSha1;
  /** Scratch for each packet's IV, ROC and tag: used and done with before protect or unprotect returns. */
  private readonly iv = Buffer.alloc(16);
  private readonly roc = Buffer.alloc(4);
  private readonly tag = Buffer.alloc(20);

  constructor(private readonly keys: SrtpSessionKeys) {
    this.cm = new CounterMode(keys.encryption);
    this.hmac = new HmacSha1(keys.auth);
  }

  protect(rtp: Buffer, header: number, ssrc: number, index: number): Buffer {
    const out = Buffer.allocUnsafe(rtp.length + this.tagBytes);
    rtp.copy(out, 0, 0, header);
    this.cm.apply(saltedIv(16, this.keys.salt, 4, ssrc, index, this.iv), rtp.subarray(header), out, header);
    this.roc.writeUInt32BE(rocOf(index) >>> 0);
    this.hmac.digestInto(out.subarray(0, rtp.length), this.roc, out, rtp.length, this.tagBytes);
    return out;
  }

  unprotect(body: Buffer, tag: Buffer, header: number, ssrc: number, index: number): boolean {
    this.roc.writeUInt32BE(rocOf(index) >>> 0);
    if (tag.length !== this.tagBytes || !this.hmac.verifies(body, this.roc, tag, this.tag)) return false;
    this.cm.apply(saltedIv(16, this.keys.salt, 4, ssrc, index, this.iv), body.subarray(header), body, header);
    return true;
  }
}

/** RFC 7714 8.2: the RTP header (CSRCs and extension with it) is the AAD, the payload the plaintext. */
class GaloisCounterModeRtp implements SrtpTransform {
  readonly tagBytes = GCM_TAG_BYTES;

  constructor(private readonly keys: SrtpSessionKeys) {}

  protect(rtp: Buffer, header: number, ssrc: number, index: number): Buffer {
    const out = Buffer.allocUnsafe(rtp.length + this.tagBytes);
    rtp.copy(out, 0, 0, header);
    seal(this.keys.encryption, gcmIv(this.keys.salt, ssrc, index), rtp.subarray(0, header), rtp.subarray(header), out, header);
    return out;
  }

  unprotect(body: Buffer, tag: Buffer, header: number, ssrc: number, index: number): boolean {
    return open(this.keys.encryption, gcmIv(this.keys.salt, ssrc, index), body.subarray(0, header), body.subarray(header), tag, body, header);
  }
}

/** The RTP transform of `suite` on session keys already derived (RFC 7714 16 states its vectors so). */
export function srtpTransform(suite: SrtpSuite, keys: SrtpSessionKeys): SrtpTransform {
  return suite === 'AEAD_AES_128_GCM' ? new GaloisCounterModeRtp(keys) : new CounterModeHmacRtp(keys);
}

function rocOf(index: number): number {
  return Math.floor(index / 0x10000);
}

/** Protects the RTP packets one side sends: each SSRC's rollover counter follows its sequence numbers. */
export class SrtpSender {
  private readonly transform: SrtpTransform;
  private readonly streams = new Map<number, { roc: number; last: number }>();

  constructor(masterKey: Buffer, masterSalt: Buffer, readonly suite: SrtpSuite = DEFAULT_SRTP_SUITE) {
    this.transform = srtpTransform(suite, deriveSessionKeys(masterKey, masterSalt, 'rtp', suite));
  }

  /** The SRTP packet for an RTP packet; throws on bytes that are not RTP (our own sender made them). */
  protect(rtp: Buffer): Buffer {
    const header = headerLength(rtp);
    if (header === undefined) throw new RangeError('not an RTP packet');
    const ssrc = rtp.readUInt32BE(8);
    const seq = rtp.readUInt16BE(2);
    let stream = this.streams.get(ssrc);
    if (!stream) this.streams.set(ssrc, (stream = { roc: 0, last: seq }));
    // The sequence number wrapped (a jump back by more than half the space): a new roll.
    else if (seq < stream.last && stream.last - seq > 0x8000) stream.roc = (stream.roc + 1) >>> 0;
    stream.last = seq;
    return this.transform.protect(rtp, header, ssrc, stream.roc * 0x10000 + seq);
  }
}

export type SrtpRejection = 'malformed' | 'auth' | 'replay';
export type UnprotectOutcome = { ok: true; rtp: Buffer; index: number } | { ok: false; reason: SrtpRejection };

/**
 * RFC 3711 3.3.2: one stream's replay list, a 64-bit mask behind the highest index authenticated
 * so far, kept as two 32-bit halves: BigInt arithmetic would allocate on every packet.
 */
class ReplayList {
  /** Bit d set: the packet of index (highest - d) was received; d 0..31 here, 32..63 in `older`. */
  private recent = 1;
  private older = 0;

  constructor(public highest: number) {}

  /** An index received already, or too old for the list to tell. */
  refuses(index: number): boolean {
    const delta = this.highest - index;
    if (delta < 0) return false;
    if (delta >= SRTP_REPLAY_WINDOW) return true;
    return delta < 32 ? ((this.recent >>> delta) & 1) === 1 : ((this.older >>> (delta - 32)) & 1) === 1;
  }

  /** Records an index whose packet authenticated. */
  accept(index: number): void {
    const delta = this.highest - index;
    if (delta >= 0) {
      if (delta < 32) this.recent = (this.recent | (1 << delta)) >>> 0;
      else this.older = (this.older | (1 << (delta - 32))) >>> 0;
      return;
    }
    // The list moves up by `shift`; a jump past the whole list empties it.
    const shift = -delta;
    if (shift >= SRTP_REPLAY_WINDOW) {
      this.older = 0;
      this.recent = 0;
    } else if (shift >= 32) {
      this.older = (this.recent << (shift - 32)) >>> 0;
      this.recent = 0;
    } else {
      this.older = ((this.older << shift) | (this.recent >>> (32 - shift))) >>> 0;
      this.recent = (this.recent << shift) >>> 0;
    }
    this.recent = (this.recent | 1) >>> 0;
    this.highest = index;
  }
}

interface RefusalCounters {
  malformed: number;
  authFailed: number;
  replayed: number;
}

function refuse(counters: RefusalCounters, reason: SrtpRejection): { ok: false; reason: SrtpRejection } {
  if (reason === 'malformed') counters.malformed++;
  else if (reason === 'auth') counters.authFailed++;
  else counters.replayed++;
  return { ok: false, reason };
}

/** Checks and decrypts the SRTP packets one side receives. Nothing changes state until a packet authenticates. */
export class SrtpReceiver {
  private readonly transform: SrtpTransform;
  private readonly streams = new Map<number, ReplayList>();
  readonly counters: RefusalCounters = { malformed: 0, authFailed: 0, replayed: 0 };

  constructor(masterKey: Buffer, masterSalt: Buffer, readonly suite: SrtpSuite = DEFAULT_SRTP_SUITE) {
    this.transform = srtpTransform(suite, deriveSessionKeys(masterKey, masterSalt, 'rtp', suite));
  }

  /** Checks and decrypts `srtp` in place (its bytes are overwritten); the result is a view of it. */
  unprotect(srtp: Buffer): UnprotectOutcome {
    const body = srtp.subarray(0, Math.max(0, srtp.length - this.transform.tagBytes));
    const header = headerLength(body);
    if (header === undefined) return refuse(this.counters, 'malformed');
    const ssrc = srtp.readUInt32BE(8);
    const seq = srtp.readUInt16BE(2);
    const replayList = this.streams.get(ssrc);
    const roc = replayList ? guessRoc(replayList.highest, seq) : 0;
    if (roc < 0 || roc > 0xffffffff) return refuse(this.counters, 'replay');
    const index = roc * 0x10000 + seq;
    if (replayList?.refuses(index)) return refuse(this.counters, 'replay');
    // Decrypted in place: the datagram is the receiver's own, and a copy per packet is garbage.
    if (!this.transform.unprotect(body, srtp.subarray(body.length), header, ssrc, index)) return refuse(this.counters, 'auth');
    if (replayList) replayList.accept(index);
    else this.streams.set(ssrc, new ReplayList(index));
    return { ok: true, rtp: body, index };
  }
}

/** RFC 3711 3.3.1: the rollover counter of a packet, from the highest index authenticated so far. */
function guessRoc(highestIndex: number, seq: number): number {
  const roc = rocOf(highestIndex);
  const highest = highestIndex % 0x10000;
  if (highest < 0x8000) return seq - highest > 0x8000 ? roc - 1 : roc;
  return highest - 0x8000 > seq ? roc + 1 : roc;
}

/** RFC 3711 3.4: the E flag and the 31-bit SRTCP index follow the (encrypted) RTCP compound. */
const SRTCP_INDEX_BYTES = 4;
const SRTCP_E_FLAG = 0x80000000;
/** The RTCP header's first 8 bytes (V, P, count, type, length, sender SSRC) stay in the clear. */
const RTCP_CLEAR_BYTES = 8;
const SRTCP_INDEX_MAX = 0x7fffffff;

/** One suite's work on one RTCP compound; the E flag and index word is `(E << 31) | index`. */
export interface SrtcpTransform {
  /** What follows the compound: the tag and the E flag and index word, in the suite's order. */
  readonly trailerBytes: number;
  /** Where the E flag and index word sits in an SRTCP packet of `length` bytes. */
  indexAt(length: number): number;
  /** The SRTCP packet, encrypted (E = 1). */
  protect(rtcp: Buffer, ssrc: number, index: number): Buffer;
  /** The RTCP compound of an SRTCP packet whose word is `word`, or undefined when its tag does not match. */
  unprotect(srtcp: Buffer, ssrc: number, word: number): Buffer | undefined;
}

function rtcpTag(keys: SrtpSessionKeys, authenticated: Buffer): Buffer {
  return createHmac('sha1', keys.auth).update(authenticated).digest().subarray(0, SRTP_AUTH_TAG_BYTES);
}

/** RFC 3711 3.4: compound || E and index || tag, the tag over all before it. */
class CounterModeHmacRtcp implements SrtcpTransform {
  readonly trailerBytes = SRTCP_INDEX_BYTES + SRTP_AUTH_TAG_BYTES;
  private readonly cm: CounterMode;

  constructor(private readonly keys: SrtpSessionKeys) {
    this.cm = new CounterMode(keys.encryption);
  }

  indexAt(length: number): number {
    return length - this.trailerBytes;
  }

  protect(rtcp: Buffer, ssrc: number, index: number): Buffer {
    const out = Buffer.allocUnsafe(rtcp.length + this.trailerBytes);
    rtcp.copy(out, 0, 0, RTCP_CLEAR_BYTES);
    this.cm.apply(counterIv(this.keys.salt, ssrc, index), rtcp.subarray(RTCP_CLEAR_BYTES), out, RTCP_CLEAR_BYTES);
    out.writeUInt32BE((SRTCP_E_FLAG | index) >>> 0, rtcp.length);
    rtcpTag(this.keys, out.subarray(0, rtcp.length + SRTCP_INDEX_BYTES)).copy(out, rtcp.length + SRTCP_INDEX_BYTES);
    return out;
  }

  unprotect(srtcp: Buffer, ssrc: number, word: number): Buffer | undefined {
    const end = this.indexAt(srtcp.length);
    if (!timingSafeEqual(rtcpTag(this.keys, srtcp.subarray(0, end + SRTCP_INDEX_BYTES)), srtcp.subarray(end + SRTCP_INDEX_BYTES))) return undefined;
    const rtcp = Buffer.allocUnsafe(end);
    srtcp.copy(rtcp, 0, 0, RTCP_CLEAR_BYTES);
    // E = 0: the sender left the compound in the clear (3.4 allows it); it is still authenticated.
    const body = srtcp.subarray(RTCP_CLEAR_BYTES, end);
    if (word & SRTCP_E_FLAG) this.cm.apply(counterIv(this.keys.salt, ssrc, word & SRTCP_INDEX_MAX), body, rtcp, RTCP_CLEAR_BYTES);
    else body.copy(rtcp, RTCP_CLEAR_BYTES);
    return rtcp;
  }
}

/** `clear` || the E flag and index word: the AAD of RFC 7714 9.2 (and 9.3, with the whole compound in the clear). */
function rtcpAad(clear: Buffer, word: number): Buffer {
  const aad = Buffer.allocUnsafe(clear.length + SRTCP_INDEX_BYTES);
  clear.copy(aad, 0);
  aad.writeUInt32BE(word >>> 0, clear.length);
  return aad;
}

/** RFC 7714 9: compound || GCM tag || E and index; the tag comes before the index word here. */
class GaloisCounterModeRtcp implements SrtcpTransform {
  readonly trailerBytes = GCM_TAG_BYTES + SRTCP_INDEX_BYTES;

  constructor(private readonly keys: SrtpSessionKeys) {}

  indexAt(length: number): number {
    return length - SRTCP_INDEX_BYTES;
  }

  protect(rtcp: Buffer, ssrc: number, index: number): Buffer {
    const word = (SRTCP_E_FLAG | index) >>> 0;
    const out = Buffer.allocUnsafe(rtcp.length + this.trailerBytes);
    rtcp.copy(out, 0, 0, RTCP_CLEAR_BYTES);
    out.writeUInt32BE(word, rtcp.length + GCM_TAG_BYTES);
    const aad = rtcpAad(rtcp.subarray(0, RTCP_CLEAR_BYTES), word);
    seal(this.keys.encryption, gcmIv(this.keys.salt, ssrc, index), aad, rtcp.subarray(RTCP_CLEAR_BYTES), out, RTCP_CLEAR_BYTES);
    return out;
  }

  unprotect(srtcp: Buffer, ssrc: number, word: number): Buffer | undefined {
    const end = srtcp.length - this.trailerBytes;
    // 9.2: E = 1, the first 8 bytes and the word are the AAD; 9.3: E = 0, all of the compound is.
    const clear = word & SRTCP_E_FLAG ? RTCP_CLEAR_BYTES : end;
    const rtcp = Buffer.allocUnsafe(end);
    srtcp.copy(rtcp, 0, 0, clear);
    const iv = gcmIv(this.keys.salt, ssrc, word & SRTCP_INDEX_MAX);
    const opened = open(this.keys.encryption, iv, rtcpAad(srtcp.subarray(0, clear), word), srtcp.subarray(clear, end), srtcp.subarray(end, end + GCM_TAG_BYTES), rtcp, clear);
    return opened ? rtcp : undefined;
  }
}

/** The RTCP transform of `suite` on session keys already derived (RFC 7714 17 states its vectors so). */
export function srtcpTransform(suite: SrtpSuite, keys: SrtpSessionKeys): SrtcpTransform {
  return suite === 'AEAD_AES_128_GCM' ? new GaloisCounterModeRtcp(keys) : new CounterModeHmacRtcp(keys);
}

/** Protects the RTCP compounds one side sends: each SSRC counts its own SRTCP index from 0. */
export class SrtcpSender {
  private readonly transform: SrtcpTransform;
  private readonly indexes = new Map<number, number>();

  constructor(masterKey: Buffer, masterSalt: Buffer, readonly suite: SrtpSuite = DEFAULT_SRTP_SUITE) {
    this.transform = srtcpTransform(suite, deriveSessionKeys(masterKey, masterSalt, 'rtcp', suite));
  }

  protect(rtcp: Buffer): Buffer {
    if (rtcp.length < RTCP_CLEAR_BYTES || rtcp[0] >> 6 !== 2) throw new RangeError('not an RTCP compound');
    const ssrc = rtcp.readUInt32BE(4);
    const index = this.indexes.get(ssrc) ?? 0;
    // 3.3.1: the index must not wrap under one master key; past 2^31 the sender stops (the call is rekeyed or ends).
    if (index > SRTCP_INDEX_MAX) throw new RangeError('the SRTCP index is spent: a new master key is needed');
    this.indexes.set(ssrc, index + 1);
    return this.transform.protect(rtcp, ssrc, index);
  }
}

export type UnprotectRtcpOutcome = { ok: true; rtcp: Buffer; index: number } | { ok: false; reason: SrtpRejection };

/** Checks and decrypts SRTCP: the index is explicit, so the replay list needs no guess. */
export class SrtcpReceiver {
  private readonly transform: SrtcpTransform;
  private readonly streams = new Map<number, ReplayList>();
  readonly counters: RefusalCounters = { malformed: 0, authFailed: 0, replayed: 0 };

  constructor(masterKey: Buffer, masterSalt: Buffer, readonly suite: SrtpSuite = DEFAULT_SRTP_SUITE) {
    this.transform = srtcpTransform(suite, deriveSessionKeys(masterKey, masterSalt, 'rtcp', suite));
  }

  unprotect(srtcp: Buffer): UnprotectRtcpOutcome {
    if (srtcp.length - this.transform.trailerBytes < RTCP_CLEAR_BYTES || srtcp[0] >> 6 !== 2) return refuse(this.counters, 'malformed');
    const ssrc = srtcp.readUInt32BE(4);
    const word = srtcp.readUInt32BE(this.transform.indexAt(srtcp.length));
    const index = word & SRTCP_INDEX_MAX;
    const replayList = this.streams.get(ssrc);
    if (replayList?.refuses(index)) return refuse(this.counters, 'replay');
    const rtcp = this.transform.unprotect(srtcp, ssrc, word);
    if (!rtcp) return refuse(this.counters, 'auth');
    if (replayList) replayList.accept(index);
    else this.streams.set(ssrc, new ReplayList(index));
    return { ok: true, rtcp, index };
  }
}
