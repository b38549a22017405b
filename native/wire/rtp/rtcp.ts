// RTCP (RFC 3550 6): sender and receiver reports, source descriptions, BYE, and the compound
// datagrams they travel in. Pure: parsing never throws; a malformed datagram gives a reason.

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

/** RFC 3550 6.4.1: one reception report block, 24 octets. */
export interface ReportBlock {
  ssrc: number;
  /** Packets lost since the previous report, as a fraction of 256 (0-255). */
  fractionLost: number;
  /** Total packets lost, 24-bit signed: negative when duplicates outnumber losses. */
  cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | highest). */
  highestSequence: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received (0 if none). */
  lastSenderReport: number;
  /** Delay since that SR, in units of 1/65536 s. */
  delaySinceLastSenderReport: number;
}

export interface SenderInfo {
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export interface SenderReport {
  type: 'sr';
  ssrc: number;
  sender: SenderInfo;
  reports: ReportBlock[];
  /** RFC 3550 6.4.1: profile-specific extension octets after the report blocks. */
  extension?: Buffer;
}

export interface ReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: ReportBlock[];
  extension?: Buffer;
}

/** RFC 3550 6.5: SDES item types. */
export const SDES_CNAME = 1;
export const SDES_NAME = 2;
export const SDES_EMAIL = 3;
export const SDES_PHONE = 4;
export const SDES_LOC = 5;
export const SDES_TOOL = 6;
export const SDES_NOTE = 7;
export const SDES_PRIV = 8;

export interface SdesItem {
  type: number;
  /** Item text; RFC 3550 6.5 says UTF-8. PRIV items keep their prefix inside the text. */
  text: string;
}

export interface SdesChunk {
  ssrc: number;
  items: SdesItem[];
}

export interface SourceDescription {
  type: 'sdes';
  chunks: SdesChunk[];
}

export interface Goodbye {
  type: 'bye';
  ssrcs: number[];
  reason?: string;
}

/** Any other packet type (APP, RTPFB, PSFB, XR, ...), kept so a compound can be walked whole. */
export interface OtherRtcpPacket {
  type: 'other';
  packetType: number;
  count: number;
  body: Buffer;
}

export type RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherRtcpPacket;

export type RtcpParseOutcome = { ok: true; packets: RtcpPacket[] } | { ok: false; reason: string };

const HEADER_BYTES = 4;
const REPORT_BLOCK_BYTES = 24;
const SENDER_INFO_BYTES = 20;

/**
 * Splits a compound RTCP datagram into its packets (RFC 3550 6.1) and decodes each. The whole
 * datagram is rejected if any packet's length field does not tile it exactly, as A.2 advises:
 * a length error is the likeliest sign of junk or of a mis-demultiplexed RTP packet.
 */
export function parseRtcpCompound(datagram: Buffer): RtcpParseOutcome {
  if (datagram.length < HEADER_BYTES) return { ok: false, reason: 'too short' };
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    if (datagram.length - offset < HEADER_BYTES) return { ok: false, reason: 'trailing octets after last packet' };
    const first = datagram[offset];
    if (first >> 6 !== 2) return { ok: false, reason: 'version is not 2' };
    const packetType = datagram[offset + 1];
    if (packetType < 192 || packetType > 223) return { ok: false, reason: `packet type ${packetType} is not RTCP` };
    // RFC 3550 6.4.1: "length: 16 bits. The length of this RTCP packet in 32-bit words minus one".
    const length = 4 * (datagram.readUInt16BE(offset + 2) + 1);
    if (offset + length > datagram.length) return { ok: false, reason: 'length field runs past the datagram' };
    const hasPadding = (first & 0x20) !== 0;
    let end = offset + length;
    if (hasPadding) {
      // RFC 3550 6.4.1: only the last packet of a compound may be padded.
      if (end !== datagram.length) return { ok: false, reason: 'padding on a packet that is not last' };
      const pad = datagram[end - 1];
      if (pad === 0 || pad > length - HEADER_BYTES) return { ok: false, reason: 'bad padding count' };
      end -= pad;
    }
    const decoded = decodePacket(packetType, first & 0x1f, datagram.subarray(offset + HEADER_BYTES, end));
    if (typeof decoded === 'string') return { ok: false, reason: decoded };
    packets.push(decoded);
    offset += length;
  }
  // RFC 3550 6.1: the first packet of a compound is always a report (A.2 checks this too).
  const firstType = packets[0].type;
  if (firstType !== 'sr' && firstType !== 'rr') return { ok: false, reason: 'compound does not begin with SR or RR' };
  return { ok: true, packets };
}

