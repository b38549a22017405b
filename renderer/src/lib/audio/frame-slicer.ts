// Cuts a stream of 48 kHz samples (arriving in blocks of any length) into the engine's 20 ms
// frames of 16-bit PCM.
import { FRAME_SAMPLES } from './frame-format.js';
import { floatToInt16 } from './pcm.js';

export class FrameSlicer {
  private readonly pending = new Float32Array(FRAME_SAMPLES);
  private filled = 0;

  /** Every whole frame the new samples complete, oldest first; the rest waits for the next block. */
  push(samples: Float32Array): Int16Array[] {
    const frames: Int16Array[] = [];
    let at = 0;
    while (at < samples.length) {
      const take = Math.min(FRAME_SAMPLES - this.filled, samples.length - at);
      this.pending.set(samples.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === FRAME_SAMPLES) {
        frames.push(floatToInt16(this.pending));
        this.filled = 0;
      }
    }
    return frames;
  }
}
