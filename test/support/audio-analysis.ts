// Did a call really carry the voice? The interop tests compare the WAV one side played with the
// WAV the other side recorded: long enough, louder than silence, and shaped like what was sent.
//
// Shape is compared on loudness envelopes (RMS per 10 ms), not on raw samples: G.711 adds
// quantisation noise, a jitter buffer stretches and conceals, and a peer may resample, so samples
// drift out of phase within a second while the envelope of speech (syllables, pauses) survives all
// of that and stays the same at any sample rate.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeWav, type WavAudio } from '../../native/wire/audio/wav.js';

export const ENVELOPE_FRAME_MS = 10;
/** Below this a 16-bit recording is silence for our purposes (G.711 idle noise sits near -70 dBFS). */
export const SILENCE_DBFS = -55;

export function readWav(file: string): WavAudio {
  return decodeWav(readFileSync(file));
}

export function durationSeconds(audio: WavAudio): number {
  return audio.samples.length / audio.sampleRate;
}

/** RMS relative to a full-scale 16-bit square wave, in dB; -Infinity for digital silence. */
export function rmsDbfs(samples: Int16Array): number {
  if (samples.length === 0) return -Infinity;
  let sum = 0;
  for (const s of samples) sum += s * s;
  return 20 * Math.log10(Math.sqrt(sum / samples.length) / 32768);
}

/** RMS of each 10 ms frame (linear, 0..1 of full scale); frames are cut by time, so any sample rate gives 100 per second. */
export function envelope(audio: WavAudio, frameMs = ENVELOPE_FRAME_MS): Float64Array {
  const frameSamples = Math.max(1, Math.round((audio.sampleRate * frameMs) / 1000));
  const frames = Math.floor(audio.samples.length / frameSamples);
  const out = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = f * frameSamples; i < (f + 1) * frameSamples; i++) sum += audio.samples[i] * audio.samples[i];
    out[f] = Math.sqrt(sum / frameSamples) / 32768;
  }
  return out;
}

/** Seconds of audio whose 10 ms frames are louder than `thresholdDbfs`: how much of a recording is sound, not silence. */
export function soundSeconds(audio: WavAudio, thresholdDbfs = SILENCE_DBFS): number {
  const threshold = 10 ** (thresholdDbfs / 20);
  let loud = 0;
  for (const v of envelope(audio)) if (v > threshold) loud++;
  return (loud * ENVELOPE_FRAME_MS) / 1000;
}

/** The loudness of the sound in a recording (its frames above silence), in dBFS; -Infinity when all is silence. */
export function soundDbfs(audio: WavAudio, thresholdDbfs = SILENCE_DBFS): number {
  const threshold = 10 ** (thresholdDbfs / 20);
  let sum = 0;
  let count = 0;
  for (const v of envelope(audio)) {
    if (v <= threshold) continue;
    sum += v * v;
    count++;
  }
  return count ? 20 * Math.log10(Math.sqrt(sum / count)) : -Infinity;
}

/**
 * Speech bands (Hz) whose loudness is followed separately: two voices with the same rhythm still
 * differ in where their energy sits, so matching per band tells them apart. All lie below 4 kHz,
 * so G.711 keeps them all.
 */
const BANDS: ReadonlyArray<readonly [number, number]> = [
  [200, 500],
  [500, 1000],
  [1000, 2000],
  [2000, 3500],
];
/** What a wideband call (G.722, Opus) carries on top: fricatives live here, and G.711 cuts it all. */
const WIDE_BANDS: ReadonlyArray<readonly [number, number]> = [...BANDS, [3500, 5000], [5000, 7000]];

/** The signal through a band-pass biquad (RBJ audio-EQ cookbook, 0 dB peak), twice for steeper skirts. */
function bandPass(samples: Int16Array, sampleRate: number, low: number, high: number): Float64Array {
  const centre = Math.sqrt(low * high);
  const w0 = (2 * Math.PI * centre) / sampleRate;
  const alpha = Math.sin(w0) / (2 * (centre / (high - low)));
  const a0 = 1 + alpha;
  const [b0, b2, a1, a2] = [alpha / a0, -alpha / a0, (-2 * Math.cos(w0)) / a0, (1 - alpha) / a0];
  let signal = Float64Array.from(samples);
  for (let pass = 0; pass < 2; pass++) {
    const out = new Float64Array(signal.length);
    let [x1, x2, y1, y2] = [0, 0, 0, 0];
    for (let i = 0; i < signal.length; i++) {
      const y = b0 * signal[i] + b2 * x2 - a1 * y1 - a2 * y2;
      [x2, x1, y2, y1] = [x1, signal[i], y1, y];
      out[i] = y;
    }
    signal = out;
  }
  return signal;
}