function decodePacket(packetType: number, count: number, body: Buffer): RtcpPacket | string {
  switch (packetType) {
    case RTCP_SR: {
      if (body.length < 4 + SENDER_INFO_BYTES + count * REPORT_BLOCK_BYTES) return 'SR shorter than its report count';
      const sender: SenderInfo = {
        ntpSeconds: body.readUInt32BE(4),
        ntpFraction: body.readUInt32BE(8),
        rtpTimestamp: body.readUInt32BE(12),
        packetCount: body.readUInt32BE(16),
        octetCount: body.readUInt32BE(20),
      };
      const blocksEnd = 4 + SENDER_INFO_BYTES + count * REPORT_BLOCK_BYTES;
      return { type: 'sr', ssrc: body.readUInt32BE(0), sender, reports: readReportBlocks(body, 4 + SENDER_INFO_BYTES, count), ...extensionAfter(body, blocksEnd) };
    }
    case RTCP_RR: {
      if (body.length < 4 + count * REPORT_BLOCK_BYTES) return 'RR shorter than its report count';
      const blocksEnd = 4 + count * REPORT_BLOCK_BYTES;
      return { type: 'rr', ssrc: body.readUInt32BE(0), reports: readReportBlocks(body, 4, count), ...extensionAfter(body, blocksEnd) };
    }
    case RTCP_SDES:
      return decodeSdes(body, count);
    case RTCP_BYE:
      return decodeBye(body, count);
    default:
      return { type: 'other', packetType, count, body: Buffer.from(body) };
  }
}

function extensionAfter(body: Buffer, blocksEnd: number): { extension?: Buffer } {
  return body.length > blocksEnd ? { extension: Buffer.from(body.subarray(blocksEnd)) } : {};
}

function readReportBlocks(body: Buffer, start: number, count: number): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  for (let i = 0, at = start; i < count; i++, at += REPORT_BLOCK_BYTES) {
    blocks.push({
      ssrc: body.readUInt32BE(at),
      fractionLost: body[at + 4],
      // RFC 3550 6.4.1: cumulative number of packets lost is a signed 24-bit integer.
      cumulativeLost: body.readIntBE(at + 5, 3),
      highestSequence: body.readUInt32BE(at + 8),
      jitter: body.readUInt32BE(at + 12),
      lastSenderReport: body.readUInt32BE(at + 16),
      delaySinceLastSenderReport: body.readUInt32BE(at + 20),
    });
  }
  return blocks;
}

/**
 * RFC 3550 6.5: each chunk is an SSRC, then items (type, length, text), ended by one or more
 * null octets that pad the chunk to a 32-bit boundary.
 */
function decodeSdes(body: Buffer, count: number): SourceDescription | string {
  const chunks: SdesChunk[] = [];
  let at = 0;
  for (let c = 0; c < count; c++) {
    if (body.length - at < 4) return 'SDES chunk truncated';
    const chunk: SdesChunk = { ssrc: body.readUInt32BE(at), items: [] };
    at += 4;
    for (;;) {
      if (at >= body.length) return 'SDES chunk has no end marker';
      const itemType = body[at];
      if (itemType === 0) {
        at += 1;
        at = (at + 3) & ~3;
        break;
      }
      if (at + 2 > body.length) return 'SDES item truncated';
      const len = body[at + 1];
      if (at + 2 + len > body.length) return 'SDES item runs past the packet';
      chunk.items.push({ type: itemType, text: body.toString('utf8', at + 2, at + 2 + len) });
      at += 2 + len;
    }
    if (at > body.length) return 'SDES chunk padding runs past the packet';
    chunks.push(chunk);
  }
  return { type: 'sdes', chunks };
}

