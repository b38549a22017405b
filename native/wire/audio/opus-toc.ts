// How much audio an Opus packet holds, from its TOC byte (RFC 6716 3.1), without decoding it:
// the jitter buffer counts in packets and must know their length before they are played.

/** Frame length in ms of each of the 32 configurations (RFC 6716 Table 2). */
const FRAME_MS_BY_CONFIG = [
  // SILK: narrow, medium, wide band.
  10, 20, 40, 60, 10, 20, 40, 60, 10, 20, 40, 60,
  // Hybrid: super-wide, full band.
  10, 20, 10, 20,
  // CELT: narrow, wide, super-wide, full band.
  2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20,
];

/** The packet's duration in ms, or undefined when it is too short to say (RFC 6716 3.4 R1, R6). */
export function opusPacketMs(packet: Uint8Array): number | undefined {
  if (packet.length < 1) return undefined;
  const toc = packet[0];
  const frameMs = FRAME_MS_BY_CONFIG[toc >> 3];
  const code = toc & 0x3;
  if (code === 0) return frameMs;
  if (code === 1 || code === 2) return 2 * frameMs;
  // Code 3: the frame count is in the next byte's low six bits.
  if (packet.length < 2) return undefined;
  const frames = packet[1] & 0x3f;
  return frames === 0 ? undefined : frames * frameMs;
}
