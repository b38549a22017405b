// Helpers for tests of calls between in-process engines: tone files, and waiting for a call
// to reach a state.
import { writeFile } from 'node:fs/promises';
import type { CallView, StreamItem } from '../../native/control/api.js';
import type { NodeControl } from './control.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { encodeWav, type WavAudio } from '../../native/wire/audio/wav.js';

/** A sine tone at 8 kHz, loud enough to be unmistakable through G.711. */
export function tone(hz: number, seconds: number, sampleRate = 8000): WavAudio {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(12_000 * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return { sampleRate, samples };
}

export async function writeTone(file: string, hz: number, seconds: number): Promise<string> {
  await writeFile(file, encodeWav(tone(hz, seconds)));
  return file;
}

/** The rate a node's --record file is written at (native/services/calls/wav-file-audio.ts). */
export const RECORDING_RATE = 48_000;

/**
 * The frequency of a steady tone: the median over its loud 50 ms windows of the rate between
 * each window's first and last zero crossing (undefined when there is hardly any sound). A
 * median, because a call's audio has gaps and concealment fades where a lost packet was:
 * counted over a whole recording, a fade's skipped quiet crossings read a 600 Hz echo as 583 Hz.
 */
export function toneHz(samples: Int16Array, sampleRate = RECORDING_RATE): number | undefined {
  // Read at 8 kHz (every sixth sample of a 48 kHz recording): a quiet sample on each side of a
  // crossing says the crossing is in silence, which holds only where samples are that far apart.
  const step = sampleRate > 8000 && sampleRate % 8000 === 0 ? sampleRate / 8000 : 1;
  const rate = sampleRate / step;
  const window = Math.round(rate / 20);
  const estimates: number[] = [];
  let loudTotal = 0;
  for (let start = step; start + window * step <= samples.length; start += window * step) {
    let loud = 0;
    let first: number | undefined;
    let last = 0;
    let crossings = 0;
    for (let n = 0; n < window; n++) {
      const i = start + n * step;
      const previous = samples[i - step];
      if (Math.abs(samples[i]) < 1000 && Math.abs(previous) < 1000) continue;
      loud++;
      if (previous < 0 === samples[i] < 0) continue;
      // Where between the two samples the line through them crosses zero, in 8 kHz samples.
      const at = n - 1 + previous / (previous - samples[i]);
      first ??= at;
      last = at;
      crossings++;
    }
    loudTotal += loud;
    // A steady tone is loud for most of a window; one mostly quiet is silence or a fade.
    if (loud >= window * 0.7 && crossings >= 3 && last > first!) estimates.push(((crossings - 1) / 2) * (rate / (last - first!)));
  }
  if (loudTotal < rate / 2 || estimates.length === 0) return undefined;
  estimates.sort((a, b) => a - b);
  return estimates[Math.floor(estimates.length / 2)];
}

/**
 * Every call.changed an engine publishes from the moment it is made; `waitFor` finds a view
 * already seen or waits for the next one that matches.
 */
export class CallEvents {
  readonly seen: CallView[] = [];
  private readonly waiters = new Set<{ match: (v: CallView) => boolean; resolve: (v: CallView) => void }>();
  private readonly stop: () => void;

  constructor(engine: Engine) {
    this.stop = engine.api.subscribe({ epoch: engine.api.events.epoch, seq: engine.api.events.lastSeq }, (item: StreamItem) => {
      if (item.type !== 'call.changed') return;
      this.seen.push(item.data);
      for (const w of [...this.waiters]) {
        if (!w.match(item.data)) continue;
        this.waiters.delete(w);
        w.resolve(item.data);
      }
    });
  }

  waitFor(what: string, match: (view: CallView) => boolean, timeoutMs = 10_000): Promise<CallView> {
    const found = this.seen.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (v: CallView) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const last = this.seen.slice(-3).map((v) => `${v.direction} ${v.state} ${v.endReason ?? ''}`).join('; ');
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last seen: ${last || 'nothing'})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.stop();
  }
}

/** The latest view of every call a node process reports over its control socket, by call id. */
export function watchCalls(control: NodeControl): Map<string, CallView> {
  const calls = new Map<string, CallView>();
  control.subscribe(undefined, (item) => {
    if (item.type === 'call.changed') calls.set(item.data.id, item.data);
  });
  return calls;
}

export function describeCalls(calls: Map<string, CallView>): () => string {
  return () => `calls seen: ${JSON.stringify([...calls.values()])}`;
}

/** The fraction of 20 ms frames (of `sampleRate` samples a second) whose zero crossings put them within 40 Hz of `hz`. */
export function framesAt(frames: Int16Array[], hz: number, sampleRate = 8000): number {
  let near = 0;
  for (const frame of frames) {
    let crossings = 0;
    for (let i = 1; i < frame.length; i++) if (frame[i - 1] < 0 !== frame[i] < 0) crossings++;
    if (Math.abs((crossings / 2) * (sampleRate / frame.length) - hz) < 40) near++;
  }
  return near / Math.max(1, frames.length);
}

/** 20 ms frames: 160 samples at 8 kHz, 960 at the recordings' 48 kHz. */
export function framesOf(samples: Int16Array, size = 160): Int16Array[] {
  return Array.from({ length: Math.floor(samples.length / size) }, (_, i) => samples.subarray(i * size, (i + 1) * size));
}