/** RFC 3550 6.6: SSRC/CSRC list, then optionally a length-prefixed reason. */
function decodeBye(body: Buffer, count: number): Goodbye | string {
  if (body.length < 4 * count) return 'BYE shorter than its source count';
  const ssrcs: number[] = [];
  for (let i = 0; i < count; i++) ssrcs.push(body.readUInt32BE(4 * i));
  const after = 4 * count;
  if (body.length === after) return { type: 'bye', ssrcs };
  const len = body[after];
  if (after + 1 + len > body.length) return 'BYE reason runs past the packet';
  return { type: 'bye', ssrcs, reason: body.toString('utf8', after + 1, after + 1 + len) };
}

// ---- serialising ----

function header(first5Bits: number, packetType: number, bodyBytes: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out[0] = (2 << 6) | (first5Bits & 0x1f);
  out[1] = packetType;
  out.writeUInt16BE(bodyBytes / 4, 2);
  return out;
}

function writeReportBlock(block: ReportBlock): Buffer {
  const out = Buffer.alloc(REPORT_BLOCK_BYTES);
  out.writeUInt32BE(block.ssrc >>> 0, 0);
  out[4] = Math.max(0, Math.min(255, Math.round(block.fractionLost)));
  // RFC 3550 6.4.1: clamp to the 24-bit signed range rather than wrap into nonsense.
  out.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(block.cumulativeLost))), 5, 3);
  out.writeUInt32BE(block.highestSequence >>> 0, 8);
  out.writeUInt32BE(block.jitter >>> 0, 12);
  out.writeUInt32BE(block.lastSenderReport >>> 0, 16);
  out.writeUInt32BE(block.delaySinceLastSenderReport >>> 0, 20);
  return out;
}

/** RFC 3550 6.4: a report packet carries at most 31 blocks (the 5-bit count). */
export const MAX_REPORT_BLOCKS = 31;

export function serializeSenderReport(sr: Omit<SenderReport, 'type'>): Buffer {
  const blocks = sr.reports.slice(0, MAX_REPORT_BLOCKS).map(writeReportBlock);
  const fixed = Buffer.alloc(4 + SENDER_INFO_BYTES);
  fixed.writeUInt32BE(sr.ssrc >>> 0, 0);
  fixed.writeUInt32BE(sr.sender.ntpSeconds >>> 0, 4);
  fixed.writeUInt32BE(sr.sender.ntpFraction >>> 0, 8);
  fixed.writeUInt32BE(sr.sender.rtpTimestamp >>> 0, 12);
  fixed.writeUInt32BE(sr.sender.packetCount >>> 0, 16);
  fixed.writeUInt32BE(sr.sender.octetCount >>> 0, 20);
  const body = Buffer.concat([fixed, ...blocks, wordAligned(sr.extension)]);
  return Buffer.concat([header(blocks.length, RTCP_SR, body.length), body]);
}

export function serializeReceiverReport(rr: Omit<ReceiverReport, 'type'>): Buffer {
  const blocks = rr.reports.slice(0, MAX_REPORT_BLOCKS).map(writeReportBlock);
  const ssrc = Buffer.alloc(4);
  ssrc.writeUInt32BE(rr.ssrc >>> 0, 0);
  const body = Buffer.concat([ssrc, ...blocks, wordAligned(rr.extension)]);
  return Buffer.concat([header(blocks.length, RTCP_RR, body.length), body]);
}

function wordAligned(data: Buffer | undefined): Buffer {
  if (!data || data.length === 0) return Buffer.alloc(0);
  const out = Buffer.alloc((data.length + 3) & ~3);
  data.copy(out);
  return out;
}

