// SRTP and SRTCP (RFC 3711), the AES_CM_128_HMAC_SHA1_80 transform, on node:crypto. Pure: bytes
// in, bytes out, with the per-SSRC state the RFC asks for (rollover counter, highest index, replay
// list).
//
// Why by hand: werift-rtp 0.8.9, the one maintained TypeScript SRTP, accepts a replayed packet
// (no replay list, 3.3.2), guesses the rollover counter by a heuristic rather than 3.3.1, and
// pulls a 12 MB media library with it (measurements in the team's notes for issue 14).
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

export const SRTP_MASTER_KEY_BYTES = 16;
export const SRTP_MASTER_SALT_BYTES = 14;
/** HMAC-SHA1 cut to 80 bits (RFC 3711 5.2). */
export const SRTP_AUTH_TAG_BYTES = 10;
/** The replay list's size (3.3.2: at least 64). */
export const SRTP_REPLAY_WINDOW = 64;

/** The session keys derived from a master key and salt (4.3), for RTP or for RTCP. */
export interface SrtpSessionKeys {
  encryption: Buffer;
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
 * and the key is AES-CM of zeros under the master key with IV x * 2^16.
 */
function derive(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] ^= label;
  return createCipheriv('aes-128-ctr', masterKey, iv).update(Buffer.alloc(length));
}

export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer, of: 'rtp' | 'rtcp'): SrtpSessionKeys {
  if (masterKey.length !== SRTP_MASTER_KEY_BYTES) throw new RangeError(`an SRTP master key is ${SRTP_MASTER_KEY_BYTES} bytes`);
  if (masterSalt.length !== SRTP_MASTER_SALT_BYTES) throw new RangeError(`an SRTP master salt is ${SRTP_MASTER_SALT_BYTES} bytes`);
  const base = of === 'rtp' ? 0 : 3;
  return { encryption: derive(masterKey, masterSalt, base, 16), auth: derive(masterKey, masterSalt, base + 1, 20), salt: derive(masterKey, masterSalt, base + 2, 14) };
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

/** 4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16). */
export function counterIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  // index is 48 bits: bytes 8..13.
  const high = Math.floor(index / 2 ** 32);
  const low = index % 2 ** 32;
  iv.writeUInt16BE(iv.readUInt16BE(8) ^ high, 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ low) >>> 0, 10);
  return iv;
}

function authTag(keys: SrtpSessionKeys, authenticated: Buffer, roc: number): Buffer {
  const rocBytes = Buffer.allocUnsafe(4);
  rocBytes.writeUInt32BE(roc >>> 0);
  return createHmac('sha1', keys.auth).update(authenticated).update(rocBytes).digest().subarray(0, SRTP_AUTH_TAG_BYTES);
}

/** The packet with its payload en- or decrypted (AES-CM is its own inverse), in `room` more bytes for a tag. */
function crypt(keys: SrtpSessionKeys, cm: CounterMode, packet: Buffer, header: number, ssrc: number, index: number, room = 0): Buffer {
  const out = Buffer.allocUnsafe(packet.length + room);
  packet.copy(out, 0, 0, header);
  cm.apply(counterIv(keys.salt, ssrc, index), packet.subarray(header), out, header);
  return out;
}

/** Protects the RTP packets one side sends: each SSRC's rollover counter follows its sequence numbers. */
export class SrtpSender {
  private readonly keys: SrtpSessionKeys;
  private readonly cm: CounterMode;
  private readonly streams = new Map<number, { roc: number; last: number }>();

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = deriveSessionKeys(masterKey, masterSalt, 'rtp');
    this.cm = new CounterMode(this.keys.encryption);
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
    const out = crypt(this.keys, this.cm, rtp, header, ssrc, stream.roc * 0x10000 + seq, SRTP_AUTH_TAG_BYTES);
    authTag(this.keys, out.subarray(0, rtp.length), stream.roc).copy(out, rtp.length);
    return out;
  }
}

export type SrtpRejection = 'malformed' | 'auth' | 'replay';
export type UnprotectOutcome = { ok: true; rtp: Buffer; index: number } | { ok: false; reason: SrtpRejection };

interface ReceiveState {
  roc: number;
  /** s_l: the highest sequence number authenticated so far. */
  highest: number;
  /** Bit i set: the packet of index (highest index - i) was received. */
  seen: bigint;
}