/**
 * The level (dBFS) of what lies between `low` and `high` Hz: 4-7 kHz tells a wideband call (G.722,
 * Opus) from a telephone-band one (G.711 carries nothing above 4 kHz).
 */
export function bandDbfs(audio: WavAudio, low: number, high: number): number {
  if (high >= audio.sampleRate / 2) return -Infinity;
  const filtered = bandPass(audio.samples, audio.sampleRate, low, high);
  let sum = 0;
  for (const v of filtered) sum += v * v;
  return 20 * Math.log10(Math.sqrt(sum / Math.max(1, filtered.length)) / 32768);
}

/** One loudness envelope (RMS per 10 ms) per speech band below `topHz` (and below the audio's own Nyquist frequency). */
export function bandEnvelopes(audio: WavAudio, topHz = audio.sampleRate / 2, bands = BANDS): Float64Array[] {
  const frameSamples = Math.max(1, Math.round((audio.sampleRate * ENVELOPE_FRAME_MS) / 1000));
  const frames = Math.floor(audio.samples.length / frameSamples);
  return bands.filter(([, high]) => high < Math.min(topHz, audio.sampleRate / 2)).map(([low, high]) => {
    const filtered = bandPass(audio.samples, audio.sampleRate, low, high);
    const out = new Float64Array(frames);
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let i = f * frameSamples; i < (f + 1) * frameSamples; i++) sum += filtered[i] * filtered[i];
      out[f] = Math.sqrt(sum / frameSamples) / 32768;
    }
    return out;
  });
}

export interface Match {
  /**
   * How alike the recording is to the sent signal, -1..1: the correlation of their band
   * envelopes, each second of the sent signal allowed to slip a little against the recording
   * (a jitter buffer that stretched or skipped), averaged weighted by how much sound that second holds.
   */
  correlation: number;
  /** The correlation at the one best offset for the whole signal, without slip. */
  rigidCorrelation: number;
  /** Where the sent signal starts in the recording, in seconds (negative: the recording began after it started). */
  offsetSeconds: number;
  /** How much of the sent signal the best overlap covers, 0..1. */
  overlap: number;
}

export interface MatchOptions {
  /** Smallest share of the sent signal that must lie inside the recording at a candidate offset. */
  minOverlap?: number;
  /** How far (seconds) each second of the sent signal may slip from the whole signal's best offset. */
  slipSeconds?: number;
  /** Also compare 3.5-7 kHz, where a wideband call carries speech and G.711 nothing. */
  wideband?: boolean;
}

const CHUNK_FRAMES = 2000 / ENVELOPE_FRAME_MS;

/**
 * Template matching: slides the sent signal's band envelopes along the recording's and keeps the
 * offset of best normalised correlation; then lets each second slip by up to `slipSeconds`
 * around it. Each candidate is scored on its own window, so silence and other sounds elsewhere
 * in the recording neither help nor hurt.
 */
export function bestMatch(sent: WavAudio, received: WavAudio, options: MatchOptions = {}): Match {
  // Only the bands both signals can hold: a recording at a lower rate lost the top ones.
  const topHz = Math.min(sent.sampleRate, received.sampleRate) / 2;
  const bands = options.wideband ? WIDE_BANDS : BANDS;
  const template = bandEnvelopes(sent, topHz, bands);
  // The recording's bands are those the sent signal has, even where the recording has nothing:
  // a call that lost the high band must score for it.
  const recording = bandEnvelopes(received, received.sampleRate / 2, bands.filter(([, high]) => high < topHz));
  const templateFrames = template[0]?.length ?? 0;
  const recordingFrames = recording[0]?.length ?? 0;
  const need = Math.max(2, Math.ceil(templateFrames * (options.minOverlap ?? 0.6)));
  const none: Match = { correlation: 0, rigidCorrelation: 0, offsetSeconds: 0, overlap: 0 };
  let best = { r: -Infinity, lag: 0 };
  for (let lag = need - templateFrames; lag <= recordingFrames - need; lag++) {
    const from = Math.max(0, -lag);
    const to = Math.min(templateFrames, recordingFrames - lag);
    const r = pooledCorrelation(template, from, recording, from + lag, to - from).r;
    if (r > best.r) best = { r, lag };
  }
  if (best.r === -Infinity) return none;

  const slip = Math.round(((options.slipSeconds ?? 0.2) * 1000) / ENVELOPE_FRAME_MS);
  const from = Math.max(0, -best.lag);
  const to = Math.min(templateFrames, recordingFrames - best.lag);
  let weighted = 0;
  let weights = 0;
  for (let chunk = from; chunk < to; chunk += CHUNK_FRAMES) {
    const length = Math.min(CHUNK_FRAMES, to - chunk);
    if (length < CHUNK_FRAMES / 2) break;
    let chunkBest = { r: 0, weight: 0 };
    for (let lag = best.lag - slip; lag <= best.lag + slip; lag++) {
      if (chunk + lag < 0 || chunk + lag + length > recordingFrames) continue;
      const c = pooledCorrelation(template, chunk, recording, chunk + lag, length);
      if (c.r > chunkBest.r || chunkBest.weight === 0) chunkBest = c;
    }
    weighted += chunkBest.r * chunkBest.weight;
    weights += chunkBest.weight;
  }
  return {
    correlation: weights > 0 ? weighted / weights : best.r,
    rigidCorrelation: best.r,
    offsetSeconds: (best.lag * ENVELOPE_FRAME_MS) / 1000,
    overlap: (to - from) / templateFrames,
  };
}