export function serializeSdes(chunks: SdesChunk[]): Buffer {
  const parts = chunks.slice(0, 31).map((chunk) => {
    const items = chunk.items.map((item) => {
      // RFC 3550 6.5: an item's text is at most 255 octets.
      const text = Buffer.from(item.text, 'utf8').subarray(0, 255);
      return Buffer.concat([Buffer.from([item.type & 0xff, text.length]), text]);
    });
    const ssrc = Buffer.alloc(4);
    ssrc.writeUInt32BE(chunk.ssrc >>> 0, 0);
    const content = Buffer.concat([ssrc, ...items]);
    // RFC 3550 6.5: the item list ends with at least one null octet, then pads to 32 bits.
    const padded = Buffer.alloc((content.length + 1 + 3) & ~3);
    content.copy(padded);
    return padded;
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([header(parts.length, RTCP_SDES, body.length), body]);
}

export function serializeBye(ssrcs: number[], reason?: string): Buffer {
  const list = ssrcs.slice(0, 31);
  const ids = Buffer.alloc(4 * list.length);
  list.forEach((ssrc, i) => ids.writeUInt32BE(ssrc >>> 0, 4 * i));
  let reasonPart: Buffer = Buffer.alloc(0);
  if (reason !== undefined) {
    const text = Buffer.from(reason, 'utf8').subarray(0, 255);
    reasonPart = wordAligned(Buffer.concat([Buffer.from([text.length]), text]));
  }
  const body = Buffer.concat([ids, reasonPart]);
  return Buffer.concat([header(list.length, RTCP_BYE, body.length), body]);
}

export type ReportPacket = SenderReport | ReceiverReport;

/**
 * RFC 3550 6.1: every compound begins with an SR or RR (an empty RR when there is nothing to
 * report) and carries an SDES with our CNAME; a BYE, when leaving, comes last.
 */
export function serializeRtcpCompound(report: ReportPacket, cname: string, bye?: { reason?: string }): Buffer {
  const parts = [
    report.type === 'sr' ? serializeSenderReport(report) : serializeReceiverReport(report),
    serializeSdes([{ ssrc: report.ssrc, items: [{ type: SDES_CNAME, text: cname }] }]),
  ];
  if (bye) parts.push(serializeBye([report.ssrc], bye.reason));
  return Buffer.concat(parts);
}

// ---- time ----

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;
const TWO_32 = 0x1_0000_0000;

export interface NtpTimestamp {
  seconds: number;
  fraction: number;
}

/** RFC 3550 4: wallclock as a 64-bit NTP timestamp, from milliseconds since the Unix epoch. */
export function msToNtp(unixMs: number): NtpTimestamp {
  const totalSeconds = unixMs / 1000 + NTP_UNIX_OFFSET_SECONDS;
  const seconds = Math.floor(totalSeconds);
  const fraction = Math.min(TWO_32 - 1, Math.round((totalSeconds - seconds) * TWO_32));
  return { seconds: seconds >>> 0, fraction: fraction >>> 0 };
}

export function ntpToMs(ntp: NtpTimestamp): number {
  return (ntp.seconds - NTP_UNIX_OFFSET_SECONDS) * 1000 + (ntp.fraction / TWO_32) * 1000;
}

/** RFC 3550 6.4.1: LSR is the middle 32 bits of the SR's NTP timestamp. */
export function ntpMiddle32(ntp: NtpTimestamp): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

/**
 * RFC 3550 6.4.1: round-trip time from a report block, given when it arrived (as the middle
 * 32 bits of NTP time): A - LSR - DLSR, in 1/65536 s, converted to milliseconds. Undefined
 * when the peer has not yet received an SR from us.
 */
export function roundTripMs(block: Pick<ReportBlock, 'lastSenderReport' | 'delaySinceLastSenderReport'>, arrivalMiddle32: number): number | undefined {
  if (block.lastSenderReport === 0) return undefined;
  const units = (arrivalMiddle32 - block.lastSenderReport - block.delaySinceLastSenderReport) >>> 0;
  // A wrapped (huge) value means clocks or fields are inconsistent; report nothing rather than hours.
  if (units > 0x7fffffff) return undefined;
  return (units / 65536) * 1000;
}
