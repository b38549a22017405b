// The speaker's small buffer, at the audio device's rate. Frames from the engine arrive in
// bursts (network, IPC, the main thread's timing); the device pulls 128 samples at a steady
// pace. Playback starts once `targetMs` is buffered; when more than `maxMs` piles up (the
// device runs slower than the sender, or a burst arrived) the oldest audio is dropped back to
// the target, so delay cannot creep up; on underrun it plays silence and fills up again.
export interface PlayoutStats {
  underruns: number;
  droppedSamples: number;
}

export class PlayoutFifo {
  private readonly buffer: Float32Array;
  private readPos = 0;
  private length = 0;
  private playing = false;
  private readonly target: number;
  private readonly max: number;
  readonly stats: PlayoutStats = { underruns: 0, droppedSamples: 0 };

  constructor(sampleRate: number, targetMs = 60, maxMs = 200) {
    this.target = Math.round((sampleRate * targetMs) / 1000);
    this.max = Math.max(this.target + 1, Math.round((sampleRate * maxMs) / 1000));
    this.buffer = new Float32Array(this.max + sampleRate); // room for a whole second of burst
  }

  /** Samples buffered now. */
  get buffered(): number {
    return this.length;
  }

  push(samples: Float32Array): void {
    const capacity = this.buffer.length;
    let input = samples;
    if (input.length > capacity) input = input.subarray(input.length - capacity);
    const overflow = this.length + input.length - capacity;
    if (overflow > 0) this.discard(overflow);
    for (let i = 0; i < input.length; i++) this.buffer[(this.readPos + this.length + i) % capacity] = input[i];
    this.length += input.length;
    if (this.length > this.max) this.discard(this.length - this.target);
  }

  /** Fills `out` completely: audio when there is enough, silence otherwise. */
  pull(out: Float32Array): void {
    if (!this.playing && this.length >= this.target) this.playing = true;
    if (!this.playing) {
      out.fill(0);
      return;
    }
    const take = Math.min(out.length, this.length);
    const capacity = this.buffer.length;
    for (let i = 0; i < take; i++) out[i] = this.buffer[(this.readPos + i) % capacity];
    out.fill(0, take);
    this.readPos = (this.readPos + take) % capacity;
    this.length -= take;
    if (take < out.length) {
      this.stats.underruns++;
      this.playing = false;
    }
  }

  private discard(count: number): void {
    this.stats.droppedSamples += count;
    this.readPos = (this.readPos + count) % this.buffer.length;
    this.length -= count;
  }
}
