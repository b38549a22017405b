// Opus (RFC 6716) for RTP (RFC 7587) through the libopus WASM build that @evan/opus ships. We load
// its .wasm ourselves and call libopus's C API (opus_encode, opus_decode, the ctls) directly: the
// package's wrapper has no decode_fec and no PLC, and its native .node addons are not needed.
// Why this package: docs/architecture.md, "Opus".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { VoiceCodec } from './voice-codec.js';

/** RFC 7587 4.1: the RTP clock is 48 kHz whatever the audio bandwidth; we code at that rate too. */
export const OPUS_SAMPLE_RATE = 48000;
/** 20 ms at 48 kHz: the frame we send. */
export const OPUS_FRAME_SAMPLES = 960;
/** FEC (LBRR) only carries anything at about this bitrate and above. */
export const OPUS_MIN_FEC_BITRATE = 20000;
export const OPUS_DEFAULT_BITRATE = 32000;
/**
 * bench/codecs.ts, one core of the dev machine (a shared 2 vCPU VM: runs vary by ~20 %), 20 ms
 * frames of speech at 32 kbit/s: complexity 10: 1.9k encodes/s, 5: 4-5k, 3: 4.4-6.4k, 1: 8-9.8k,
 * 0: 9-11k; decodes 24-31k/s at any (libopus alone, without our copies: 30-38k).
 * A call costs 50 encodes and 50 decodes a second, so 300 calls a core would need 15k of each:
 * no complexity gets there with this WASM build (0 gives ~155 calls both ways, 5 ~80, 10 ~35).
 * We take 0, the most calls per core; SILK at 0 still codes wideband speech cleanly, and a
 * caller with few calls may ask for more.
 */
export const OPUS_DEFAULT_COMPLEXITY = 0;
/**
 * libopus codes no FEC at all when told of little loss: with this build at 32 kbit/s, 5 % gave
 * none and 8 % gave it on every speech frame of our test signal. 10 % until tune() says better.
 */
export const OPUS_DEFAULT_LOSS_PERCENT = 10;

// opus_defines.h: application, signal and the ctl requests we use.
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_SET_DTX = 4016;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SIGNAL_VOICE = 3001;

/** RFC 6716 3.2.1: no packet is longer than 1275 octets per frame; 3 frames of room covers a 60 ms repacketization. */
const MAX_PACKET = 4000;
/** 120 ms at 48 kHz: the longest a single Opus packet can hold (RFC 6716 3.2.5). */
const MAX_DECODE_SAMPLES = 5760;
/** 2.5 ms at 48 kHz: the granularity of Opus frames, and so of what PLC and FEC can fill. */
const PLC_STEP = 120;

/** The C functions of libopus that the .wasm exports. */
interface OpusExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  opus_strerror(code: number): number;
  opus_encoder_get_size(channels: number): number;
  opus_encoder_init(st: number, rate: number, channels: number, application: number): number;
  opus_encode(st: number, pcm: number, frameSize: number, data: number, maxBytes: number): number;
  opus_encoder_ctl_set(st: number, request: number, value: number): number;
  opus_encoder_ctl_get(st: number, request: number): number;
  opus_decoder_get_size(channels: number): number;
  opus_decoder_init(st: number, rate: number, channels: number): number;
  opus_decode(st: number, data: number, len: number, pcm: number, frameSize: number, decodeFec: number): number;
  _initialize?: () => void;
}

let compiled: WebAssembly.Module | undefined;

/**
 * Compiles the libopus module once per process (synchronously, so createOpusCodec stays sync).
 * The SIMD build is tried first; an engine without WASM SIMD rejects it and gets the plain one.
 */
function opusModule(): WebAssembly.Module {
  if (compiled) return compiled;
  const require = createRequire(import.meta.url);
  try {
    compiled = new WebAssembly.Module(readFileSync(require.resolve('@evan/opus/wasm/simd.wasm')));
  } catch {
    compiled = new WebAssembly.Module(readFileSync(require.resolve('@evan/opus/wasm/opus.wasm')));
  }
  return compiled;
}