/**
 * Pearson correlation pooled over bands: each band's mean is taken out separately, so the
 * ordinary spectral tilt of speech (more energy low than high) does not count as a match.
 * `weight` is the template window's variance: how much shape (sound) it has to match.
 */
function pooledCorrelation(a: Float64Array[], aStart: number, b: Float64Array[], bStart: number, n: number): { r: number; weight: number } {
  let cov = 0;
  let varA = 0;
  let varB = 0;
  for (let band = 0; band < a.length; band++) {
    const x = a[band];
    const y = b[band];
    let sumX = 0;
    let sumY = 0;
    for (let i = 0; i < n; i++) {
      sumX += x[aStart + i];
      sumY += y[bStart + i];
    }
    const meanX = sumX / n;
    const meanY = sumY / n;
    for (let i = 0; i < n; i++) {
      const dx = x[aStart + i] - meanX;
      const dy = y[bStart + i] - meanY;
      cov += dx * dy;
      varA += dx * dx;
      varB += dy * dy;
    }
  }
  // A flat window (silence) carries no shape: it cannot match anything.
  if (varA === 0 || varB === 0) return { r: 0, weight: varA };
  return { r: cov / Math.sqrt(varA * varB), weight: varA };
}

/** One line for assertion messages: what a recording holds. */
export function describeRecording(audio: WavAudio, sent?: WavAudio): string {
  const parts = [
    `${durationSeconds(audio).toFixed(2)} s at ${audio.sampleRate} Hz`,
    `${soundSeconds(audio).toFixed(2)} s of sound at ${soundDbfs(audio).toFixed(1)} dBFS`,
  ];
  if (sent) {
    const m = bestMatch(sent, audio);
    parts.push(`correlation ${m.correlation.toFixed(3)} (rigid ${m.rigidCorrelation.toFixed(3)}) at ${m.offsetSeconds.toFixed(2)} s, overlap ${(m.overlap * 100).toFixed(0)}%`);
  }
  return parts.join(', ');
}

export const AUDIO_TOOLS_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs espeak-ng and sox)';

/** Throws a sentence that says how to install espeak-ng and sox when either is missing. */
export function requireAudioTools(): void {
  for (const [tool, args] of [
    ['espeak-ng', ['--version']],
    ['sox', ['--version']],
  ] as const) {
    const probe = spawnSync(tool, args, { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) throw new Error(`${tool} is not installed or does not run: ${AUDIO_TOOLS_HINT}`);
  }
}

function run(tool: string, args: string[]): void {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`could not run ${tool} (${r.error.message}): ${AUDIO_TOOLS_HINT}`);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed with ${r.status}: ${r.stderr}`);
}

export interface SpokenWav {
  /** The speech alone, mono 16-bit (8 kHz unless asked otherwise): what a recording is compared with. */
  speech: string;
  /** The speech followed by silence, for players that hang up when their file ends (baresip's aufile). */
  padded: string;
}

/**
 * Speaks `text` with espeak-ng into DIR/NAME.wav at 8 kHz mono 16-bit (the rate G.711 carries,
 * so nothing is lost on the way but quantisation), plus DIR/NAME-padded.wav with `padSeconds` of silence after it.
 */
export function makeSpeechWav(dir: string, name: string, text: string, options: { voice?: string; padSeconds?: number; sampleRate?: number } = {}): SpokenWav {
  const raw = path.join(dir, `${name}-espeak.wav`);
  const speech = path.join(dir, `${name}.wav`);
  const padded = path.join(dir, `${name}-padded.wav`);
  run('espeak-ng', [...(options.voice ? ['-v', options.voice] : []), '-w', raw, text]);
  run('sox', [raw, '-r', String(options.sampleRate ?? 8000), '-c', '1', '-b', '16', '-e', 'signed-integer', speech]);
  run('sox', [speech, padded, 'pad', '0', String(options.padSeconds ?? 20)]);
  return { speech, padded };
}

export async function audioTempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'peerdial-audio-'));
}
