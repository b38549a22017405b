// TURN's own framing and attribute values (RFC 8656): ChannelData messages (12.4), and the
// small fixed-size attributes of Allocate, Refresh and ChannelBind.

/** RFC 8656 12: channel numbers 0x4000 through 0x4FFF. */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x4fff;
/** RFC 8656 14.7: REQUESTED-TRANSPORT's protocol number for UDP. */
export const TRANSPORT_UDP = 17;

export interface ChannelData {
  channel: number;
  data: Buffer;
}

/** RFC 7983 / RFC 8656 12.4: the first byte of ChannelData is 64..79; of STUN 0..3, of RTP 128..191. */
export function looksLikeChannelData(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes[0] >= 0x40 && bytes[0] <= 0x4f;
}

/** `padded`: over TCP (and TLS) the message is padded to a multiple of four bytes (RFC 8656 12.5). */
export function encodeChannelData(channel: number, data: Buffer, padded = false): Buffer {
  const pad = padded ? (4 - (data.length % 4)) % 4 : 0;
  const out = Buffer.alloc(4 + data.length + pad);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  return out;
}

/** Reads one ChannelData message; undefined if the channel is out of range or the length runs past the bytes. */
export function parseChannelData(bytes: Buffer): ChannelData | undefined {
  if (!looksLikeChannelData(bytes)) return undefined;
  const channel = bytes.readUInt16BE(0);
  const length = bytes.readUInt16BE(2);
  if (channel < MIN_CHANNEL || channel > MAX_CHANNEL || 4 + length > bytes.length) return undefined;
  return { channel, data: bytes.subarray(4, 4 + length) };
}

/** On a stream: the whole padded ChannelData message's length once its header is in. */
export function channelDataLengthOnStream(buffer: Buffer): number | undefined {
  if (buffer.length < 4) return undefined;
  const length = buffer.readUInt16BE(2);
  return 4 + length + ((4 - (length % 4)) % 4);
}

export function encodeUint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}
export function decodeUint32(value: Buffer | undefined): number | undefined {
  return value && value.length === 4 ? value.readUInt32BE(0) : undefined;
}

/** RFC 8656 18.1: CHANNEL-NUMBER is the number then two reserved bytes. */
export function encodeChannelNumber(channel: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(channel);
  return out;
}
export function decodeChannelNumber(value: Buffer | undefined): number | undefined {
  return value && value.length === 4 ? value.readUInt16BE(0) : undefined;
}

/** RFC 8656 18.7: REQUESTED-TRANSPORT is the IP protocol number then three reserved bytes. */
export function encodeRequestedTransport(protocol: number): Buffer {
  return Buffer.from([protocol, 0, 0, 0]);
}
export function decodeRequestedTransport(value: Buffer | undefined): number | undefined {
  return value && value.length === 4 ? value[0] : undefined;
}