/**
 * One instance of libopus and its linear memory, holding the states of every codec of this
 * thread. Each instance reserves 16 MiB of memory (and the engine's guard region around it),
 * so one per call would not scale to hundreds of calls; sharing one is safe because JavaScript
 * on a thread never runs two calls into it at once, and a worker thread that imports this file
 * gets its own. The scratch buffers are shared for the same reason: every call finishes with them
 * before it returns.
 */
class OpusRuntime {
  readonly lib: OpusExports;
  readonly pcm: number;
  readonly packet: number;

  constructor() {
    const instance = new WebAssembly.Instance(opusModule(), {
      // The build links WASI's stdio and exit, which libopus never calls in our use.
      wasi_snapshot_preview1: { fd_seek: () => 0, fd_write: () => 0, fd_close: () => 0, proc_exit: () => {} },
      env: { emscripten_notify_memory_growth: () => {} },
    });
    this.lib = instance.exports as unknown as OpusExports;
    this.lib._initialize?.();
    this.pcm = this.allocate(MAX_DECODE_SAMPLES * 2);
    this.packet = this.allocate(MAX_PACKET);
  }

  allocate(bytes: number): number {
    const ptr = this.lib.malloc(bytes);
    if (!ptr) throw new Error('opus: out of WASM memory');
    return ptr;
  }

  /** A fresh view each time: malloc may grow the memory, which detaches older views. */
  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.lib.memory.buffer, ptr, length);
  }

  samples(ptr: number, length: number): Int16Array {
    return new Int16Array(this.lib.memory.buffer, ptr, length);
  }

  check(code: number, what: string): number {
    if (code >= 0) return code;
    const message = this.bytes(this.lib.opus_strerror(code), 64);
    const end = message.indexOf(0);
    throw new Error(`opus: ${what} failed: ${Buffer.from(message.subarray(0, end < 0 ? 64 : end)).toString('latin1')}`);
  }
}

let runtime: OpusRuntime | undefined;

function opusRuntime(): OpusRuntime {
  runtime ??= new OpusRuntime();
  return runtime;
}

export interface OpusOptions {
  /** Target bit/s (default 32000); below ~20000 in-band FEC carries nothing. */
  bitrate?: number;
  /** 0-10, encoder effort (default OPUS_DEFAULT_COMPLEXITY). */
  complexity?: number;
  /** Expected loss in percent (default OPUS_DEFAULT_LOSS_PERCENT): too low and libopus adds no FEC. */
  packetLossPercent?: number;
}

/**
 * Opus for one call: 48 kHz mono (RFC 7587 7: the SDP says opus/48000/2, but mono is what we
 * encode and decoders must take either), VoIP application, 20 ms frames, in-band FEC and DTX on.
 * With DTX, after ~200 ms of silence libopus gives 1-octet packets (nothing worth sending: RFC
 * 7587 3.1.3 lets the sender skip them) with a comfort-noise update every 400 ms; all are
 * returned here and the media layer decides.
 */
