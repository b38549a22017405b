// WAV files as call audio for the headless node (`--play`, `--record`) and tests: a source that
// plays a file once and then gives silence, and a sink that streams what it hears to disk.
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { FRAME_SAMPLES, SAMPLE_RATE, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import { decodeWav, wavHeader, type WavAudio } from '../../wire/audio/wav.js';

/** Plays 8 kHz frames of a WAV file once, then silence. Files at other rates are resampled. */
export class WavFileSource implements AudioSource {
  private position = 0;
  readonly samples: Int16Array;

  constructor(audio: WavAudio) {
    this.samples = audio.sampleRate === SAMPLE_RATE ? audio.samples : resampleTo8k(audio.samples, audio.sampleRate);
  }

  static async load(path: string): Promise<WavFileSource> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new Error(`cannot read the WAV file ${path}: ${(error as Error).message}`);
    }
    try {
      return new WavFileSource(decodeWav(bytes));
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`);
    }
  }

  read(): Int16Array | undefined {
    if (this.position >= this.samples.length) return undefined;
    const frame = new Int16Array(FRAME_SAMPLES);
    frame.set(this.samples.subarray(this.position, this.position + FRAME_SAMPLES));
    this.position += FRAME_SAMPLES;
    return frame;
  }

  get finished(): boolean {
    return this.position >= this.samples.length;
  }
}

/**
 * Converts to 8 kHz. Going down, each output sample is the mean of the input samples around
 * it (a box low-pass as wide as the step), which keeps most of what would alias out of the
 * telephone band; going up, it interpolates linearly. Plenty for tones and speech on G.711.
 */
export function resampleTo8k(samples: Int16Array, fromRate: number): Int16Array {
  if (!(fromRate > 0)) throw new Error(`WAV sample rate ${fromRate} is not usable`);
  const step = fromRate / SAMPLE_RATE;
  const length = Math.floor(samples.length / step);
  const out = new Int16Array(length);
  if (step > 1) {
    for (let i = 0; i < length; i++) {
      const start = Math.floor(i * step);
      const end = Math.min(samples.length, Math.max(start + 1, Math.floor((i + 1) * step)));
      let sum = 0;
      for (let j = start; j < end; j++) sum += samples[j];
      out[i] = Math.round(sum / (end - start));
    }
  } else {
    for (let i = 0; i < length; i++) {
      const at = i * step;
      const left = Math.floor(at);
      const right = Math.min(samples.length - 1, left + 1);
      const weight = at - left;
      out[i] = Math.round(samples[left] * (1 - weight) + samples[right] * weight);
    }
  }
  return out;
}

/**
 * Records 8 kHz mono frames to a WAV file as they come. The header goes first with zero sizes
 * and is brought up to date at the end of each call (settle) and on close, so the file is a
 * valid WAV between calls, and a crash loses at most the sizes of the call under way.
 */
export class WavRecorder implements AudioSink {
  private bytesWritten = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
  ) {}

  static async create(path: string): Promise<WavRecorder> {
    const stream = createWriteStream(path);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) => reject(new Error(`cannot record to ${path}: ${error.message}`)));
    });
    stream.write(wavHeader(SAMPLE_RATE, 0));
    return new WavRecorder(path, stream);
  }

  write(frame: Int16Array): void {
    if (this.closing) return;
    const bytes = Buffer.alloc(frame.length * 2);
    for (let i = 0; i < frame.length; i++) bytes.writeInt16LE(frame[i], i * 2);
    this.bytesWritten += bytes.length;
    this.stream.write(bytes);
  }

  get samplesWritten(): number {
    return this.bytesWritten / 2;
  }

  /** Writes the header's sizes for everything recorded so far; the file stays open for more. */
  async settle(): Promise<void> {
    if (this.closing) return this.closing;
    const bytes = this.bytesWritten;
    // The callback of an empty write runs once everything queued before it is on disk.
    await new Promise<void>((resolve, reject) => this.stream.write(Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
    await this.writeHeader(bytes);
  }

  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async writeHeader(bytes: number): Promise<void> {
    const file = await open(this.path, 'r+');
    try {
      await file.write(wavHeader(SAMPLE_RATE, bytes), 0, undefined, 0);
    } finally {
      await file.close();
    }
  }

  private async finish(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
    await this.writeHeader(this.bytesWritten);
  }
}
