// A streaming sample-rate converter for one mono signal, fed in render-quantum-sized blocks
// (128 samples in an AudioWorklet). Linear interpolation between input samples, with the
// fractional read position kept across blocks so block edges make no clicks. Going down (a 96 kHz
// device to the engine's 48 kHz, say) a low-pass filter runs first, so what lies above the new
// Nyquist frequency does not fold back into the audio as noise.
import { LowPassFilter } from './low-pass-filter.js';

export class StreamResampler {
  /** Input samples per output sample. */
  private readonly step: number;
  /** Where the next output sample lies, in input samples counted from `previous`. */
  private position = 0;
  /** The last input sample of the previous block (index -1 of the current one). */
  private previous = 0;
  private readonly filter?: LowPassFilter;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    if (!(fromRate > 0 && toRate > 0)) throw new RangeError('sample rates must be positive');
    this.step = fromRate / toRate;
    // Cut a little below the new Nyquist frequency.
    if (toRate < fromRate) this.filter = new LowPassFilter(fromRate, toRate * 0.45);
  }

  /** Converts one block; the output length varies by a sample from block to block. */
  process(block: Float32Array): Float32Array {
    const input = this.filter ? this.filter.process(block) : block;
    const out: number[] = [];
    // Position 0 is `previous`, position k is input[k - 1]: every position below input.length
    // has both of its neighbours at hand.
    let pos = this.position;
    while (pos < input.length) {
      const i = Math.floor(pos);
      const a = i === 0 ? this.previous : input[i - 1];
      out.push(a + (input[i] - a) * (pos - i));
      pos += this.step;
    }
    this.position = pos - input.length;
    if (input.length > 0) this.previous = input[input.length - 1];
    return Float32Array.from(out);
  }
}
