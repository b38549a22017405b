// An adaptive jitter buffer for fixed 20 ms frames, sans IO: the caller pushes packets with
// their arrival time and pops one frame per 20 ms tick with the current time. Playout follows
// RTP sequence numbers; the delay adapts by holding the playout cursor for a tick (grow) or
// skipping a frame (shrink), driven by the RFC 3550 A.8 interarrival jitter estimate. Ticks
// with nothing to play (an underrun) stand in for the frames they covered: when packets come
// again after a gap (a late burst, or a sender's DTX silence), the cursor moves past the frames
// that time already covered, so the delay stays what it was instead of growing by the gap.

export interface MediaPacket {
  /** RTP sequence number, 16 bits. */
  seq: number;
  /** RTP timestamp, 32 bits, in clock-rate units. */
  timestamp: number;
  payload: Uint8Array;
}

export type PlayoutFrame =
  | { concealed: false; seq: number; timestamp: number; payload: Uint8Array }
  | { concealed: true; reason: 'buffering' | 'underrun' | 'growing' }
  /** `next`: the packet after the lost one, when it is already here (a codec with in-band FEC rebuilds the lost one from it). */
  | { concealed: true; reason: 'lost'; next?: Uint8Array };

export interface JitterBufferOptions {
  frameMs?: number;
  clockRate?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Target delay = this many times the jitter estimate (above the minimum). */
  jitterMultiplier?: number;
  /** Consecutive ticks with surplus delay before one frame is dropped to shrink. */
  shrinkAfterTicks?: number;
}

export interface JitterBufferStats {
  received: number;
  played: number;
  lost: number;
  late: number;
  duplicate: number;
  /** Frames dropped to shrink the delay or to stay under the maximum. */
  discarded: number;
  concealed: number;
  jitterMs: number;
  targetDelayMs: number;
  bufferedMs: number;
}

const SEQ_MODULO = 0x10000;
/** A jump this far (in frames) from the playout cursor is a new stream, not a gap (RFC 3550 A.1's MAX_DROPOUT idea). */
const RESYNC_FRAMES = 500;

export class JitterBuffer {
  private readonly frameMs: number;
  private readonly clockRate: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitterMultiplier: number;
  private readonly shrinkAfterTicks: number;

  private readonly slots = new Map<number, MediaPacket>();
  private cursor: number | undefined; // extended seq of the next frame to play
  private highest: number | undefined; // highest extended seq received
  private started = false;
  private firstArrivalMs = 0;
  private surplusTicks = 0;
  /** Ticks the buffer had nothing to play for since it last played a frame. */
  private underrunTicks = 0;
  private readonly recentlyPlayed = new Set<number>();

  // RFC 3550 A.8 state, in timestamp units.
  private jitter = 0;
  private lastArrivalMs: number | undefined;
  private lastTimestamp = 0;

  private counts = { received: 0, played: 0, lost: 0, late: 0, duplicate: 0, discarded: 0, concealed: 0 };

