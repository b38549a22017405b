// What the main thread and a media worker say to each other about calls (media-session.ts on the
// main thread, media-worker.ts and media-core.ts in the worker). Structured clone carries them:
// a Buffer arrives as a Uint8Array and is viewed as a Buffer again on the other side.
import type { RtcpArrival, RtpEndpoint } from '../../transport/rtp-socket.js';
import type { MediaClockStats } from '../../transport/media-clock.js';
import type { NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import type { CallSrtpKeys } from '../../wire/sdp/media-key.js';

/**
 * Where the worker sends media. `peer`: to the latched or SDP address from its own socket (no
 * ICE). `pair`: ICE's selected pair is direct from the call's socket. `main`: through the main
 * thread (a TURN relay on the pair, or the relay anchoring a peer without ICE). `none`: ICE has no
 * usable pair; media is dropped, as before.
 */
export type MediaRoute = { kind: 'peer' } | { kind: 'pair'; to: RtpEndpoint } | { kind: 'main'; anchored: boolean } | { kind: 'none' };

/**
 * What the worker hands to the main thread instead of reading it itself. With ICE or DTLS on the
 * socket, every datagram whose first byte is not RTP's (RFC 7983: STUN 0-3, DTLS 20-63, TURN
 * ChannelData 64-79; a TURN server sends nothing else); with ICE (not anchored), media from a
 * source ICE has not let in yet (`allowed`: address:port); with DTLS keys pending, all media.
 */
export interface MediaGate {
  ice: boolean;
  /** The peer's SDP had ICE: RTCP comes multiplexed on the pair, and the RTCP port is nobody's. */
  iceInUse: boolean;
  anchored: boolean;
  allowed: string[];
  keying: boolean;
  keysPending: boolean;
}

/** A source the worker plays by itself: the same frame (one per codec rate) again and again. */
export interface RepeatedFramesSpec {
  frames: Int16Array[];
}

export type ToWorker =
  | { t: 'open'; id: number; bind: string; portRange?: [number, number]; stats: SharedArrayBuffer; silenceTimeoutMs: number; rtcpIntervalMs: number; probe: boolean }
  | { t: 'configure'; id: number; negotiated: NegotiatedAudio; opusComplexity?: number }
  | { t: 'secure'; id: number; keys: CallSrtpKeys }
    /** `rtcpOff`: DTLS-SRTP without RTCP multiplexed (the RTCP port would need its own handshake): no RTCP goes or is read. */
  | { t: 'gate'; id: number; gate: MediaGate; rtcpOff: boolean }
  | { t: 'route'; id: number; route: MediaRoute }
  | { t: 'mute'; id: number; muted: boolean }
  | { t: 'source'; id: number; kind: 'none' | 'main' } | { t: 'source'; id: number; kind: 'repeat'; spec: RepeatedFramesSpec }
  | { t: 'sink'; id: number; on: boolean }
  | { t: 'frame'; id: number; pcm: Int16Array | undefined }
  | { t: 'dtmf'; id: number; job: number; digits: string }
  /** Post-demultiplex from the main thread (relayed media, media ICE let in, media held for DTLS keys). */
  | { t: 'media'; id: number; datagram: Uint8Array; from: RtpEndpoint }
  /** STUN, TURN and DTLS from the call's RTP socket. */
  | { t: 'send'; id: number; bytes: Uint8Array; to: RtpEndpoint }
  | { t: 'stop'; id: number }
  | { t: 'close'; id: number }
  | { t: 'clock-stats'; reset: boolean };

export type FromWorker =
  | { t: 'opened'; id: number; port: number }
  | { t: 'open-failed'; id: number; message: string; code?: string }
  | { t: 'datagram'; id: number; datagram: Uint8Array; from: RtpEndpoint; arrival: RtcpArrival | 'rtp' }
  | { t: 'out'; id: number; datagram: Uint8Array; to: RtpEndpoint | undefined }
  | { t: 'pull'; id: number; rate: number }
  | { t: 'play'; id: number; pcm: Int16Array; rate: number; heldMs: number | undefined }
  | { t: 'dtmf-done'; id: number; job: number; error?: string }
  | { t: 'digit'; id: number; digit: string }
  | { t: 'silent'; id: number }
  | { t: 'latched'; id: number; rtp: RtpEndpoint }
  | { t: 'heard'; id: number; from: RtpEndpoint }
  | { t: 'log'; id: number; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> }
  | { t: 'stopped'; id: number }
  | { t: 'closed'; id: number }
  | { t: 'clock-stats'; stats: MediaClockStats };

/** Counters a call's worker keeps in shared memory, so `stats()` on the main thread stays synchronous. */
export const STAT = {
  packetsSent: 0,
  octetsSent: 1,
  packetsReceived: 2,
  lossFraction: 3,
  jitterMs: 4,
  /** NaN until RTCP gave a round trip. */
  rttMs: 5,
  lateTicks: 6,
  concealedFrames: 7,
  dtmfSent: 8,
  dtmfReceived: 9,
  malformedDatagrams: 10,
  ignoredPackets: 11,
  rtcpReceived: 12,
  srtpOn: 13,
  srtpAuthFailed: 14,
  srtpReplayed: 15,
  srtpMalformed: 16,
} as const;
export const STAT_SLOTS = 17;

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function endpointKey(endpoint: RtpEndpoint): string {
  return `${endpoint.address}:${endpoint.port}`;
}
