// Audio frames as they cross a control adapter: raw bytes in (a WebSocket message or an IPC
// argument), one AUDIO_FRAME_BYTES frame of little-endian 16-bit PCM out.
import { AUDIO_FRAME_BYTES, AUDIO_FRAME_SAMPLES } from './api.js';

/** The bytes of what a client sent: ws hands Buffers (or fragments), IPC hands ArrayBuffers or views. */
function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) return Buffer.concat(data);
  return undefined;
}

/** One microphone frame, or undefined when `data` is not exactly one frame. Always a fresh, aligned copy. */
export function frameFromBytes(data: unknown): Int16Array | undefined {
  const bytes = bytesOf(data);
  if (!bytes || bytes.byteLength !== AUDIO_FRAME_BYTES) return undefined;
  const frame = new Int16Array(AUDIO_FRAME_SAMPLES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < AUDIO_FRAME_SAMPLES; i++) frame[i] = view.getInt16(i * 2, true);
  return frame;
}

/** A speaker frame as its own ArrayBuffer of little-endian samples, ready to post or send. */
export function bytesOfFrame(frame: Int16Array): ArrayBuffer {
  const out = new ArrayBuffer(frame.length * 2);
  const view = new DataView(out);
  for (let i = 0; i < frame.length; i++) view.setInt16(i * 2, frame[i], true);
  return out;
}
