// Runs ffmpeg over buffers (stdin to stdout), so codec tests compare our bytes with a reference
// implementation without temp files.
import { spawnSync } from 'node:child_process';

export const FFMPEG_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs ffmpeg)';

/** Whether ffmpeg runs here and has the named encoder/decoder (e.g. 'libopus', 'g722'). */
export function ffmpegHas(codec: string): boolean {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-codecs'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return false;
  return new RegExp(`\\b${codec}\\b`).test(r.stdout);
}

/** Throws a sentence that says how to install ffmpeg when it is missing. */
export function requireFfmpeg(): void {
  const r = spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`ffmpeg is not installed or does not run: ${FFMPEG_HINT}`);
}

/** ffmpeg with `args` around `-i pipe:0 ... pipe:1`: input in, output bytes back. */
export function ffmpeg(inputArgs: string[], input: Uint8Array, outputArgs: string[]): Buffer {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...inputArgs, '-i', 'pipe:0', ...outputArgs, 'pipe:1'], {
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`could not run ffmpeg (${r.error.message}): ${FFMPEG_HINT}`);
  if (r.status !== 0) throw new Error(`ffmpeg ${[...inputArgs, ...outputArgs].join(' ')} failed with ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** 16-bit little-endian PCM bytes as samples (copied, so alignment never matters). */
export function int16Of(bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}

export function bytesOf(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}