export function createOpusCodec(options: OpusOptions = {}): VoiceCodec {
  const rt = opusRuntime();
  const lib = rt.lib;
  const encoder = rt.allocate(lib.opus_encoder_get_size(1));
  const decoder = rt.allocate(lib.opus_decoder_get_size(1));
  let open = true;
  try {
    rt.check(lib.opus_encoder_init(encoder, OPUS_SAMPLE_RATE, 1, OPUS_APPLICATION_VOIP), 'encoder init');
    rt.check(lib.opus_decoder_init(decoder, OPUS_SAMPLE_RATE, 1), 'decoder init');
    const set = (request: number, value: number, what: string) => rt.check(lib.opus_encoder_ctl_set(encoder, request, value), what);
    set(OPUS_SET_BITRATE, Math.round(options.bitrate ?? OPUS_DEFAULT_BITRATE), 'set bitrate');
    set(OPUS_SET_COMPLEXITY, options.complexity ?? OPUS_DEFAULT_COMPLEXITY, 'set complexity');
    set(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE, 'set signal');
    set(OPUS_SET_INBAND_FEC, 1, 'set inband FEC');
    set(OPUS_SET_PACKET_LOSS_PERC, options.packetLossPercent ?? OPUS_DEFAULT_LOSS_PERCENT, 'set packet loss');
    set(OPUS_SET_DTX, 1, 'set DTX');
  } catch (error) {
    lib.free(encoder);
    lib.free(decoder);
    throw error;
  }

  function ensureOpen(): void {
    if (!open) throw new Error('opus: codec used after close()');
  }

  /**
   * opus_decode into the scratch PCM, copied out. undefined where libopus refuses (a corrupt
   * packet: OPUS_INVALID_PACKET, or any other error), so no peer's packet can throw.
   */
  function decodeInto(data: Buffer | undefined, frameSize: number, fec: 0 | 1): Int16Array | undefined {
    let dataPtr = 0;
    let length = 0;
    if (data && data.length > 0) {
      if (data.length > MAX_PACKET) return undefined;
      rt.bytes(rt.packet, data.length).set(data);
      dataPtr = rt.packet;
      length = data.length;
    }
    const n = lib.opus_decode(decoder, dataPtr, length, rt.pcm, frameSize, fec);
    if (n < 0) return undefined;
    return rt.samples(rt.pcm, n).slice();
  }

  return {
    sampleRate: OPUS_SAMPLE_RATE,

    encode(pcm) {
      ensureOpen();
      // opus_encode takes 2.5 to 60 ms (RFC 6716 2.1.4); it refuses other lengths with an error.
      if (pcm.length > MAX_DECODE_SAMPLES) throw new Error(`opus: cannot encode ${pcm.length} samples in one packet`);
      rt.samples(rt.pcm, pcm.length).set(pcm);
      const n = rt.check(lib.opus_encode(encoder, rt.pcm, pcm.length, rt.packet, MAX_PACKET), 'encode');
      return Buffer.from(rt.bytes(rt.packet, n));
    },

    // A malformed packet is a typed result, not an exception: an empty frame, which the caller
    // treats as lost (and may conceal with recover()).
    decode(payload) {
      ensureOpen();
      if (payload.length === 0) return new Int16Array(0);
      return decodeInto(payload, MAX_DECODE_SAMPLES, 0) ?? new Int16Array(0);
    },

    // RFC 6716 4.4 (PLC) and the LBRR of 4.2.7.4, as libopus exposes them: decode_fec=1 on the
    // next packet rebuilds the lost one from its redundancy (or conceals when it has none).
    // libopus wants whole 2.5 ms steps here, so the gap is cut down to one (and to 120 ms at most).
    recover(samples, next) {
      ensureOpen();
      const frameSize = Math.min(MAX_DECODE_SAMPLES, Math.floor(samples / PLC_STEP) * PLC_STEP);
      if (frameSize <= 0) return new Int16Array(0);
      const rebuilt = next && next.length > 0 ? decodeInto(next, frameSize, 1) : undefined;
      return rebuilt ?? decodeInto(undefined, frameSize, 0) ?? new Int16Array(frameSize);
    },

    tune({ bitrate, packetLossPercent, dtx }) {
      ensureOpen();
      if (dtx !== undefined) rt.check(lib.opus_encoder_ctl_set(encoder, OPUS_SET_DTX, dtx ? 1 : 0), 'set DTX');
      if (bitrate !== undefined) rt.check(lib.opus_encoder_ctl_set(encoder, OPUS_SET_BITRATE, Math.round(bitrate)), 'set bitrate');
      if (packetLossPercent !== undefined) {
        const percent = Math.max(0, Math.min(100, Math.round(packetLossPercent)));
        rt.check(lib.opus_encoder_ctl_set(encoder, OPUS_SET_PACKET_LOSS_PERC, percent), 'set packet loss');
      }
    },

    close() {
      if (!open) return;
      open = false;
      lib.free(encoder);
      lib.free(decoder);
    },
  };
}
