// A bounded FIFO of audio frames that is itself an AudioSource: the UI's microphone frames and
// the echo test push into it, the media clock pulls one per tick at the call's rate. Past
// `capacity` frames the oldest is dropped, so a producer running ahead (or a stalled consumer)
// cannot build latency.
import type { AudioSource } from './audio-io.js';
import { RateConverter } from './resampler.js';

export const DEFAULT_FRAME_QUEUE_CAPACITY = 5;

export class FrameQueue implements AudioSource {
  private readonly frames: { frame: Int16Array; sampleRate: number }[] = [];
  private droppedFrames = 0;
  private readonly converter = new RateConverter();

  constructor(readonly capacity = DEFAULT_FRAME_QUEUE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('a frame queue holds at least one frame');
  }

  push(frame: Int16Array, sampleRate: number): void {
    if (this.frames.length >= this.capacity) {
      this.frames.shift();
      this.droppedFrames++;
    }
    this.frames.push({ frame, sampleRate });
  }

  read(sampleRate: number): Int16Array | undefined {
    const next = this.frames.shift();
    return next && this.converter.convert(next.frame, next.sampleRate, sampleRate);
  }

  clear(): void {
    this.frames.length = 0;
  }

  get length(): number {
    return this.frames.length;
  }

  /** Frames thrown away because the queue was full. */
  get dropped(): number {
    return this.droppedFrames;
  }
}