const WINDOW_MASK = (1n << BigInt(SRTP_REPLAY_WINDOW)) - 1n;

/** Checks and decrypts the SRTP packets one side receives. Nothing changes state until a packet authenticates. */
export class SrtpReceiver {
  private readonly keys: SrtpSessionKeys;
  private readonly cm: CounterMode;
  private readonly streams = new Map<number, ReceiveState>();
  readonly counters = { malformed: 0, authFailed: 0, replayed: 0 };

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = deriveSessionKeys(masterKey, masterSalt, 'rtp');
    this.cm = new CounterMode(this.keys.encryption);
  }

  /** Checks and decrypts `srtp` in place (its bytes are overwritten); the result is a view of it. */
  unprotect(srtp: Buffer): UnprotectOutcome {
    const header = headerLength(srtp.subarray(0, Math.max(0, srtp.length - SRTP_AUTH_TAG_BYTES)));
    if (header === undefined) return this.refuse('malformed');
    const ssrc = srtp.readUInt32BE(8);
    const seq = srtp.readUInt16BE(2);
    const state = this.streams.get(ssrc);
    const roc = state ? guessRoc(state, seq) : 0;
    if (roc < 0 || roc > 0xffffffff) return this.refuse('replay');
    const index = roc * 0x10000 + seq;
    let delta = 0;
    if (state) {
      const highest = state.roc * 0x10000 + state.highest;
      delta = highest - index;
      if (delta >= SRTP_REPLAY_WINDOW || (delta >= 0 && (state.seen >> BigInt(delta)) & 1n)) return this.refuse('replay');
    }
    const body = srtp.subarray(0, srtp.length - SRTP_AUTH_TAG_BYTES);
    const tag = srtp.subarray(srtp.length - SRTP_AUTH_TAG_BYTES);
    if (!timingSafeEqual(authTag(this.keys, body, roc), tag)) return this.refuse('auth');
    if (!state) this.streams.set(ssrc, { roc, highest: seq, seen: 1n });
    else if (delta < 0) {
      state.seen = ((state.seen << BigInt(-delta)) | 1n) & WINDOW_MASK;
      state.roc = roc;
      state.highest = seq;
    } else state.seen |= 1n << BigInt(delta);
    // Decrypted in place: the datagram is the receiver's own, and a copy per packet is garbage.
    this.cm.apply(counterIv(this.keys.salt, ssrc, index), body.subarray(header), body, header);
    return { ok: true, rtp: body, index };
  }

  private refuse(reason: SrtpRejection): UnprotectOutcome {
    if (reason === 'malformed') this.counters.malformed++;
    else if (reason === 'auth') this.counters.authFailed++;
    else this.counters.replayed++;
    return { ok: false, reason };
  }
}

/** RFC 3711 3.3.1: the rollover counter of a packet, from the highest sequence number seen. */
function guessRoc(state: ReceiveState, seq: number): number {
  if (state.highest < 0x8000) return seq - state.highest > 0x8000 ? state.roc - 1 : state.roc;
  return state.highest - 0x8000 > seq ? state.roc + 1 : state.roc;
}

/** RFC 3711 3.4: the E flag and the 31-bit SRTCP index follow the (encrypted) RTCP compound. */
const SRTCP_INDEX_BYTES = 4;
const SRTCP_E_FLAG = 0x80000000;
/** The RTCP header's first 8 bytes (V, P, count, type, length, sender SSRC) stay in the clear. */
const RTCP_CLEAR_BYTES = 8;
const SRTCP_INDEX_MAX = 0x7fffffff;

function rtcpTag(keys: SrtpSessionKeys, authenticated: Buffer): Buffer {
  return createHmac('sha1', keys.auth).update(authenticated).digest().subarray(0, SRTP_AUTH_TAG_BYTES);
}

