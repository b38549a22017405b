// One call's media inside a media worker: 20 ms frames through the codec to RTP, RTP through the
// jitter buffer, the codec and loss concealment to the sink, RTCP reports both ways, RFC 4733
// DTMF both ways, SRTP, and symmetric RTP (send to where the peer's media really comes from,
// RFC 4961's idea, which is what gets media through a NAT when the SDP address is a private one).
// The call's UDP sockets live here too, so the direct path never waits for the main thread;
// what ICE and DTLS must see, and what goes through a TURN relay, crosses to the main thread
// (media-session.ts), which also holds the call's audio devices and answers `pull`.
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import { FRAME_MS, frameSamples } from '../../proto/media/audio-io.js';
import { DtmfReceiver } from '../../proto/media/dtmf-receiver.js';
import { planDtmfPackets, type DtmfPacketPlanEntry } from '../../proto/media/dtmf-sender.js';
import { JitterBuffer } from '../../proto/media/jitter-buffer.js';
import { LossConcealer } from '../../proto/media/loss-concealment.js';
import { firstRtcpIntervalMs, nextRtcpIntervalMs } from '../../proto/media/rtcp-interval.js';
import { ReceptionStatistics, roundTripFromReport, SenderCounters } from '../../proto/media/rtp-statistics.js';
import type { MediaClock, MediaTick } from '../../transport/media-clock.js';
import type { RtcpArrival, RtpEndpoint, RtpSocketPair } from '../../transport/rtp-socket.js';
import type { VoiceCodec } from '../../wire/audio/voice-codec.js';
import { msToNtp, parseRtcpCompound, serializeRtcpCompound, type ReportBlock, type ReportPacket } from '../../wire/rtp/rtcp.js';
import { looksLikeRtcp, parseRtpPacket, serializeRtpPacket } from '../../wire/rtp/rtp-packet.js';
import { parseTelephoneEvent, serializeTelephoneEvent } from '../../wire/rtp/telephone-event.js';
import { rtpClockRate, type AudioCodecName, type NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import { receives, sends } from '../../wire/sdp/direction.js';
import type { CallSrtpKeys } from '../../wire/sdp/media-key.js';
import { SrtcpReceiver, SrtcpSender, SrtpReceiver, SrtpSender } from '../../wire/srtp/srtp.js';
import { endpointKey, STAT, type FromWorker, type MediaGate, type MediaRoute, type RepeatedFramesSpec } from './media-worker-protocol.js';
import { createVoiceCodec, packetMs } from './voice-codecs.js';

interface SrtpContexts {
  rtpOut: SrtpSender;
  rtpIn: SrtpReceiver;
  rtcpOut: SrtcpSender;
  rtcpIn: SrtcpReceiver;
}

/** Silence between two keys after the end packets, in frames (RFC 4733 leaves it to the sender). */
const INTER_DIGIT_GAP_FRAMES = 3;
/** A different SSRC replaces the peer's only after the current one has been quiet this long. */
const SOURCE_SWITCH_QUIET_MS = 500;
const SEQ_RING = 1024;
const LATE_TICK_MS = 5;
/** Below -50 dBFS (RMS) a frame is silence for DTX; 200 ms of it before DTX may start. */
const DTX_LEVEL_SQUARED = (32768 * 10 ** (-50 / 20)) ** 2;
const DTX_AFTER_FRAMES = 10;
/** Packet lengths followed: 10 ms to 200 ms (RFC 3551 4.2); Opus may send 2.5 ms, which we take as 10. */
const MIN_PACKET_MS = 10;
const MAX_PACKET_MS = 200;
/** ICE learns that media still comes on its pair this often (its consent timer looks every 250 ms). */
const HEARD_EVERY_MS = 200;
/** How many of the clock's lanes (5 ms each) before its send a main-thread source is asked for a frame. */
const PULL_LEAD_LANES = 2;
/** Frames from the main thread's source waiting to be sent: the next, and one that came late. */
const PULLED_FRAMES_KEPT = 2;

interface DtmfJob {
  id: number;
  keys: string[];
}

interface DtmfInProgress {
  plan: DtmfPacketPlanEntry[];
  next: number;
  startTimestamp: number;
  gapFrames: number;
}

export interface MediaCoreOptions {
  id: number;
  clock: MediaClock;
  log: Logger;
  sockets: RtpSocketPair;
  /** Shared with the main thread: the counters `stats()` reads (STAT). */
  stats: Float64Array;
  silenceTimeoutMs: number;
  rtcpIntervalMs: number;
  /** Send each played frame's jitter-buffer wait with it (benchmarks). */
  probe: boolean;
  emit(message: FromWorker, transfer?: ArrayBuffer[]): void;
}

export class MediaCore {
  private readonly id: number;
  private readonly log: Logger;
  private readonly clock: MediaClock;
  private readonly sockets: RtpSocketPair;
  private readonly stats: Float64Array;
  private readonly silenceTimeoutMs: number;
  private readonly rtcpIntervalMs: number;
  private readonly probe: boolean;
  private readonly emit: MediaCoreOptions['emit'];
  private readonly leaveClock: (() => void)[] = [];

  // Our stream (RFC 3550 5.1: random SSRC, initial sequence number and timestamp).
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private sequence = randomInt(0, 0x10000);
  private timestamp = randomBytes(4).readUInt32BE(0);
  private readonly cname = `${randomBytes(12).toString('base64url')}@peerdial`;
  private readonly sent = new SenderCounters();
  private markNext = true;
  // The RTP time of the latest tick and when it was due, to stamp SRs (RFC 3550 6.4.1).
  private tickTimestamp = 0;
  private tickScheduledMs = 0;
  muted = false;

  private negotiated: NegotiatedAudio | undefined;
  /** The agreed codec's state; a re-INVITE to another codec makes a new one. */
  private codec: VoiceCodec | undefined;
  private codecName: AudioCodecName | undefined;
  /** PCM rate of the codec, and samples of a 20 ms frame at it. */
  private pcmRate = 8000;
  private frameSize = frameSamples(8000);
  /** RTP clock of the codec (RFC 3551 4.5), and its ticks in 20 ms. */
  private rtpClock = 8000;
  private timestampStep = frameSamples(8000);
  /** A stateless codec's silence, encoded once (G.711); others encode their silence (Opus DTX, G.722's state). */
  private silence: Buffer | undefined;
  private silentFrame = new Int16Array(frameSamples(8000));
  /** The loss figure we last tuned the encoder to, from the peer's reports (percent). */
  private tunedLoss: number | undefined;
  /** Opus: frames in a row below the DTX level, and whether the encoder may use DTX now. */
  private quietFrames = 0;
  private dtxAllowed = false;

  /** Where audio to send comes from: nothing (silence), the main thread (one frame ahead), or a repeated frame. */
  private sourceKind: 'none' | 'main' | 'repeat' = 'none';
  private readonly pulled: (Int16Array | undefined)[] = [];
  private pullsOutstanding = 0;
  private repeated: RepeatedFramesSpec | undefined;
  private sinkOn = false;

  // The peer's stream.
  private remoteSsrc: number | undefined;
  private lastFromPeerMs = 0;
  private reception = new ReceptionStatistics();
  private jitterBuffer = new JitterBuffer();
  /** How long the peer's packets are; 20 ms until they say otherwise. */
  private packetMs = FRAME_MS;
  /** A received packet's RTP timestamp and its jitter buffer slot (-1: none yet): what later packets are placed from. */
  private anchorTimestamp = 0;
  private anchorSlot = -1;
  /** Decoded samples not yet played: packets of other sizes are cut into 20 ms frames here. */
  private backlog = new Int16Array(4 * frameSamples(8000));
  private backlogOffset = 0;
  private backlogLength = 0;
  private concealer = new LossConcealer();
  private readonly dtmfReceiver = new DtmfReceiver();
  private readonly arrivalBySeq = new Float64Array(SEQ_RING);
  private playoutStarted = false;

  // Where to send: the SDP's address until the peer's own packets show the real one.
  private sdpRtp: RtpEndpoint | undefined;
  private latchedRtp: RtpEndpoint | undefined;
  private latchedRtcp: { to: RtpEndpoint; via: RtcpArrival } | undefined;
  private route: MediaRoute = { kind: 'peer' };
  private gate: MediaGate = { ice: false, iceInUse: false, anchored: false, allowed: [], keying: false, keysPending: false };
  private allowed = new Set<string>();
  private heardAtMs = -Infinity;

  /** Packets sent as of the last two reports, newest first (RFC 3550 6.4: SR or RR). */
  private sentAtReports: [number, number] = [0, 0];
  private nextRtcpAtMs = Infinity;
  private silenceSinceMs = 0;
  private silentFired = false;

  private readonly dtmfQueue: DtmfJob[] = [];
  private dtmf: DtmfInProgress | undefined;
  private srtp: SrtpContexts | undefined;
  private stopped = false;

  constructor(options: MediaCoreOptions) {
    this.id = options.id;
    this.log = options.log;
    this.clock = options.clock;
    this.sockets = options.sockets;
    this.stats = options.stats;
    this.silenceTimeoutMs = options.silenceTimeoutMs;
    this.rtcpIntervalMs = options.rtcpIntervalMs;
    this.probe = options.probe;
    this.emit = options.emit;
    this.stats[STAT.rttMs] = NaN;
  }

  // ---- from the main thread ----

  setGate(gate: MediaGate): void {
    this.gate = gate;
    this.allowed = new Set(gate.allowed);
  }

  setRoute(route: MediaRoute): void {
    this.route = route;
  }

  secure(keys: CallSrtpKeys): void {
    const key = (k: Uint8Array) => Buffer.from(k);
    this.srtp = {
      rtpOut: new SrtpSender(key(keys.send.key), key(keys.send.salt), keys.suite),
      rtpIn: new SrtpReceiver(key(keys.receive.key), key(keys.receive.salt), keys.suite),
      rtcpOut: new SrtcpSender(key(keys.send.key), key(keys.send.salt), keys.suite),
      rtcpIn: new SrtcpReceiver(key(keys.receive.key), key(keys.receive.salt), keys.suite),
    };
    this.stats[STAT.srtpOn] = 1;
  }

  setSource(kind: 'none' | 'main' | 'repeat', spec?: RepeatedFramesSpec): void {
    this.sourceKind = kind;
    this.repeated = spec;
    this.pulled.length = 0;
    this.pullsOutstanding = 0;
    if (this.deferredTimestamp !== undefined && this.negotiated) this.sendAudio(undefined, this.takeDeferred()!);
  }

  setSink(on: boolean): void {
    this.sinkOn = on;
  }

  /** STUN, TURN and DTLS the main thread sends from the call's RTP socket. */
  sendFromSocket(bytes: Buffer, to: RtpEndpoint): void {
    this.sockets.sendRtp(bytes, to);
  }

  /** The main thread's answer to a pull: the next frame of the call's source. */
  framePulled(pcm: Int16Array | undefined): void {
    if (this.pullsOutstanding === 0) return; // the source changed since it was asked for
    this.pullsOutstanding--;
    if (this.pulled.length < PULLED_FRAMES_KEPT) this.pulled.push(pcm);
    if (this.deferredTimestamp !== undefined) this.sendAudio(this.muted ? undefined : this.readSource(), this.takeDeferred()!);
  }

  sendDtmf(job: number, digits: string): void {
    if (this.stopped) {
      this.emit({ t: 'dtmf-done', id: this.id, job, error: 'the call ended before the keys were sent' });
      return;
    }
    this.dtmfQueue.push({ id: job, keys: [...digits] });
  }

  /** First call starts media; later ones (re-INVITE) change codec, remote or direction, keeping SSRC and sequence. */
  configure(negotiated: NegotiatedAudio, opusComplexity?: number): void {
    if (this.stopped) return;
    const previous = this.negotiated;
    this.negotiated = negotiated;
    if (negotiated.codec.name !== this.codecName) this.useCodec(negotiated.codec.name, opusComplexity);
    const remote = { address: negotiated.remoteAddress, port: negotiated.remotePort };
    if (!this.sdpRtp || this.sdpRtp.address !== remote.address || this.sdpRtp.port !== remote.port) {
      // A new remote party (or a moved one): what we latched belonged to the old one.
      this.sdpRtp = remote;
      this.latchedRtp = undefined;
      this.latchedRtcp = undefined;
    }
    const now = this.clock.now();
    if (!previous) {
      const lane = this.clock.nextLane();
      this.leaveClock.push(this.clock.join((tick) => this.sendTick(tick), 0, lane));
      this.leaveClock.push(this.clock.join(() => this.playoutTick(), 1, lane));
      this.nextRtcpAtMs = now + firstRtcpIntervalMs(Math.random, this.rtcpIntervalMs);
      // A source on the main thread is asked two lanes (10 ms) before the send: time for its answer
      // to come back while the main thread (or the machine) is busy for a moment, little enough to
      // add to the mouth-to-ear delay of the one call in focus.
      this.leaveClock.push(this.clock.join(() => this.sourceKind === 'main' && this.pull(), 2, lane + this.clock.lanes - PULL_LEAD_LANES));
    }
    if (!previous || sends(negotiated.direction) !== sends(previous.direction)) this.markNext = true;
    if (!previous || !receives(previous.direction)) {
      // The wait for the peer starts when we begin to expect its media.
      this.silenceSinceMs = now;
      this.silentFired = false;
    }
  }

  /** Sends an RTCP BYE (RFC 3550 6.6) and leaves the clock; the sockets stay open for what the main thread still sends. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const byeSent = this.negotiated ? this.sendRtcpReport(true) : undefined;
    this.stopped = true;
    this.deferredTimestamp = undefined;
    for (const leave of this.leaveClock.splice(0)) leave();
    for (const job of this.dtmfQueue.splice(0)) this.emit({ t: 'dtmf-done', id: this.id, job: job.id, error: 'the call ended before the keys were sent' });
    this.dtmf = undefined;
    await byeSent;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.sockets.close();
    this.codec?.close();
  }

  // ---- receiving ----

  /** Everything on the RTP port: what ICE or DTLS must see goes to the main thread, media stays. */
  receiveOnRtpPort(datagram: Buffer, from: RtpEndpoint, rtcp: boolean): void {
    if (this.stopped) return;
    const gate = this.gate;
    if (gate.ice || gate.keying) {
      const first = datagram[0];
      const toMain = first < 128 || first > 191 || gate.keysPending || (gate.ice && !gate.anchored && !this.allowed.has(endpointKey(from)));
      if (toMain) {
        this.emit({ t: 'datagram', id: this.id, datagram, from, arrival: rtcp ? 'rtp-port' : 'rtp' });
        return;
      }
      if (gate.ice && !gate.anchored) this.heard(from);
    }
    if (rtcp) this.receiveRtcp(datagram, from, 'rtp-port');
    else this.receiveRtp(datagram, from);
  }

  /** Media the main thread let through (from a relay, a source ICE just checked, or held for DTLS keys). */
  receiveMedia(datagram: Buffer, from: RtpEndpoint): void {
    if (looksLikeRtcp(datagram)) this.receiveRtcp(datagram, from, 'rtp-port');
    else this.receiveRtp(datagram, from);
  }

  /** ICE takes media on its pair as a sign of life (RFC 7675): say so now and then, not for every packet. */
  private heard(from: RtpEndpoint): void {
    const now = this.clock.now();
    if (now - this.heardAtMs < HEARD_EVERY_MS) return;
    this.heardAtMs = now;
    this.emit({ t: 'heard', id: this.id, from });
  }

  private receiveRtp(received: Buffer, from: RtpEndpoint): void {
    if (this.stopped) return;
    let datagram = received;
    if (this.srtp) {
      // RFC 3711 3.3: authenticated and checked against replay before anything else reads it.
      const opened = this.srtp.rtpIn.unprotect(received);
      if (!opened.ok) {
        this.countSrtp();
        return;
      }
      datagram = opened.rtp;
    }
    const parsed = parseRtpPacket(datagram);
    if (!parsed.ok) {
      this.stats[STAT.malformedDatagrams]++;
      this.log.debug('dropped a datagram that is not RTP', { from: `${from.address}:${from.port}`, reason: parsed.reason });
      return;
    }
    const negotiated = this.negotiated;
    const packet = parsed.packet;
    const isAudio = negotiated !== undefined && packet.payloadType === negotiated.codec.payloadType;
    const isEvent = negotiated?.telephoneEventPayloadType !== undefined && packet.payloadType === negotiated.telephoneEventPayloadType;
    if (!isAudio && !isEvent) {
      this.stats[STAT.ignoredPackets]++;
      return;
    }
    const now = this.clock.now();
    if (!this.acceptSource(packet.ssrc, now)) {
      this.stats[STAT.ignoredPackets]++;
      return;
    }
    const verdict = this.reception.packetReceived(packet.sequenceNumber, packet.timestamp, now, isAudio);
    if (verdict === 'bad-jump') {
      this.stats[STAT.ignoredPackets]++;
      return;
    }
    this.stats[STAT.packetsReceived]++;
    this.lastFromPeerMs = now;
    // Symmetric RTP: answer to the address the peer's media comes from, whatever its SDP said.
    if (!this.latchedRtp || this.latchedRtp.address !== from.address || this.latchedRtp.port !== from.port) {
      if (!this.latchedRtp) this.log.debug('latched RTP to the peer source', { from: `${from.address}:${from.port}` });
      this.latchedRtp = from;
      this.emit({ t: 'latched', id: this.id, rtp: from });
    }
    if (!receives(negotiated!.direction)) return;
    if (isAudio) {
      this.followPacketSize(packet.payload);
      const slot = this.playoutSlot(packet.sequenceNumber, packet.timestamp);
      this.arrivalBySeq[slot % SEQ_RING] = now;
      this.jitterBuffer.push({ seq: slot, timestamp: packet.timestamp, payload: packet.payload }, now);
      return;
    }
    const event = parseTelephoneEvent(packet.payload);
    if (!event) {
      this.stats[STAT.malformedDatagrams]++;
      return;
    }
    const digit = this.dtmfReceiver.receive({ ssrc: packet.ssrc, timestamp: packet.timestamp, marker: packet.marker, event });
    if (digit !== undefined) {
      this.stats[STAT.dtmfReceived]++;
      this.emit({ t: 'digit', id: this.id, digit });
    }
  }

  /** One peer source at a time; another SSRC takes over only once the current one has gone quiet (a restarted peer). */
  private acceptSource(ssrc: number, now: number): boolean {
    if (this.remoteSsrc === ssrc) return true;
    if (this.remoteSsrc !== undefined && now - this.lastFromPeerMs < SOURCE_SWITCH_QUIET_MS) return false;
    if (this.remoteSsrc !== undefined) {
      this.log.debug('peer changed its RTP source', { from: this.remoteSsrc, to: ssrc });
      this.restartReception();
    }
    this.remoteSsrc = ssrc;
    return true;
  }

  private playoutTick(): void {
    const now = this.clock.now();
    const negotiated = this.negotiated!;
    if (receives(negotiated.direction)) {
      this.playOneFrame(now);
      this.checkPeerSilence(now);
    } else {
      this.silenceSinceMs = now;
    }
    if (now >= this.nextRtcpAtMs && !this.gate.keysPending) {
      void this.sendRtcpReport(false);
      this.nextRtcpAtMs = now + nextRtcpIntervalMs(Math.random, this.rtcpIntervalMs);
    }
    this.stats[STAT.lossFraction] = this.reception.lossFraction;
    this.stats[STAT.jitterMs] = this.reception.jitterMs;
  }

  /**
   * One 20 ms frame to the sink. The peer may send other packet sizes (RFC 3551 4.2: a
   * receiver should take any up to 200 ms; sipp's and many phones' are 30 ms), so decoded
   * packets go through a sample backlog and the sink always gets exactly one 20 ms frame.
   */
  private playOneFrame(now: number): void {
    let heldMs: number | undefined;
    while (this.backlogLength - this.backlogOffset < this.frameSize) heldMs = this.appendPacketToBacklog(now) ?? heldMs;
    const start = this.backlogOffset;
    this.backlogOffset += this.frameSize;
    if (!this.sinkOn) return;
    // A frame of its own (slice, not a view): its memory moves to the main thread.
    const pcm = this.backlog.slice(start, start + this.frameSize);
    this.emit({ t: 'play', id: this.id, pcm, rate: this.pcmRate, heldMs: this.probe ? heldMs : undefined }, [pcm.buffer]);
  }

  /** Returns how long a received packet waited in the jitter buffer, or undefined for concealment. */
  private appendPacketToBacklog(now: number): number | undefined {
    const frame = this.jitterBuffer.pop(now);
    const packetSamples = Math.round((this.packetMs * this.pcmRate) / 1000);
    let pcm: Int16Array;
    let heldMs: number | undefined;
    if (!frame.concealed) {
      this.playoutStarted = true;
      const decoded = this.decode(frame.payload);
      pcm = decoded.length > 0 ? this.concealer.received(decoded) : new Int16Array(packetSamples);
      heldMs = now - this.arrivalBySeq[frame.seq % SEQ_RING];
    } else if (frame.reason === 'buffering' || !this.playoutStarted) {
      pcm = new Int16Array(packetSamples);
    } else {
      this.stats[STAT.concealedFrames]++;
      // The codec's own recovery first (Opus: FEC from the next packet, else its PLC), ours otherwise.
      const next = frame.reason === 'lost' && frame.next ? Buffer.from(frame.next.buffer, frame.next.byteOffset, frame.next.byteLength) : undefined;
      pcm = this.recover(packetSamples, next) ?? this.concealer.conceal(packetSamples);
    }
    if (this.backlogOffset > 0) {
      this.backlog.copyWithin(0, this.backlogOffset, this.backlogLength);
      this.backlogLength -= this.backlogOffset;
      this.backlogOffset = 0;
    }
    if (this.backlogLength + pcm.length > this.backlog.length) {
      const grown = new Int16Array(this.backlogLength + pcm.length);
      grown.set(this.backlog.subarray(0, this.backlogLength));
      this.backlog = grown;
    }
    this.backlog.set(pcm, this.backlogLength);
    this.backlogLength += pcm.length;
    return heldMs;
  }

  /** A codec that cannot read a packet must not end the call: the packet counts as malformed and plays as silence. */
  private decode(payload: Uint8Array): Int16Array {
    try {
      // RTP payloads are Buffers already (rtp-packet.ts); a view is made only for anything else.
      return this.codec!.decode(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    } catch {
      this.stats[STAT.malformedDatagrams]++;
      return new Int16Array(0);
    }
  }

  private recover(samples: number, next: Buffer | undefined): Int16Array | undefined {
    try {
      return this.codec!.recover(samples, next);
    } catch {
      return undefined;
    }
  }

  /** The jitter buffer counts in the peer's packets: follow their length when it is not 20 ms. */
  private followPacketSize(payload: Uint8Array): void {
    const ms = packetMs(this.codecName!, payload);
    if (ms === undefined || ms === this.packetMs || ms < MIN_PACKET_MS || ms > MAX_PACKET_MS) return;
    this.log.debug('peer packet size', { ms });
    this.packetMs = ms;
    this.anchorSlot = -1;
    this.jitterBuffer = new JitterBuffer({ frameMs: ms, clockRate: this.rtpClock });
    this.playoutStarted = false;
  }

  private checkPeerSilence(now: number): void {
    if (this.silentFired) return;
    const heardAt = Math.max(this.lastFromPeerMs, this.silenceSinceMs);
    if (now - heardAt < this.silenceTimeoutMs) return;
    this.silentFired = true;
    this.log.info('no media from the peer', { silentForMs: Math.round(now - heardAt) });
    this.emit({ t: 'silent', id: this.id });
  }

  /** A new codec (the first, or another one agreed by re-INVITE): its rates, and playout state that counts in them. */
  private useCodec(name: AudioCodecName, opusComplexity: number | undefined): void {
    this.codec?.close();
    this.codec = createVoiceCodec(name, opusComplexity);
    this.codecName = name;
    this.pcmRate = this.codec.sampleRate;
    this.frameSize = frameSamples(this.pcmRate);
    this.rtpClock = rtpClockRate(name);
    this.timestampStep = frameSamples(this.rtpClock);
    this.silentFrame = new Int16Array(this.frameSize);
    this.silence = name === 'PCMU' || name === 'PCMA' ? this.codec.encode(this.silentFrame) : undefined;
    this.tunedLoss = undefined;
    this.quietFrames = 0;
    // DTX starts off: gateDtx turns it on in silence, and only toward a peer that asked (RFC 7587 6.1).
    this.dtxAllowed = false;
    this.codec.tune({ dtx: false });
    this.concealer = new LossConcealer(this.pcmRate);
    this.backlog = new Int16Array(4 * this.frameSize);
    this.backlogOffset = 0;
    this.backlogLength = 0;
    // Frames pulled at the old rate are of no use to the new codec.
    this.pulled.length = 0;
    this.restartReception();
  }

  /**
   * Where a packet goes in the jitter buffer: by its RTP timestamp, one slot per packet length,
   * not by its sequence number. A sender in DTX (Opus's silence) stops sending but keeps its
   * clock running, so after the silence the sequence number goes on by one while the timestamp
   * jumps: counted in time, the silence is frames the buffer fills with concealment, and the
   * delay stays what it was. For a sender without gaps both counts agree.
   */
  private playoutSlot(sequenceNumber: number, timestamp: number): number {
    if (this.anchorSlot < 0) {
      this.anchorTimestamp = timestamp;
      this.anchorSlot = sequenceNumber;
      return sequenceNumber;
    }
    const step = (this.packetMs * this.rtpClock) / 1000;
    const frames = Math.round(((timestamp - this.anchorTimestamp) | 0) / step);
    const slot = (this.anchorSlot + frames) & 0xffff;
    // Move the anchor forward only, so a late packet is placed against the same reference.
    if (frames > 0) {
      this.anchorTimestamp = timestamp;
      this.anchorSlot = slot;
    }
    return slot;
  }

  /** Statistics and the jitter buffer start over: a new codec or a new source. */
  private restartReception(): void {
    this.anchorSlot = -1;
    this.reception = new ReceptionStatistics(this.rtpClock);
    this.jitterBuffer = new JitterBuffer({ frameMs: this.packetMs, clockRate: this.rtpClock });
    this.playoutStarted = false;
  }

  // ---- RTCP ----

  private rtcpTarget(): { to: RtpEndpoint; via: RtcpArrival } | undefined {
    if (this.latchedRtcp) return this.latchedRtcp;
    const rtp = this.latchedRtp ?? this.sdpRtp;
    if (rtp && this.negotiated?.rtcpMux) return { to: rtp, via: 'rtp-port' };
    // RFC 3550 11: without other information, RTCP goes to the RTP port plus one.
    return rtp ? { to: { address: rtp.address, port: rtp.port + 1 }, via: 'rtcp-port' } : undefined;
  }

  private sendRtcpReport(bye: boolean): Promise<void> | undefined {
    const target = this.rtcpTarget();
    if (!target || this.gate.keysPending || this.rtcpOff) return undefined;
    // Sub-millisecond wallclock: Date.now() alone would put a millisecond of noise into every RTT.
    const ntp = msToNtp(performance.timeOrigin + performance.now());
    const now = this.clock.now();
    const blocks: ReportBlock[] = [];
    if (this.remoteSsrc !== undefined && this.reception.packetsReceived > 0) blocks.push(this.reception.reportBlock(this.remoteSsrc, now));
    // RFC 3550 6.4: an SR if we sent RTP since the report before last, else an RR (on hold, say).
    const sentLately = this.sent.packets > this.sentAtReports[1];
    this.sentAtReports = [this.sent.packets, this.sentAtReports[0]];
    const report: ReportPacket = sentLately
      ? {
          type: 'sr',
          ssrc: this.ssrc,
          sender: {
            ntpSeconds: ntp.seconds,
            ntpFraction: ntp.fraction,
            // The RTP clock at the same instant as the NTP time.
            rtpTimestamp: (this.tickTimestamp + Math.round(((now - this.tickScheduledMs) * this.rtpClock) / 1000)) >>> 0,
            packetCount: this.sent.packets >>> 0,
            octetCount: this.sent.octets >>> 0,
          },
          reports: blocks,
        }
      : { type: 'rr', ssrc: this.ssrc, reports: blocks };
    const plain = serializeRtcpCompound(report, this.cname, bye ? { reason: 'call ended' } : undefined);
    const compound = this.srtp ? this.srtp.rtcpOut.protect(plain) : plain;
    const route = this.route;
    // With ICE, RTCP is multiplexed on the selected pair (RFC 5761).
    if (route.kind === 'pair') return this.sockets.sendRtcp(compound, route.to, 'rtp-port');
    if (route.kind === 'none') return undefined;
    if (route.kind === 'main') {
      this.emit({ t: 'out', id: this.id, datagram: compound, to: route.anchored ? target.to : undefined });
      return undefined;
    }
    return this.sockets.sendRtcp(compound, target.to, target.via);
  }

  /** DTLS-SRTP without RTCP multiplexed (set by the main thread): no RTCP goes or is read. */
  rtcpOff = false;

  private adaptToLoss(lossFraction: number): void {
    if (this.codecName !== 'opus') return;
    const settings = opusSettingsFor(lossFraction);
    if (settings.packetLossPercent === this.tunedLoss) return;
    this.tunedLoss = settings.packetLossPercent;
    this.codec?.tune(settings);
    this.log.debug('opus tuned to the reported loss', settings);
  }

  receiveRtcp(received: Buffer, from: RtpEndpoint, arrival: RtcpArrival): void {
    if (this.stopped) return;
    if (arrival === 'rtcp-port' && (this.gate.iceInUse || this.rtcpOff)) {
      // With ICE, RTCP comes multiplexed on the checked pair; the old RTCP port is nobody's to use.
      this.stats[STAT.ignoredPackets]++;
      return;
    }
    let datagram = received;
    if (this.srtp) {
      const opened = this.srtp.rtcpIn.unprotect(received);
      if (!opened.ok) {
        this.countSrtp();
        return;
      }
      datagram = opened.rtcp;
    }
    const parsed = parseRtcpCompound(datagram);
    if (!parsed.ok) {
      this.stats[STAT.malformedDatagrams]++;
      this.log.debug('dropped a datagram that is not RTCP', { from: `${from.address}:${from.port}`, reason: parsed.reason });
      return;
    }
    const now = this.clock.now();
    const wallMs = performance.timeOrigin + performance.now();
    const report = parsed.packets[0] as ReportPacket;
    if (this.remoteSsrc !== undefined && report.ssrc !== this.remoteSsrc) {
      // Reports from some other source say nothing about this call.
      this.stats[STAT.ignoredPackets]++;
      return;
    }
    this.stats[STAT.rtcpReceived]++;
    this.lastFromPeerMs = now;
    this.latchedRtcp = { to: from, via: arrival };
    for (const packet of parsed.packets) {
      if (packet.type === 'sr' || packet.type === 'rr') {
        if (packet.type === 'sr' && (this.remoteSsrc === undefined || packet.ssrc === this.remoteSsrc)) {
          this.reception.senderReportReceived({ seconds: packet.sender.ntpSeconds, fraction: packet.sender.ntpFraction }, now);
        }
        for (const block of packet.reports) {
          if (block.ssrc !== this.ssrc) continue;
          const rtt = roundTripFromReport(block, wallMs);
          if (rtt !== undefined) this.stats[STAT.rttMs] = rtt;
          this.adaptToLoss(block.fractionLost / 256);
        }
      } else if (packet.type === 'bye') {
        this.log.debug('peer said RTCP BYE', { ssrcs: packet.ssrcs, reason: packet.reason });
      }
    }
  }

  private countSrtp(): void {
    const srtp = this.srtp!;
    const rtp = srtp.rtpIn.counters;
    const rtcp = srtp.rtcpIn.counters;
    this.stats[STAT.srtpAuthFailed] = rtp.authFailed + rtcp.authFailed;
    this.stats[STAT.srtpReplayed] = rtp.replayed + rtcp.replayed;
    this.stats[STAT.srtpMalformed] = rtp.malformed + rtcp.malformed;
  }

  // ---- sending ----

  private sendTick(tick: MediaTick): void {
    if (tick.lateMs > LATE_TICK_MS) this.stats[STAT.lateTicks]++;
    const negotiated = this.negotiated!;
    const timestamp = this.timestamp;
    this.tickTimestamp = timestamp;
    this.tickScheduledMs = tick.scheduledMs;
    // RFC 3550 5.1: the timestamp is the sampling instant, so it runs on while we send nothing.
    this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
    // DTLS-SRTP keys still on their way: nothing goes in the clear, and queued keys wait for them.
    if (!sends(negotiated.direction) || this.gate.keysPending) {
      this.markNext = true;
      return;
    }
    // The frame the main thread owed the tick before never came: that packet goes now, silent.
    if (this.deferredTimestamp !== undefined) this.sendAudio(undefined, this.takeDeferred()!);
    if (this.sendDtmfPacket(timestamp, negotiated)) return;
    if (!this.muted && this.sourceKind === 'main' && this.pulled.length === 0 && this.pullsOutstanding > 0) {
      // The main thread is late with this frame: the packet waits for it (as the whole tick
      // waited when the source was read on the main thread), rather than going silent.
      this.deferredTimestamp = timestamp;
      this.deferredScheduledMs = tick.scheduledMs;
      return;
    }
    this.sendAudio(this.muted ? undefined : this.readSource(), timestamp);
  }

  /** A tick's packet still waiting for its frame from the main thread. */
  private deferredTimestamp: number | undefined;

  private deferredScheduledMs = 0;

  /** The waiting packet's timestamp; a packet that goes more than 5 ms after its tick was due counts as a late tick. */
  private takeDeferred(): number | undefined {
    const timestamp = this.deferredTimestamp;
    this.deferredTimestamp = undefined;
    if (timestamp !== undefined && this.clock.now() - this.deferredScheduledMs > LATE_TICK_MS) this.stats[STAT.lateTicks]++;
    return timestamp;
  }

  private sendAudio(frame: Int16Array | undefined, timestamp: number): void {
    const negotiated = this.negotiated!;
    if (this.stopped || !sends(negotiated.direction) || this.gate.keysPending) return;
    if (this.codecName === 'opus' && negotiated.peerTakesDtx) this.gateDtx(frame);
    const payload = frame ? this.codec!.encode(frame) : (this.silence ?? this.codec!.encode(this.silentFrame));
    // RFC 7587 3.1.3 / libopus: a DTX frame of two bytes or less need not be sent; the decoder fills the gap.
    if (payload.length <= 2 && this.codecName === 'opus') {
      this.markNext = true;
      return;
    }
    // RFC 3551 4.1: the marker goes on the first packet after a silence or event gap.
    this.sendRtp(negotiated.codec.payloadType, this.markNext, timestamp, payload);
    this.markNext = false;
  }

  private readSource(): Int16Array | undefined {
    if (this.sourceKind === 'repeat') return this.repeated?.frames.find((f) => f.length === this.frameSize);
    if (this.sourceKind !== 'main') return undefined;
    const frame = this.pulled.shift();
    return frame && frame.length === this.frameSize ? frame : undefined;
  }

  /** Asks the main thread for the source's next frame, to be sent at the next tick (unless one waits already). */
  private pull(): void {
    if (this.pulled.length + this.pullsOutstanding >= 1) return;
    this.pullsOutstanding++;
    this.emit({ t: 'pull', id: this.id, rate: this.pcmRate });
  }

  /**
   * Opus DTX only in real silence: libopus's own voice detector takes a steady low sound (a
   * 300 Hz tone, a hum) for noise and would stop sending it. DTX is allowed once the input has
   * stayed below DTX_LEVEL for DTX_AFTER_FRAMES, and taken back at the first louder frame.
   */
  private gateDtx(frame: Int16Array | undefined): void {
    let quiet = true;
    if (frame) {
      let sum = 0;
      for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
      quiet = sum / frame.length < DTX_LEVEL_SQUARED;
    }
    this.quietFrames = quiet ? this.quietFrames + 1 : 0;
    const allow = this.quietFrames >= DTX_AFTER_FRAMES;
    if (allow !== this.dtxAllowed) {
      this.dtxAllowed = allow;
      this.codec!.tune({ dtx: allow });
    }
  }

  /** RFC 4733 2.5: while a key is being sent, its event packets take the place of audio. */
  private sendDtmfPacket(timestamp: number, negotiated: NegotiatedAudio): boolean {
    if (!this.dtmf) this.startNextDigit(timestamp);
    const progress = this.dtmf;
    if (!progress) return false;
    if (progress.next < progress.plan.length && negotiated.telephoneEventPayloadType !== undefined) {
      const entry = progress.plan[progress.next++];
      this.sendRtp(negotiated.telephoneEventPayloadType, entry.marker, progress.startTimestamp, serializeTelephoneEvent(entry.event));
      if (progress.next === progress.plan.length) this.stats[STAT.dtmfSent]++;
      this.markNext = true;
      return true;
    }
    // The gap after a key is ordinary audio; the next key starts once it has passed.
    if (progress.gapFrames-- <= 0) {
      this.dtmf = undefined;
      this.finishJobIfDone();
    }
    return false;
  }

  private startNextDigit(timestamp: number): void {
    const job = this.dtmfQueue[0];
    if (!job) return;
    const key = job.keys.shift()!;
    this.dtmf = { plan: planDtmfPackets(key, { clockRate: this.rtpClock }), next: 0, startTimestamp: timestamp, gapFrames: INTER_DIGIT_GAP_FRAMES };
  }

  private finishJobIfDone(): void {
    const job = this.dtmfQueue[0];
    if (job && job.keys.length === 0) {
      this.dtmfQueue.shift();
      this.emit({ t: 'dtmf-done', id: this.id, job: job.id });
    }
  }

  private sendRtp(payloadType: number, marker: boolean, timestamp: number, payload: Buffer): void {
    if (this.gate.keysPending) return;
    const plain = serializeRtpPacket({ payloadType, marker, sequenceNumber: this.sequence, timestamp, ssrc: this.ssrc, payload });
    const datagram = this.srtp ? this.srtp.rtpOut.protect(plain) : plain;
    this.sequence = (this.sequence + 1) & 0xffff;
    this.sent.sent(payload.length);
    this.stats[STAT.packetsSent] = this.sent.packets;
    this.stats[STAT.octetsSent] = this.sent.octets;
    const route = this.route;
    if (route.kind === 'peer') {
      const target = this.latchedRtp ?? this.sdpRtp;
      if (target) this.sockets.sendRtp(datagram, target);
    } else if (route.kind === 'pair') {
      this.sockets.sendRtp(datagram, route.to);
    } else if (route.kind === 'main') {
      this.emit({ t: 'out', id: this.id, datagram, to: route.anchored ? this.latchedRtp ?? this.sdpRtp : undefined });
    }
  }
}

/**
 * Opus bitrate and loss hint from the loss the peer reports (RFC 3550 6.4.1 fraction lost). A clean
 * path gets 32 kbit/s; as loss grows the encoder spends fewer bits on the audio and more on in-band
 * FEC, which needs at least ~20 kbit/s to carry anything (libopus), so that is the floor. libopus
 * adds FEC only when told of loss worth it (none at 5 % with 32 kbit/s), so it is told twice what
 * the peer sees, and never less than 10 %: reports come every 5 s, and a path that was clean in
 * the last one (Wi-Fi) may lose packets now; FEC that is on when it starts is worth its bits
 * (test/integration/call-loss.test.ts: with the hint at 0 after a clean report, 7 % loss cost
 * Opus more of the phrase than G.711).
 */
export function opusSettingsFor(lossFraction: number): { bitrate: number; packetLossPercent: number } {
  const percent = Math.min(100, Math.ceil(lossFraction * 100));
  const bitrate = percent <= 1 ? 32_000 : percent <= 5 ? 28_000 : percent <= 15 ? 24_000 : 20_000;
  return { bitrate, packetLossPercent: Math.min(100, Math.max(10, 2 * percent)) };
}

