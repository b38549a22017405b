// A deterministic stand-in for speech, for codec tests and benchmarks that must not depend on
// espeak-ng: a glottal pulse train whose pitch glides (90-220 Hz) through three formant resonators
// that move every syllable, 4 syllables a second with short pauses, and noisy fricatives with
// energy up to 7 kHz where the rate allows (so wideband codecs have a high band to carry).
import { seededRandom } from './random.js';

/** Two-pole resonator coefficients for a formant at `hz` with bandwidth `bw`. */
function resonator(hz: number, bw: number, rate: number): [number, number, number] {
  const r = Math.exp((-Math.PI * bw) / rate);
  const b1 = 2 * r * Math.cos((2 * Math.PI * hz) / rate);
  const b2 = -r * r;
  return [1 - b1 - b2, b1, b2];
}

const VOWELS: Array<[number, number, number]> = [
  [730, 1090, 2440], // a
  [270, 2290, 3010], // i
  [300, 870, 2240], // u
  [530, 1840, 2480], // e
  [570, 840, 2410], // o
];

/** `seconds` of speech-like 16-bit mono PCM at `sampleRate`, peaking near -6 dBFS. */
export function speechLike(sampleRate: number, seconds: number, seed = 7): Int16Array {
  const random = seededRandom(seed);
  const out = new Int16Array(Math.round(sampleRate * seconds));
  const syllable = Math.round(sampleRate * 0.25);
  const nyquistRoom = sampleRate / 2 - 500;
  const state = [0, 0, 0, 0, 0, 0];
  let phase = 0;
  let formants: Array<[number, number, number]> = [];
  let fricative = false;
  let noiseHp = 0;
  let previousNoise = 0;
  let peak = 1;
  const raw = new Float64Array(out.length);
  for (let i = 0; i < out.length; i++) {
    const inSyllable = i % syllable;
    if (inSyllable === 0) {
      const vowel = VOWELS[Math.floor(random() * VOWELS.length)];
      formants = vowel.map((hz, k) => resonator(Math.min(hz, nyquistRoom), 60 + 40 * k, sampleRate));
      fricative = random() < 0.3;
    }
    // Each syllable rises and falls; the last fifth is a pause.
    const position = inSyllable / syllable;
    const envelope = position > 0.8 ? 0 : Math.sin((Math.PI * position) / 0.8);
    const t = i / sampleRate;
    const pitch = 155 + 65 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += pitch / sampleRate;
    let excitation = 0;
    if (phase >= 1) {
      phase -= 1;
      excitation = 1;
    }
    let voiced = excitation;
    for (let k = 0; k < 3; k++) {
      const [g, b1, b2] = formants[k];
      const y = g * voiced + b1 * state[2 * k] + b2 * state[2 * k + 1];
      state[2 * k + 1] = state[2 * k];
      state[2 * k] = y;
      voiced = k === 0 ? y : voiced + y * 0.5; // cascade-ish, keeps the upper formants audible
    }
    // Fricatives: first-difference (high-passed) noise in the first part of some syllables.
    const noise = random() * 2 - 1;
    noiseHp = noise - previousNoise;
    previousNoise = noise;
    const hiss = fricative && position < 0.3 ? noiseHp * 0.15 : 0;
    raw[i] = envelope * (voiced + hiss);
    peak = Math.max(peak, Math.abs(raw[i]));
  }
  const gain = 16000 / peak;
  for (let i = 0; i < out.length; i++) out[i] = Math.round(raw[i] * gain);
  return out;
}

/** Cuts `pcm` into whole frames of `size` samples (a trailing partial frame is dropped). */
export function framesOf(pcm: Int16Array, size: number): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let i = 0; i + size <= pcm.length; i += size) frames.push(pcm.subarray(i, i + size));
  return frames;
}

/** Signal-to-noise ratio of `decoded` against `reference` in dB, over their common length. */
export function snrDb(reference: Int16Array, decoded: Int16Array, delay = 0): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i + delay < decoded.length && i < reference.length; i++) {
    signal += reference[i] ** 2;
    noise += (reference[i] - decoded[i + delay]) ** 2;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1));
}

/** Normalized cross-correlation of `a` with `b` shifted by `delay` samples (b[i + delay] against a[i]). */
export function correlation(a: Int16Array, b: Int16Array, delay = 0): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length && i + delay < b.length; i++) {
    if (i + delay < 0) continue;
    ab += a[i] * b[i + delay];
    aa += a[i] * a[i];
    bb += b[i + delay] * b[i + delay];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

/** The delay (0..maxDelay samples) at which `b` best matches `a`, and the correlation there. */
export function bestDelay(a: Int16Array, b: Int16Array, maxDelay: number): { delay: number; correlation: number } {
  let best = { delay: 0, correlation: -Infinity };
  for (let d = 0; d <= maxDelay; d++) {
    const c = correlation(a, b, d);
    if (c > best.correlation) best = { delay: d, correlation: c };
  }
  return best;
}
