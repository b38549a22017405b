// WAV files as call audio for the headless node (`--play`, `--record`) and tests: a source that
// plays a file once and then gives silence, and a sink that streams what it hears to disk.
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { DEVICE_SAMPLE_RATE, FRAME_MS, frameSamples, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import { RateConverter, resample } from '../../proto/media/resampler.js';
import { decodeWav, wavHeader, type WavAudio } from '../../wire/audio/wav.js';

/** Plays a WAV file once, in 20 ms frames at the rate each read asks for, then silence. */
export class WavFileSource implements AudioSource {
  /** Frames played so far: a change of rate mid-file (a re-INVITE to another codec) goes on from the same instant. */
  private frame = 0;
  private readonly byRate: Map<number, Int16Array>;

  constructor(
    readonly audio: WavAudio,
    converted?: Map<number, Int16Array>,
  ) {
    if (!(Number.isInteger(audio.sampleRate) && audio.sampleRate > 0)) throw new Error(`WAV sample rate ${audio.sampleRate} is not usable`);
    this.byRate = converted ?? new Map([[audio.sampleRate, audio.samples]]);
  }

  /** The same file from its start (each call plays it once), sharing what was converted. */
  again(): WavFileSource {
    return new WavFileSource(this.audio, this.byRate);
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

  /** The file's samples at `sampleRate`, converted once per rate. */
  samplesAt(sampleRate: number): Int16Array {
    let samples = this.byRate.get(sampleRate);
    if (!samples) {
      samples = resample(this.audio.samples, this.audio.sampleRate, sampleRate);
      this.byRate.set(sampleRate, samples);
    }
    return samples;
  }

  read(sampleRate: number): Int16Array | undefined {
    if (this.finished) return undefined;
    const size = frameSamples(sampleRate);
    const samples = this.samplesAt(sampleRate);
    const start = this.frame * size;
    this.frame++;
    if (start >= samples.length) return undefined;
    const out = new Int16Array(size);
    out.set(samples.subarray(start, start + size));
    return out;
  }

  get finished(): boolean {
    return this.frame * FRAME_MS >= (this.audio.samples.length * 1000) / this.audio.sampleRate;
  }
}

/**
 * Records mono frames to a WAV file at 48 kHz (the devices' rate) as they come, converting
 * frames of other rates. The header goes first with zero sizes
 * and is brought up to date at the end of each call (settle) and on close, so the file is a
 * valid WAV between calls, and a crash loses at most the sizes of the call under way.
 */
const RECORDING_RATE = DEVICE_SAMPLE_RATE;

export class WavRecorder implements AudioSink {
  private bytesWritten = 0;
  private closing: Promise<void> | undefined;
  private readonly converter = new RateConverter();

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
    stream.write(wavHeader(RECORDING_RATE, 0));
    return new WavRecorder(path, stream);
  }

  write(heard: Int16Array, sampleRate: number): void {
    if (this.closing) return;
    const frame = this.converter.convert(heard, sampleRate, RECORDING_RATE);
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
      await file.write(wavHeader(RECORDING_RATE, bytes), 0, undefined, 0);
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
