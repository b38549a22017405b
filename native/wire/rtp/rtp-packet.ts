// RTP data packets (RFC 3550 5.1) and the sequence-number arithmetic receivers need
// (RFC 3550 A.1). Pure: parsing never throws, it says why a datagram is not RTP.

export interface RtpHeaderExtension {
  /** RFC 3550 5.3.1: the 16 bits "defined by profile". */
  profile: number;
  /** The extension body, a whole number of 32-bit words. */
  data: Buffer;
}

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  extension?: RtpHeaderExtension;
  /** The payload with any padding already removed. */
  payload: Buffer;
  /** Padding octets the sender added (0 when the P bit was clear). */
  paddingLength: number;
}

export type RtpParseOutcome = { ok: true; packet: RtpPacket } | { ok: false; reason: RtpRejection };

export type RtpRejection =
  | 'too-short'
  | 'bad-version'
  | 'is-rtcp'
  | 'truncated-csrc'
  | 'truncated-extension'
  | 'bad-padding';

export const RTP_VERSION = 2;
export const RTP_FIXED_HEADER_BYTES = 12;

/**
 * RFC 5761 4: with RTP and RTCP on one port, the second octet (marker bit and payload type
 * together) tells them apart: RTCP packet types sit in 192-223, a range RTP must not use for
 * payload types 64-95 with the marker set. A cheap test to route a datagram before parsing.
 */
export function looksLikeRtcp(datagram: Buffer): boolean {
  if (datagram.length < 2) return false;
  const second = datagram[1];
  return second >= 192 && second <= 223;
}

export function parseRtpPacket(datagram: Buffer): RtpParseOutcome {
  if (datagram.length < RTP_FIXED_HEADER_BYTES) return { ok: false, reason: 'too-short' };
  const first = datagram[0];
  if (first >> 6 !== RTP_VERSION) return { ok: false, reason: 'bad-version' };
  const second = datagram[1];
  const payloadType = second & 0x7f;
  const marker = (second & 0x80) !== 0;
  // RFC 5761 4: payload types 72-76 with M set are RTCP SR/RR/SDES/BYE/APP; callers route them elsewhere.
  if (marker && payloadType >= 72 && payloadType <= 76) return { ok: false, reason: 'is-rtcp' };

  const hasPadding = (first & 0x20) !== 0;
  const hasExtension = (first & 0x10) !== 0;
  const csrcCount = first & 0x0f;

  let offset = RTP_FIXED_HEADER_BYTES;
  if (datagram.length < offset + 4 * csrcCount) return { ok: false, reason: 'truncated-csrc' };
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++, offset += 4) csrcs.push(datagram.readUInt32BE(offset));

  let extension: RtpHeaderExtension | undefined;
  if (hasExtension) {
    // RFC 3550 5.3.1: 16 bits profile, 16 bits length in 32-bit words excluding this 4-octet header.
    if (datagram.length < offset + 4) return { ok: false, reason: 'truncated-extension' };
    const profile = datagram.readUInt16BE(offset);
    const words = datagram.readUInt16BE(offset + 2);
    offset += 4;
    if (datagram.length < offset + 4 * words) return { ok: false, reason: 'truncated-extension' };
    extension = { profile, data: Buffer.from(datagram.subarray(offset, offset + 4 * words)) };
    offset += 4 * words;
  }

  let end = datagram.length;
  let paddingLength = 0;
  if (hasPadding) {
    // RFC 3550 5.1: the last octet counts the padding octets, itself included, so it is at
    // least 1 and cannot reach back into the header.
    paddingLength = datagram[datagram.length - 1];
    if (paddingLength === 0 || paddingLength > end - offset) return { ok: false, reason: 'bad-padding' };
    end -= paddingLength;
  }

  return {
    ok: true,
    packet: {
      marker,
      payloadType,
      sequenceNumber: datagram.readUInt16BE(2),
      timestamp: datagram.readUInt32BE(4),
      ssrc: datagram.readUInt32BE(8),
      csrcs,
      extension,
      payload: Buffer.from(datagram.subarray(offset, end)),
      paddingLength,
    },
  };
}

export interface RtpPacketFields {
  marker?: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs?: number[];
  extension?: RtpHeaderExtension;
  payload: Buffer;
  /** Pad the packet with this many octets (1-255), e.g. to a cipher's block size. */
  paddingLength?: number;
}

/**
 * The wire form of a packet. Values outside their fields are masked to fit, as they would be
 * on the wire (a sequence number of 65536 is 0): sequence and timestamp counters wrap.
 */
