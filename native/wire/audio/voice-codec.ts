// The one shape every voice codec of a call has, so the media session never asks which it holds.

/** One call's codec state, both directions (encoder and decoder are separate states inside). */
export interface VoiceCodec {
  /** The PCM rate the codec takes and gives: Opus 48000, G.722 16000, G.711 8000. */
  readonly sampleRate: number;
  /** 20 ms of mono 16-bit PCM at sampleRate in, one RTP payload out. */
  encode(pcm: Int16Array): Buffer;
  /** One RTP payload in, its PCM at sampleRate out (as many samples as the packet holds; Opus: per its TOC). */
  decode(payload: Buffer): Int16Array;
  /**
   * A packet of `samples` samples was lost. With `next` (the following packet, already here) a codec
   * with in-band FEC rebuilds the lost one from it (Opus: decode `next` with decode_fec=1); without it,
   * the codec's own concealment (Opus PLC: decode with a null packet). undefined: the codec has no
   * concealment of its own and the caller conceals (G.711, G.722).
   */
  recover(samples: number, next?: Buffer): Int16Array | undefined;
  /**
   * Opus: target bitrate in bit/s, the expected loss in percent (feeds in-band FEC), and whether
   * DTX may stop sending in silence; others ignore.
   */
  tune(settings: { bitrate?: number; packetLossPercent?: number; dtx?: boolean }): void;
  /** Frees what the codec holds (WASM memory). */
  close(): void;
}
