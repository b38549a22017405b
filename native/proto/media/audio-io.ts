// Where a call's audio comes from and goes to: the UI's microphone and speaker, a WAV file
// (headless node, tests), or the echo test. Frames are 20 ms of 16-bit mono PCM at the rate the
// call's codec works at (G.711 8 kHz, G.722 16 kHz, Opus 48 kHz); each end converts to its own.
export const FRAME_MS = 20;
/** The rate of the user's devices and of recordings: what wideband calls need, and what sound cards run at. */
export const DEVICE_SAMPLE_RATE = 48_000;

/** Samples in one 20 ms frame at `sampleRate`. */
export function frameSamples(sampleRate: number): number {
  return (sampleRate * FRAME_MS) / 1000;
}

/** Pulled once per 20 ms by the media session's send clock. */
export interface AudioSource {
  /** The next 20 ms at `sampleRate`, or undefined for silence (nothing to send yet). */
  read(sampleRate: number): Int16Array | undefined;
}

/** Given one 20 ms frame at `sampleRate` per tick by the media session's playout clock. */
export interface AudioSink {
  write(frame: Int16Array, sampleRate: number): void;
}
