// Where a call's audio comes from and goes to: the UI's microphone and speaker, a WAV file
// (headless node, tests), or the echo test. Frames are 20 ms of 16-bit mono PCM at 8 kHz.
export const SAMPLE_RATE = 8000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000;

/** Pulled once per 20 ms by the media session's send clock. */
export interface AudioSource {
  /** The next frame, or undefined for silence (nothing to send yet). */
  read(): Int16Array | undefined;
}

/** Given one frame per 20 ms by the media session's playout clock. */
export interface AudioSink {
  write(frame: Int16Array): void;
}