export function serializeRtpPacket(fields: RtpPacketFields): Buffer {
  const csrcs = (fields.csrcs ?? []).slice(0, 15);
  const ext = fields.extension;
  const extWords = ext ? Math.ceil(ext.data.length / 4) : 0;
  const padding = fields.paddingLength ? Math.min(255, Math.max(1, fields.paddingLength)) : 0;
  const headerBytes = RTP_FIXED_HEADER_BYTES + 4 * csrcs.length + (ext ? 4 + 4 * extWords : 0);
  const out = Buffer.alloc(headerBytes + fields.payload.length + padding);

  out[0] = (RTP_VERSION << 6) | (padding ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcs.length;
  out[1] = (fields.marker ? 0x80 : 0) | (fields.payloadType & 0x7f);
  out.writeUInt16BE(fields.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(fields.timestamp >>> 0, 4);
  out.writeUInt32BE(fields.ssrc >>> 0, 8);
  let offset = RTP_FIXED_HEADER_BYTES;
  for (const csrc of csrcs) {
    out.writeUInt32BE(csrc >>> 0, offset);
    offset += 4;
  }
  if (ext) {
    out.writeUInt16BE(ext.profile & 0xffff, offset);
    out.writeUInt16BE(extWords, offset + 2);
    // RFC 3550 5.3.1: the body is whole 32-bit words; a short body is zero-filled.
    ext.data.copy(out, offset + 4);
    offset += 4 + 4 * extWords;
  }
  fields.payload.copy(out, offset);
  if (padding) out[out.length - 1] = padding;
  return out;
}

const SEQ_MOD = 1 << 16;

/**
 * True when sequence number `a` comes after `b`, taking the 16-bit wrap into account: `a` is
 * newer when it is less than half the number space ahead of `b` (RFC 3550 A.1, RFC 1982 style).
 */
export function isNewerSequence(a: number, b: number): boolean {
  const delta = (a - b + SEQ_MOD) % SEQ_MOD;
  return delta !== 0 && delta < SEQ_MOD / 2;
}

/** How far `a` is ahead of `b` (negative when behind), in the range -32768..32767. */
export function sequenceDelta(a: number, b: number): number {
  const delta = (a - b + SEQ_MOD) % SEQ_MOD;
  return delta >= SEQ_MOD / 2 ? delta - SEQ_MOD : delta;
}

/** RFC 3550 A.1 constants: a source is valid after MIN_SEQUENTIAL packets in order. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

export type SequenceVerdict = 'accepted' | 'probation' | 'duplicate-or-late' | 'bad-jump';

/**
 * The receiver's view of one source's sequence numbers (RFC 3550 A.1 update_seq): the
 * extended highest sequence number (cycles << 16 | max), the probation of a new source, and
 * the "two packets in a row after a big jump means the sender restarted" rule.
 */
export class SequenceTracker {
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = SEQ_MOD + 1;
  private probation = MIN_SEQUENTIAL;
  private received = 0;
  private started = false;

  /** Feed one packet's sequence number; returns what the receiver should make of it. */
  update(seq: number): SequenceVerdict {
    seq &= 0xffff;
    if (!this.started) {
      this.started = true;
      this.restart(seq);
      this.maxSeq = seq - 1;
      this.probation = MIN_SEQUENTIAL;
    }
    const delta = (seq - this.maxSeq + SEQ_MOD) % SEQ_MOD;

    // RFC 3550 A.1: a source is not valid until MIN_SEQUENTIAL packets arrive in sequence.
    if (this.probation > 0) {
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.restart(seq);
          this.received++;
          return 'accepted';
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1;
        this.maxSeq = seq;
      }
      return 'probation';
    }

    if (delta === 0) {
      // A repeat of the highest number (RFC 4733 end packets are sent three times): A.1 counts it as received.
      this.received++;
      return 'duplicate-or-late';
    }
    if (delta < MAX_DROPOUT) {
      // In order, with a permissible gap; a smaller number than before means the counter wrapped.
      if (seq < this.maxSeq) this.cycles += SEQ_MOD;
      this.maxSeq = seq;
    } else if (delta <= SEQ_MOD - MAX_MISORDER) {
      // RFC 3550 A.1: a very large jump; accept it only if the next packet follows it.
      if (seq === this.badSeq) {
        this.restart(seq);
      } else {
        this.badSeq = (seq + 1) & 0xffff;
        return 'bad-jump';
      }
    } else {
      // A duplicate or a packet reordered by less than MAX_MISORDER.
      this.received++;
      return 'duplicate-or-late';
    }
    this.received++;
    return 'accepted';
  }

  /** The extended highest sequence number received (RFC 3550 6.4.1). */
  get extendedHighest(): number {
    return this.cycles + this.maxSeq;
  }

  /** Packets expected since the source became valid (RFC 3550 A.3). */
  get expected(): number {
    return this.extendedHighest - this.baseSeq + 1;
  }

  /** Packets received since the source became valid, duplicates included as A.3 does. */
  get receivedCount(): number {
    return this.received;
  }

  /** RFC 3550 A.3: may go negative when duplicates outnumber losses. */
  get cumulativeLost(): number {
    return this.expected - this.received;
  }

  private restart(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
  }
}
