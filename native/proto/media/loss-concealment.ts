// Basic packet loss concealment for 20 ms linear PCM frames: repeat the last good frame with a
// gain that falls linearly to zero over FADE_MS, then silence. Repeating keeps the pitch of
// voiced speech for a short gap; fading avoids the buzz a long repetition would make.

const FADE_MS = 60;

export class LossConcealer {
  private lastFrame: Int16Array | undefined;
  private concealedSamples = 0;

  constructor(private readonly sampleRate = 8000) {}

  /** Remembers a frame that was really received (and ends any concealment run). */
  received(frame: Int16Array): Int16Array {
    this.lastFrame = frame;
    this.concealedSamples = 0;
    return frame;
  }

  /** A stand-in for one missing frame of `length` samples. */
  conceal(length: number): Int16Array {
    const out = new Int16Array(length);
    const fadeSamples = (this.sampleRate * FADE_MS) / 1000;
    const source = this.lastFrame;
    if (source && source.length > 0) {
      for (let i = 0; i < length; i++) {
        const position = this.concealedSamples + i;
        if (position >= fadeSamples) break;
        const gain = 1 - position / fadeSamples;
        out[i] = Math.round(source[position % source.length] * gain);
      }
    }
    this.concealedSamples += length;
    return out;
  }

  get concealing(): boolean {
    return this.concealedSamples > 0;
  }
}
