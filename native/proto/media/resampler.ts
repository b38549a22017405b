// Sample rate conversion for call audio, streaming: the UI and recordings run at 48 kHz, a call
// at its codec's rate (G.711 8 kHz, G.722 16 kHz, Opus 48 kHz). A rational ratio up/down with a
// polyphase windowed-sinc low-pass, so going down does not alias and going up does not image.
// Only the call in focus and a recording pay for it; the codecs work at their own rates.

/** Zero crossings of the sinc on each side, at the lower of the two rates: the filter's reach (1 ms at 8 kHz). */
const ZERO_CROSSINGS = 8;
/** The pass band ends this far below the lower rate's Nyquist frequency, so the transition band fits. */
const PASS_FRACTION = 0.9;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Blackman window over [-1, 1]. */
function window(x: number): number {
  return 0.42 + 0.5 * Math.cos(Math.PI * x) + 0.08 * Math.cos(2 * Math.PI * x);
}

export class StreamResampler {
  private readonly up: number;
  private readonly down: number;
  /** phases[φ][i] multiplies the input i samples before the newest one an output of phase φ reaches. */
  private readonly phases: Float32Array[];
  /** The last inputs an output may reach back to, oldest first; zeros before the stream began. */
  private tail: Float32Array;
  /** Virtual (upsampled) position of the next output, counted from the first sample of `tail`. */
  private position: number;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    if (!(Number.isInteger(fromRate) && fromRate > 0 && Number.isInteger(toRate) && toRate > 0)) {
      throw new RangeError(`cannot resample from ${fromRate} Hz to ${toRate} Hz`);
    }
    const g = gcd(fromRate, toRate);
    this.up = toRate / g;
    this.down = fromRate / g;
    const virtualRate = fromRate * this.up;
    const lower = Math.min(fromRate, toRate);
    const cutoff = (PASS_FRACTION * lower) / 2 / virtualRate; // cycles per virtual sample
    const half = Math.ceil((ZERO_CROSSINGS * virtualRate) / lower);
    const taps = new Float64Array(2 * half + 1);
    for (let m = 0; m < taps.length; m++) {
      const x = 2 * Math.PI * cutoff * (m - half);
      const sinc = x === 0 ? 1 : Math.sin(x) / x;
      // Upsampling puts up-1 zeros between inputs: the gain `up` brings the level back.
      taps[m] = this.up * 2 * cutoff * sinc * window((m - half) / (half + 1));
    }
    this.phases = [];
    for (let phase = 0; phase < this.up; phase++) {
      const coefficients: number[] = [];
      for (let m = phase; m < taps.length; m += this.up) coefficients.push(taps[m]);
      this.phases.push(Float32Array.from(coefficients));
    }
    const reach = Math.max(...this.phases.map((p) => p.length));
    this.tail = new Float32Array(reach);
    // The first output lines up with the first real input.
    this.position = reach * this.up;
  }

  /** Converts the next piece of the stream; 20 ms in gives 20 ms out for rates that divide 50. */
  process(input: Int16Array): Int16Array {
    const reach = this.tail.length;
    const buffer = new Float32Array(reach + input.length);
    buffer.set(this.tail);
    for (let i = 0; i < input.length; i++) buffer[reach + i] = input[i];
    const newest = buffer.length - 1;
    const last = newest * this.up + this.up - 1;
    const count = last < this.position ? 0 : Math.floor((last - this.position) / this.down) + 1;
    const out = new Int16Array(count);
    for (let n = 0; n < count; n++) {
      const p = this.position + n * this.down;
      // An output at virtual position p reaches back from input floor(p / up).
      const anchor = Math.floor(p / this.up);
      const coefficients = this.phases[p % this.up];
      let sum = 0;
      for (let i = 0; i < coefficients.length; i++) sum += coefficients[i] * buffer[anchor - i];
      out[n] = sum > 32767 ? 32767 : sum < -32768 ? -32768 : Math.round(sum);
    }
    this.position += count * this.down - input.length * this.up;
    this.tail = buffer.slice(buffer.length - reach);
    return out;
  }
}

/** Whole-signal conversion (a WAV file's samples), through the same filter. */
export function resample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return samples;
  const resampler = new StreamResampler(fromRate, toRate);
  const delay = resamplerDelay(fromRate, toRate);
  // Flush the filter with silence so the end of the signal comes out too, then drop its delay.
  const padded = new Int16Array(samples.length + Math.ceil((delay * fromRate) / toRate) + 1);
  padded.set(samples);
  const converted = resampler.process(padded);
  const length = Math.floor((samples.length * toRate) / fromRate);
  return converted.slice(delay, delay + length);
}

/** The filter's delay in output samples (it is linear phase: half its length). */
export function resamplerDelay(fromRate: number, toRate: number): number {
  const lower = Math.min(fromRate, toRate);
  return Math.round((ZERO_CROSSINGS * toRate) / lower);
}

/**
 * Turns frames at whatever rate they come into frames at the rate asked for, keeping one
 * converter while the pair of rates stays the same (its filter state is the stream's).
 */
export class RateConverter {
  private converter: StreamResampler | undefined;

  convert(frame: Int16Array, fromRate: number, toRate: number): Int16Array {
    if (fromRate === toRate) return frame;
    if (this.converter?.fromRate !== fromRate || this.converter.toRate !== toRate) this.converter = new StreamResampler(fromRate, toRate);
    return this.converter.process(frame);
  }
}
