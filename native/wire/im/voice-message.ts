// A voice message kept in the overlay for a user who did not answer (docs/protocol.md,
// "Voice messages"). The audio is Opus packets, each with a 2-byte big-endian length, cut into
// chunks of at most VOICE_CHUNK_BYTES; each chunk is encrypted with AES-256-GCM under a key made
// for this message only (nonce: the chunk's index; additional data: label, Call-ID and index).
// The key, the SHA-256 of every encrypted chunk, the codec and the length travel in the offline
// message's `voice` field, which is signed and sealed to the recipient like any offline text
// (wire/im/offline-message.ts). So a chunk that a storing node changed, swapped or dropped is
// found before it is decrypted, and nobody but the recipient can listen.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Plain bytes in one chunk: a chunk record, base64url'd and signed, stays under MAILBOX_LIMITS.maxRecordBytes. */
export const VOICE_CHUNK_BYTES = 16 * 1024;
/** The longest message a caller can leave. */
export const MAX_VOICE_MS = 120_000;
/** One Opus packet per 20 ms. */
export const VOICE_FRAME_MS = 20;
/** Chunks one message may have: 2 minutes of Opus at up to 64 kbit/s. */
export const MAX_VOICE_CHUNKS = 64;
export const VOICE_CODEC = 'opus/48000';
const LABEL = 'peerdial-voicemail-v1';

/** What the sealed offline message says about the audio. */
export interface VoiceManifest {
  codec: typeof VOICE_CODEC;
  durationMs: number;
  /** The AES-256-GCM key of this message's chunks, base64url. */
  key: string;
  /** SHA-256 of each encrypted chunk, base64url, in order. */
  chunks: string[];
}

/** Opus packets in one byte string: [u16 length][packet]... */
export function packVoice(packets: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of packets) {
    if (p.length === 0 || p.length > 0xffff) throw new RangeError('an Opus packet is 1 to 65535 bytes');
    const head = Buffer.alloc(2);
    head.writeUInt16BE(p.length);
    parts.push(head, Buffer.from(p.buffer, p.byteOffset, p.length));
  }
  return Buffer.concat(parts);
}

/** The packets back, or undefined when the bytes do not divide into them exactly. */
export function unpackVoice(bytes: Buffer): Buffer[] | undefined {
  const packets: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) return undefined;
    const length = bytes.readUInt16BE(at);
    if (length === 0 || at + 2 + length > bytes.length) return undefined;
    packets.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return packets;
}

/** Encrypts packed audio into chunks; returns them with the manifest that opens them. */
export function encryptVoice(audio: Buffer, callId: string, durationMs: number): { manifest: VoiceManifest; chunks: Buffer[] } {
  const key = randomBytes(32);
  const chunks: Buffer[] = [];
  for (let at = 0, index = 0; at < audio.length; at += VOICE_CHUNK_BYTES, index++) {
    const cipher = createCipheriv('aes-256-gcm', key, nonceFor(index));
    cipher.setAAD(additionalData(callId, index));
    chunks.push(Buffer.concat([cipher.update(audio.subarray(at, at + VOICE_CHUNK_BYTES)), cipher.final(), cipher.getAuthTag()]));
  }
  if (chunks.length > MAX_VOICE_CHUNKS) throw new RangeError(`a voice message is at most ${MAX_VOICE_CHUNKS} chunks`);
  return { manifest: { codec: VOICE_CODEC, durationMs, key: key.toString('base64url'), chunks: chunks.map(chunkDigest) }, chunks };
}

/** SHA-256 of an encrypted chunk, as the manifest lists it. */
export function chunkDigest(chunk: Buffer): string {
  return createHash('sha256').update(chunk).digest('base64url');
}

export type OpenedChunk = { ok: true; audio: Buffer } | { ok: false; reason: 'tampered' };

/** Checks an encrypted chunk against the manifest, then decrypts it. */
export function openVoiceChunk(chunk: Buffer, manifest: VoiceManifest, callId: string, index: number): OpenedChunk {
  if (index < 0 || index >= manifest.chunks.length || chunkDigest(chunk) !== manifest.chunks[index] || chunk.length < 16) return { ok: false, reason: 'tampered' };
  try {
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(manifest.key, 'base64url'), nonceFor(index));
    decipher.setAAD(additionalData(callId, index));
    decipher.setAuthTag(chunk.subarray(chunk.length - 16));
    return { ok: true, audio: Buffer.concat([decipher.update(chunk.subarray(0, chunk.length - 16)), decipher.final()]) };
  } catch {
    return { ok: false, reason: 'tampered' };
  }
}

/** The manifest, when `value` is one (from a sealed payload: the signature covers it, the shape is still checked). */
export function parseVoiceManifest(value: unknown): VoiceManifest | undefined {
  const m = value as Partial<VoiceManifest> | null;
  if (!m || typeof m !== 'object' || m.codec !== VOICE_CODEC) return undefined;
  if (!Number.isSafeInteger(m.durationMs) || m.durationMs! <= 0 || m.durationMs! > MAX_VOICE_MS + 1000) return undefined;
  if (typeof m.key !== 'string' || Buffer.from(m.key, 'base64url').length !== 32) return undefined;
  if (!Array.isArray(m.chunks) || m.chunks.length === 0 || m.chunks.length > MAX_VOICE_CHUNKS) return undefined;
  if (!m.chunks.every((c) => typeof c === 'string' && /^[A-Za-z0-9_-]{43}$/.test(c))) return undefined;
  return { codec: VOICE_CODEC, durationMs: m.durationMs!, key: m.key, chunks: [...m.chunks] };
}

function nonceFor(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(index, 8);
  return nonce;
}

function additionalData(callId: string, index: number): Buffer {
  return Buffer.from(`${LABEL}\n${callId}\n${index}`);
}