  constructor(options: JitterBufferOptions = {}) {
    this.frameMs = options.frameMs ?? 20;
    this.clockRate = options.clockRate ?? 8000;
    this.minDelayMs = options.minDelayMs ?? 40;
    this.maxDelayMs = Math.max(options.maxDelayMs ?? 200, this.minDelayMs);
    this.jitterMultiplier = options.jitterMultiplier ?? 4;
    this.shrinkAfterTicks = options.shrinkAfterTicks ?? 50;
  }

  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }

  /** The delay the buffer aims for: a multiple of the jitter, rounded up to whole frames, within [min, max]. */
  get targetDelayMs(): number {
    const wanted = Math.ceil((this.jitterMultiplier * this.jitterMs) / this.frameMs) * this.frameMs;
    return Math.min(this.maxDelayMs, Math.max(this.minDelayMs, wanted));
  }

  /** Audio held ahead of the playout cursor, gaps included. */
  get bufferedMs(): number {
    if (this.cursor === undefined || this.highest === undefined || this.highest < this.cursor) return 0;
    return (this.highest - this.cursor + 1) * this.frameMs;
  }

  get stats(): JitterBufferStats {
    return { ...this.counts, jitterMs: this.jitterMs, targetDelayMs: this.targetDelayMs, bufferedMs: this.bufferedMs };
  }

  push(packet: MediaPacket, arrivalMs: number): void {
    const seq = this.extend(packet.seq);
    if (this.cursor !== undefined && Math.abs(seq - this.cursor) > RESYNC_FRAMES) {
      this.resync();
      this.push(packet, arrivalMs);
      return;
    }
    if (this.slots.has(seq) || this.recentlyPlayed.has(seq)) {
      this.counts.duplicate++;
      return;
    }
    this.counts.received++;
    this.updateJitter(packet.timestamp, arrivalMs);
    if (this.cursor === undefined) {
      this.cursor = seq;
      this.firstArrivalMs = arrivalMs;
    }
    if (seq > this.cursor && this.underrunTicks > 0 && this.bufferedMs === 0) {
      // The first packet after an underrun: the ticks without audio already filled part of the gap.
      this.cursor += Math.min(this.underrunTicks, seq - this.cursor);
    }
    this.underrunTicks = 0;
    if (seq < this.cursor) {
      // Its playout time has passed: it was already concealed.
      this.counts.late++;
      return;
    }
    if (this.highest === undefined || seq > this.highest) this.highest = seq;
    this.slots.set(seq, packet);
  }

  /** Call once per frame time; returns the frame to play or a request to conceal one. */
  pop(nowMs: number): PlayoutFrame {
    if (this.cursor === undefined) return { concealed: true, reason: 'buffering' };
    if (!this.started) {
      if (nowMs - this.firstArrivalMs < this.targetDelayMs) return { concealed: true, reason: 'buffering' };
      this.started = true;
      // What came in a burst before playout (media held while DTLS-SRTP keys were agreed, say)
      // is older than the delay we aim for: start at the target, not a second of shrinking later.
      while (this.bufferedMs > this.targetDelayMs + this.frameMs) this.discardCursor();
    }
    this.trimToMaximum();
    if (this.bufferedMs === 0) {
      // Nothing at or after the cursor yet: hold it (a packet late by a tick then keeps its
      // place), and count the tick for what a later packet is past (see push).
      this.counts.concealed++;
      this.underrunTicks++;
      return { concealed: true, reason: 'underrun' };
    }
    if (this.bufferedMs + this.frameMs < this.targetDelayMs) {
      // The jitter grew: hold the cursor one tick so the delay rises toward the new target.
      this.counts.concealed++;
      return { concealed: true, reason: 'growing' };
    }
    this.shrinkIfSurplusPersists();
    return this.playCursor();
  }

  private playCursor(): PlayoutFrame {
    const seq = this.cursor!;
    const packet = this.slots.get(seq);
    this.advance();
    if (!packet) {
      this.counts.lost++;
      this.counts.concealed++;
      const next = this.slots.get(this.cursor!);
      return next ? { concealed: true, reason: 'lost', next: next.payload } : { concealed: true, reason: 'lost' };
    }
    this.counts.played++;
    return { concealed: false, seq: packet.seq, timestamp: packet.timestamp, payload: packet.payload };
  }

  private shrinkIfSurplusPersists(): void {
    const target = this.targetDelayMs;
    if (this.bufferedMs > target + this.frameMs) {
      // Shrink slowly: only once the surplus has lasted shrinkAfterTicks ticks in a row.
      if (++this.surplusTicks >= this.shrinkAfterTicks) {
        this.surplusTicks = 0;
        this.discardCursor();
      }
    } else {
      this.surplusTicks = 0;
    }
  }

  private trimToMaximum(): void {
    while (this.bufferedMs > this.maxDelayMs) this.discardCursor();
  }

  private discardCursor(): void {
    if (this.slots.has(this.cursor!)) this.counts.discarded++;
    else this.counts.lost++;
    this.advance();
  }

  private advance(): void {
    const seq = this.cursor!;
    // Remembered so a copy arriving later counts as a duplicate, not as late.
    if (this.slots.delete(seq)) this.recentlyPlayed.add(seq);
    this.recentlyPlayed.delete(seq - RESYNC_FRAMES);
    this.cursor = seq + 1;
  }

  /** RFC 3550 A.8: J += (|D(i-1,i)| - J) / 16, with D from arrival and RTP timestamps. */
  private updateJitter(timestamp: number, arrivalMs: number): void {
    if (this.lastArrivalMs !== undefined) {
      const arrivalDelta = ((arrivalMs - this.lastArrivalMs) * this.clockRate) / 1000;
      const timestampDelta = (timestamp - this.lastTimestamp) | 0; // 32-bit wrap
      const d = Math.abs(arrivalDelta - timestampDelta);
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastArrivalMs = arrivalMs;
    this.lastTimestamp = timestamp >>> 0;
  }

  /** RFC 3550 A.1: extends a 16-bit sequence number to the one nearest the highest seen. */
  private extend(seq16: number): number {
    const reference = this.highest ?? this.cursor;
    if (reference === undefined) return seq16 & 0xffff;
    let delta = (seq16 - reference) % SEQ_MODULO;
    if (delta > SEQ_MODULO / 2) delta -= SEQ_MODULO;
    if (delta < -SEQ_MODULO / 2) delta += SEQ_MODULO;
    return reference + delta;
  }

  private resync(): void {
    this.slots.clear();
    this.recentlyPlayed.clear();
    this.cursor = undefined;
    this.highest = undefined;
    this.started = false;
    this.surplusTicks = 0;
    this.underrunTicks = 0;
  }
}
