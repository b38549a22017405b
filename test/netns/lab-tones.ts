// Tones for calls in the NAT lab: each Peerdial user plays its own tone (--play) and records what
// it hears (--record, appended call after call); a call carried the audio when the recording
// gained the other side's tone.
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { toneHz, writeTone } from '../support/calls.js';

/** The CLI arguments that make a node play a `hz` tone into its calls and record them, and where it records. */
export async function toneArgs(dir: string, name: string, hz: number, seconds = 120): Promise<{ args: string[]; recording: string }> {
  const recording = path.join(dir, `${name}-heard.wav`);
  return { args: ['--play', await writeTone(path.join(dir, `${name}-tone.wav`), hz, seconds), '--record', recording], recording };
}

/** How many bytes a recording holds now (0 before its first call): where the next call's audio starts. */
export async function recordedBytes(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}

/** A recording's sample rate, from its WAV header (ours record at 48 kHz, baresip's at its own rate). */
async function recordingRate(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(28);
    await handle.read(header, 0, 28, 0);
    return header.readUInt32LE(24);
  } finally {
    await handle.close();
  }
}

/** Seconds of audio a recording gained since `fromByte`. */
export async function recordedSecondsSince(file: string, fromByte: number): Promise<number> {
  const size = await recordedBytes(file);
  if (size <= 44) return 0;
  return (size - Math.max(fromByte, 44)) / 2 / (await recordingRate(file));
}

/** The frequency of the tone a recording gained since `fromByte` (16-bit PCM appended as calls go on). */
export async function toneHeardSince(file: string, fromByte: number): Promise<number | undefined> {
  const size = await recordedBytes(file);
  const rate = await recordingRate(file);
  const handle = await open(file, 'r');
  try {
    // A fresh recording starts with its 44-byte WAV header.
    const start = Math.max(fromByte, 44);
    const bytes = Buffer.alloc(Math.max(0, (size - start) & ~1));
    await handle.read(bytes, 0, bytes.length, start);
    return toneHz(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2), rate);
  } finally {
    await handle.close();
  }
}