/** Protects the RTCP compounds one side sends: each SSRC counts its own SRTCP index from 0. */
export class SrtcpSender {
  private readonly keys: SrtpSessionKeys;
  private readonly cm: CounterMode;
  private readonly indexes = new Map<number, number>();

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = deriveSessionKeys(masterKey, masterSalt, 'rtcp');
    this.cm = new CounterMode(this.keys.encryption);
  }

  protect(rtcp: Buffer): Buffer {
    if (rtcp.length < RTCP_CLEAR_BYTES || rtcp[0] >> 6 !== 2) throw new RangeError('not an RTCP compound');
    const ssrc = rtcp.readUInt32BE(4);
    const index = this.indexes.get(ssrc) ?? 0;
    // 3.3.1: the index must not wrap under one master key; past 2^31 the sender stops (the call is rekeyed or ends).
    if (index > SRTCP_INDEX_MAX) throw new RangeError('the SRTCP index is spent: a new master key is needed');
    this.indexes.set(ssrc, index + 1);
    const out = Buffer.allocUnsafe(rtcp.length + SRTCP_INDEX_BYTES + SRTP_AUTH_TAG_BYTES);
    rtcp.copy(out, 0, 0, RTCP_CLEAR_BYTES);
    this.cm.apply(counterIv(this.keys.salt, ssrc, index), rtcp.subarray(RTCP_CLEAR_BYTES), out, RTCP_CLEAR_BYTES);
    out.writeUInt32BE((SRTCP_E_FLAG | index) >>> 0, rtcp.length);
    rtcpTag(this.keys, out.subarray(0, rtcp.length + SRTCP_INDEX_BYTES)).copy(out, rtcp.length + SRTCP_INDEX_BYTES);
    return out;
  }
}

export type UnprotectRtcpOutcome = { ok: true; rtcp: Buffer; index: number } | { ok: false; reason: SrtpRejection };

/** Checks and decrypts SRTCP: the index is explicit, so the replay list needs no guess. */
export class SrtcpReceiver {
  private readonly keys: SrtpSessionKeys;
  private readonly cm: CounterMode;
  private readonly streams = new Map<number, { highest: number; seen: bigint }>();
  readonly counters = { malformed: 0, authFailed: 0, replayed: 0 };

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = deriveSessionKeys(masterKey, masterSalt, 'rtcp');
    this.cm = new CounterMode(this.keys.encryption);
  }

  unprotect(srtcp: Buffer): UnprotectRtcpOutcome {
    const end = srtcp.length - SRTP_AUTH_TAG_BYTES - SRTCP_INDEX_BYTES;
    if (end < RTCP_CLEAR_BYTES || srtcp[0] >> 6 !== 2) return this.refuse('malformed');
    const ssrc = srtcp.readUInt32BE(4);
    const word = srtcp.readUInt32BE(end);
    const index = word & SRTCP_INDEX_MAX;
    const state = this.streams.get(ssrc);
    const delta = state ? state.highest - index : -1;
    if (state && (delta >= SRTP_REPLAY_WINDOW || (delta >= 0 && (state.seen >> BigInt(delta)) & 1n))) return this.refuse('replay');
    const tag = srtcp.subarray(end + SRTCP_INDEX_BYTES);
    if (!timingSafeEqual(rtcpTag(this.keys, srtcp.subarray(0, end + SRTCP_INDEX_BYTES)), tag)) return this.refuse('auth');
    if (!state) this.streams.set(ssrc, { highest: index, seen: 1n });
    else if (delta < 0) {
      state.seen = ((state.seen << BigInt(-delta)) | 1n) & WINDOW_MASK;
      state.highest = index;
    } else state.seen |= 1n << BigInt(delta);
    const rtcp = Buffer.allocUnsafe(end);
    srtcp.copy(rtcp, 0, 0, RTCP_CLEAR_BYTES);
    // E = 0: the sender left the compound in the clear (3.4 allows it); it is still authenticated.
    const body = srtcp.subarray(RTCP_CLEAR_BYTES, end);
    if (word & SRTCP_E_FLAG) this.cm.apply(counterIv(this.keys.salt, ssrc, index), body, rtcp, RTCP_CLEAR_BYTES);
    else body.copy(rtcp, RTCP_CLEAR_BYTES);
    return { ok: true, rtcp, index };
  }

  private refuse(reason: SrtpRejection): UnprotectRtcpOutcome {
    if (reason === 'malformed') this.counters.malformed++;
    else if (reason === 'auth') this.counters.authFailed++;
    else this.counters.replayed++;
    return { ok: false, reason };
  }
}
