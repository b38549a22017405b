// The media of one call: 20 ms frames from an AudioSource through the codec to RTP, RTP through
// the jitter buffer, the codec and loss concealment to an AudioSink, RTCP reports both ways, RFC 4733 DTMF both ways,
// and symmetric RTP (send to where the peer's media really comes from, RFC 4961's idea, which
// is what gets media through a NAT when the SDP address is a private one).
import { randomBytes, randomInt, X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import type { CallQuality, MediaPathView } from './call-view.js';
import { FRAME_MS, frameSamples, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import { DtmfReceiver } from '../../proto/media/dtmf-receiver.js';
import { planDtmfPackets, validateDtmfKeys, type DtmfPacketPlanEntry } from '../../proto/media/dtmf-sender.js';
import { JitterBuffer } from '../../proto/media/jitter-buffer.js';
import { LossConcealer } from '../../proto/media/loss-concealment.js';
import { firstRtcpIntervalMs, nextRtcpIntervalMs, RTCP_MIN_INTERVAL_MS } from '../../proto/media/rtcp-interval.js';
import { ReceptionStatistics, roundTripFromReport, SenderCounters } from '../../proto/media/rtp-statistics.js';
import type { IceRole } from '../../proto/nat/ice-agent.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { IceDescription } from '../../wire/sdp/ice-attributes.js';
import type { MediaClock, MediaTick } from '../../transport/media-clock.js';
import { RtpSocketPair, type RtcpArrival, type RtpEndpoint } from '../../transport/rtp-socket.js';
import type { VoiceCodec } from '../../wire/audio/voice-codec.js';
import { createVoiceCodec, packetMs } from './voice-codecs.js';
import { msToNtp, parseRtcpCompound, serializeRtcpCompound, type ReportBlock, type ReportPacket } from '../../wire/rtp/rtcp.js';
import { looksLikeRtcp, parseRtpPacket, serializeRtpPacket } from '../../wire/rtp/rtp-packet.js';
import { parseTelephoneEvent, serializeTelephoneEvent } from '../../wire/rtp/telephone-event.js';
import { rtpClockRate, type AudioCodecName, type NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import { receives, sends } from '../../wire/sdp/direction.js';
import { IcePath, type CallPortMapping, type HeldRelays, type IceGatheringConfig } from './ice-path.js';
import { SrtcpReceiver, SrtcpSender, SrtpReceiver, SrtpSender } from '../../wire/srtp/srtp.js';
import type { CallSrtpKeys } from '../../wire/sdp/media-key.js';
import type { DtlsCredentials, DtlsFailure } from '../../transport/dtls-session.js';
import { fingerprintOf, type DtlsFingerprint, type DtlsSetup } from '../../wire/sdp/dtls-attributes.js';
import { looksLikeDtls } from '../../wire/rtp/demultiplex.js';
import { DtlsKeying } from './dtls-keying.js';

export interface MediaSessionOptions {
  bind: string;
  advertisedHost: string;
  clock: MediaClock;
  log: Logger;
  portRange?: [number, number];
  /** No RTP nor RTCP from the peer for this long while it should be sending: onPeerSilent fires once (default 30000). */
  silenceTimeoutMs?: number;
  /** RFC 3550 6.2's minimum report interval (default 5000); tests shorten it. */
  rtcpIntervalMs?: number;
  /** Measurement hook for benchmarks: called just before a received frame is written to the sink. */
  probe?: MediaProbe;
  /** Where ICE finds its reflexive and relayed candidates; without it, calls offer host candidates only. */
  ice?: () => IceGatheringConfig;
  /** Real timers for ICE (the media clock drives audio only). */
  timers?: TimerHost;
  /** The certificate of DTLS-SRTP handshakes with phones (the node's own, as on SIP over TLS). */
  dtls?: DtlsCredentials;
}

export interface MediaProbe {
  /** `heldMs`: how long the frame's packet waited in the jitter buffer. */
  framePlayed(heldMs: number): void;
}

/** What a call shows of its quality, and the counters behind it. */
export interface MediaStats extends CallQuality {
  lateTicks: number;
  concealedFrames: number;
  dtmfSent: number;
  dtmfReceived: number;
  /** Datagrams on our ports that were neither RTP nor RTCP we could read. */
  malformedDatagrams?: number;
  /** RTP of a payload type not negotiated, or from a source other than the peer's. */
  ignoredPackets?: number;
  /** RTCP compounds read from the peer (they keep coming while the call is on hold). */
  rtcpReceived?: number;
  /** With ICE: the pair media travels on, in words (direct, or relayed by whom) and its round trip. */
  path?: MediaPathView;
  /** With ICE: datagrams that were not from a checked pair (RFC 8445 7.2.5.3.2), dropped. */
  refusedMedia?: number;
  /** With SRTP: packets and compounds refused, by why (RFC 3711 3.3: failed authentication, replayed, unreadable). */
  srtp?: { authFailed: number; replayed: number; malformed: number };
}

interface SrtpContexts {
  rtpOut: SrtpSender;
  rtpIn: SrtpReceiver;
  rtcpOut: SrtcpSender;
  rtcpIn: SrtcpReceiver;
}

export class DtmfUnavailableError extends Error {
  readonly code = 'DTMF_UNAVAILABLE';
}

const DEFAULT_SILENCE_TIMEOUT_MS = 30_000;
/** The controlled side of a dead path restarts ICE itself only if the controlling side has not within this long. */
const CONTROLLED_RESTART_WAIT_MS = 3_000;
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

interface DtmfJob {
  keys: string[];
  resolve(): void;
  reject(error: Error): void;
}

interface DtmfInProgress {
  plan: DtmfPacketPlanEntry[];
  next: number;
  startTimestamp: number;
  gapFrames: number;
}

export class MediaSession {
  readonly port: number;
  readonly address: string;
  muted = false;
  onDtmf?: (digit: string) => void;
  onPeerSilent?: () => void;
  /** With ICE: the selected path stopped carrying anything; the controlling side restarts ICE. */
  onPathLost?: () => void;

  private readonly log: Logger;
  private readonly clock: MediaClock;
  private readonly silenceTimeoutMs: number;
  private readonly rtcpIntervalMs: number;
  private readonly probe: MediaProbe | undefined;
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
  private source: AudioSource | undefined;
  private sink: AudioSink | undefined;

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

  private rttMs: number | undefined;
  /** ICE for this call's socket, once gathered; dropped when the peer turns out not to do ICE. */
  private ice: IcePath | undefined;
  /** True once the peer's SDP had ICE: media then goes only on the selected pair. */
  private iceInUse = false;
  private iceRemoteUfrag: string | undefined;
  /** The call's port mapped on our router, asked for at the first gathering and kept across ICE restarts. */
  private portMapping: Promise<CallPortMapping | undefined> | undefined;
  /** Where the peer's SIP comes from: a relay anchoring media for a phone without ICE lets that address in too. */
  signallingPeer: string | undefined;
  private pathLostTimer: ReturnType<typeof setTimeout> | undefined;
  /** Relays (IP addresses) the dead path went through: a restart leaves them behind. */
  private failedRelays: string[] = [];
  private readonly iceOptions: { config?: () => IceGatheringConfig; timers?: TimerHost };
  /** Packets sent as of the last two reports, newest first (RFC 3550 6.4: SR or RR). */
  private sentAtReports: [number, number] = [0, 0];
  private nextRtcpAtMs = Infinity;
  private silenceSinceMs = 0;
  private silentFired = false;

  private readonly dtmfQueue: DtmfJob[] = [];
  private dtmf: DtmfInProgress | undefined;
  /** Set before the first configure() of an encrypted call: then nothing goes or is taken in the clear. */
  private srtp: SrtpContexts | undefined;
  /** DTLS-SRTP with a phone: the handshake, and what waits for its keys (dtls-keying.ts). */
  private readonly keying: DtlsKeying | undefined;
  /** DTLS-SRTP without RTCP multiplexed: the RTCP port would need its own handshake, so no RTCP goes or is read. */
  private rtcpOff = false;
  /** The send bitrate: octets sent as of the last mark, and when. */
  private rateMark = { at: 0, octets: 0 };
  private bitrateKbps: number | undefined;
  /** The DTLS-SRTP handshake failed or the peer refused our certificate: the call cannot be secured. */
  onSecurityFailed?: (problem: DtlsFailure, reason: string) => void;
  /** The DTLS-SRTP keys are in place. */
  onSecured?: () => void;

  private readonly counts = {
    packetsReceived: 0,
    lateTicks: 0,
    concealedFrames: 0,
    dtmfSent: 0,
    dtmfReceived: 0,
    malformedDatagrams: 0,
    ignoredPackets: 0,
    rtcpReceived: 0,
  };
  private closed = false;

  private constructor(
    options: MediaSessionOptions,
    private readonly sockets: RtpSocketPair,
  ) {
    this.port = sockets.port;
    this.address = options.advertisedHost;
    this.clock = options.clock;
    this.log = options.log;
    this.silenceTimeoutMs = options.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS;
    this.rtcpIntervalMs = options.rtcpIntervalMs ?? RTCP_MIN_INTERVAL_MS;
    this.probe = options.probe;
    this.iceOptions = { config: options.ice, timers: options.timers };
    this.dtlsCredentials = options.dtls;
    this.keying = options.dtls && new DtlsKeying(options.dtls, {
      log: this.log,
      send: (record, peer) => this.sendRecord(record, peer),
      keyed: (keys) => {
        if (!this.closed) this.secure(keys);
      },
      arrivedEarly: (early) => {
        if (this.closed) return;
        for (const held of early) this.receiveMedia(held.datagram, held.from);
        this.onSecured?.();
      },
      failed: (problem, reason) => {
        if (!this.closed) this.onSecurityFailed?.(problem, reason);
      },
      heardPeer: () => this.counts.packetsReceived > 0,
    });
  }

  private readonly dtlsCredentials: DtlsCredentials | undefined;
  private ownFingerprint: DtlsFingerprint | undefined;

  /** The fingerprint our DTLS-SRTP certificate goes by in SDP; undefined when this node has none. */
  get dtlsFingerprint(): DtlsFingerprint | undefined {
    if (!this.dtlsCredentials) return undefined;
    this.ownFingerprint ??= fingerprintOf(new X509Certificate(this.dtlsCredentials.certPem).raw);
    return this.ownFingerprint;
  }

  /** DTLS-SRTP keys still on their way: nothing goes out in the clear, and what comes in waits. */
  private get keysPending(): boolean {
    return this.keying?.pending === true;
  }

  static async open(options: MediaSessionOptions): Promise<MediaSession> {
    // Datagrams are delivered by later event-loop turns, so the session exists before the first one.
    const route: { to?: MediaSession } = {};
    const sockets = await RtpSocketPair.open({
      bind: options.bind,
      portRange: options.portRange,
      onRtp: (datagram, from) => route.to?.receiveOnRtpPort(datagram, from, false),
      onRtcp: (datagram, from, arrival) => (arrival === 'rtp-port' ? route.to?.receiveOnRtpPort(datagram, from, true) : route.to?.receiveRtcp(datagram, from, arrival)),
      onError: (error) => options.log.warn('RTP socket failed', { error: error.message }),
    });
    route.to = new MediaSession(options, sockets);
    return route.to;
  }

  /**
   * Gathers ICE candidates for this call's socket (RFC 8445 5.1.1): the offerer controls, the
   * answerer is controlled. The description goes into our SDP.
   */
  async gatherIce(role: IceRole, adopt?: HeldRelays): Promise<IceDescription | undefined> {
    const timers = this.iceOptions.timers;
    if (this.closed || !timers) return undefined;
    if (this.ice) return this.ice.description();
    const config = this.iceOptions.config?.() ?? { stunServers: [] };
    const path = new IcePath({
      role,
      adopt,
      hostAddresses: [this.address],
      port: this.port,
      sendFromSocket: (bytes, to) => this.sockets.sendRtp(bytes, to),
      deliverMedia: (datagram, from) => this.receiveMedia(datagram, from),
      timers,
      log: this.log.child('ice'),
      onState: (state) => this.pathState(path, state, config),
    });
    this.ice = path;
    this.portMapping ??= config.mapPort?.(this.port).catch(() => undefined);
    return path.gather(config, this.portMapping);
  }

  /** Our NAT needs a relay for a peer without ICE to reach us: a plain offer is answered with a relayed address. */
  plainPeersNeedRelay(): boolean {
    return this.iceOptions.config?.().relayByDefault === true;
  }

  /** RFC 8445 9: a new agent (new ufrag, password and candidates) on the same socket. */
  async restartIce(role: IceRole): Promise<IceDescription | undefined> {
    if (this.closed || !this.iceInUse) return undefined;
    const old = this.ice;
    this.ice = undefined;
    this.iceRemoteUfrag = undefined;
    this.pathLostTimer = undefined;
    const held = old?.handOver(this.failedRelays);
    this.failedRelays = [];
    await old?.close();
    return this.gatherIce(role, held);
  }

  /** An offer whose ufrag is not the one our checks run with asks for an ICE restart. */
  isIceRestart(offeredUfrag: string | undefined): boolean {
    return this.iceInUse && offeredUfrag !== undefined && offeredUfrag !== this.iceRemoteUfrag;
  }

  /**
   * The path went quiet: a relay of ours on it is reported, and the controlling side asks for a
   * restart at once; the controlled one only if the other side has not done so a little later.
   */
  private pathState(path: IcePath, state: string, config: IceGatheringConfig): void {
    if (path === this.ice && state === 'connected') this.keying?.pathReady();
    if (path !== this.ice || (state !== 'disconnected' && state !== 'failed')) return;
    for (const address of path.selectedRelays()) {
      config.relayFailed?.(address);
      if (!this.failedRelays.includes(address)) this.failedRelays.push(address);
    }
    if (path.agent.role === 'controlling') {
      this.onPathLost?.();
      return;
    }
    this.pathLostTimer ??= setTimeout(() => {
      if (this.ice === path && path.agent.state !== 'connected') this.onPathLost?.();
    }, CONTROLLED_RESTART_WAIT_MS);
  }

  /** An encrypted call's keys, one master key per direction (RFC 3711 8.2); set once, before configure(). */
  secure(keys: CallSrtpKeys): void {
    if (this.srtp || (this.negotiated && !this.keysPending)) throw new Error('SRTP keys are set once, before media starts');
    this.srtp = {
      rtpOut: new SrtpSender(keys.send.key, keys.send.salt, keys.suite),
      rtpIn: new SrtpReceiver(keys.receive.key, keys.receive.salt, keys.suite),
      rtcpOut: new SrtcpSender(keys.send.key, keys.send.salt, keys.suite),
      rtcpIn: new SrtcpReceiver(keys.receive.key, keys.receive.salt, keys.suite),
    };
  }

  get encrypted(): boolean {
    return this.srtp !== undefined || this.keysPending;
  }

  /**
   * DTLS-SRTP (RFC 5764): the keys come from a handshake on this socket with the peer that must
   * present `peerFingerprint`. Called once media is configured; until the keys are in place
   * nothing is sent, and what arrives waits (a little of it) to be opened with them.
   */
  startDtls(ownSetup: DtlsSetup, peerFingerprint: DtlsFingerprint, rtcpMux: boolean): void {
    if (this.closed || this.keying?.started || this.srtp) return;
    if (!this.keying) throw new Error('this node has no certificate for DTLS-SRTP');
    this.rtcpOff = !rtcpMux;
    this.keying.start(ownSetup, peerFingerprint);
  }

  /** A DTLS record goes where media goes: the ICE pair (false until there is one), the anchoring relay, or the peer. */
  private sendRecord(record: Buffer, peer: RtpEndpoint | undefined): boolean {
    if (this.iceInUse && this.ice) return this.ice.sendMedia(record);
    const target = peer ?? this.rtpTarget();
    if (target && !this.ice?.sendAnchored(record, target)) this.sockets.sendRtp(record, target);
    return true;
  }

  /** First call starts media; later ones (re-INVITE) change codec, remote or direction, keeping SSRC and sequence. */
  configure(negotiated: NegotiatedAudio): void {
    if (this.closed) return;
    this.configureIce(negotiated);
    const previous = this.negotiated;
    this.negotiated = negotiated;
    if (negotiated.codec.name !== this.codecName) this.useCodec(negotiated.codec.name);
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
    }
    if (!previous || sends(negotiated.direction) !== sends(previous.direction)) this.markNext = true;
    if (!previous || !receives(previous.direction)) {
      // The wait for the peer starts when we begin to expect its media.
      this.silenceSinceMs = now;
      this.silentFired = false;
    }
  }

  /** A new codec (the first, or another one agreed by re-INVITE): its rates, and playout state that counts in them. */
  private useCodec(name: AudioCodecName): void {
    this.codec?.close();
    this.codec = createVoiceCodec(name);
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

  /**
   * The peer's SDP says whether it does ICE: start the checks, or go without ICE (a plain SIP
   * phone): through our default relay when that is where it will send, else latching as ever.
   */
  private configureIce(negotiated: NegotiatedAudio): void {
    if (!this.ice) return;
    if (!negotiated.ice) {
      if (!this.iceInUse && !this.ice.anchored) {
        if (this.ice.anchorPlainPeer([negotiated.remoteAddress, ...(this.signallingPeer ? [this.signallingPeer] : [])])) return;
        this.log.debug('the peer does not do ICE: media goes to its SDP address');
        void this.ice.close();
        this.ice = undefined;
      }
      return;
    }
    if (this.iceRemoteUfrag === negotiated.ice.ufrag) return;
    this.iceRemoteUfrag = negotiated.ice.ufrag;
    this.iceInUse = true;
    this.ice.start(negotiated.ice);
  }

  setSource(source: AudioSource | undefined): void {
    this.source = source;
  }

  setSink(sink: AudioSink | undefined): void {
    this.sink = sink;
  }

  /** RFC 4733: sends the keys in order, about 100 ms each plus a gap; resolves once all are sent. */
  sendDtmf(digits: string): Promise<void> {
    try {
      validateDtmfKeys(digits);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closed) return Promise.reject(new DtmfUnavailableError('the call has ended'));
    if (!this.negotiated || this.negotiated.telephoneEventPayloadType === undefined) {
      return Promise.reject(new DtmfUnavailableError('the other side did not agree to RFC 4733 telephone-events'));
    }
    if (digits.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.dtmfQueue.push({ keys: [...digits.toUpperCase()], resolve, reject }));
  }

  stats(): MediaStats {
    // The send bitrate over the last second or more: what the codec really uses (DTX, adaptation).
    const nowMs = this.clock.now();
    if (nowMs - this.rateMark.at >= 1000) {
      if (this.rateMark.at > 0) this.bitrateKbps = (8 * (this.sent.octets - this.rateMark.octets)) / (nowMs - this.rateMark.at);
      this.rateMark = { at: nowMs, octets: this.sent.octets };
    }
    const remote = this.iceInUse ? this.ice?.agent.mediaTarget()?.to : this.rtpTarget();
    const anchored = !this.iceInUse && this.ice?.anchored ? this.ice.view() : undefined;
    // Through a relay to a peer without ICE: the far end is where its media comes from, the round trip RTCP's.
    const path = this.iceInUse ? this.ice?.view() : anchored && { ...anchored, rttMs: this.rttMs === undefined ? undefined : Math.round(this.rttMs), remote: remote ? `plain ${remote.address}:${remote.port}` : anchored.remote };
    return {
      codec: this.negotiated?.codec.name ?? '',
      packetsSent: this.sent.packets,
      packetsReceived: this.counts.packetsReceived,
      lossFraction: this.reception.lossFraction,
      jitterMs: this.reception.jitterMs,
      rttMs: this.rttMs,
      remoteMedia: remote ? `${remote.address}:${remote.port}` : undefined,
      lateTicks: this.counts.lateTicks,
      concealedFrames: this.counts.concealedFrames,
      dtmfSent: this.counts.dtmfSent,
      dtmfReceived: this.counts.dtmfReceived,
      malformedDatagrams: this.counts.malformedDatagrams,
      ignoredPackets: this.counts.ignoredPackets + (this.keying?.overflowed ?? 0),
      rtcpReceived: this.counts.rtcpReceived,
      ...(this.bitrateKbps !== undefined ? { bitrateKbps: this.bitrateKbps } : {}),
      ...(this.iceInUse ? { path, refusedMedia: this.ice?.counters.refusedMedia ?? 0 } : path ? { path } : {}),
      ...(this.srtp ? { srtp: srtpRefusals(this.srtp) } : {}),
    };
  }

  /** Sends an RTCP BYE (RFC 3550 6.6), leaves the clock and closes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The BYE must have left before its socket closes.
    const byeSent = this.negotiated ? this.sendRtcpReport(true) : undefined;
    for (const leave of this.leaveClock.splice(0)) leave();
    const ended = new DtmfUnavailableError('the call ended before the keys were sent');
    for (const job of this.dtmfQueue.splice(0)) job.reject(ended);
    this.dtmf = undefined;
    await byeSent;
    this.keying?.close();
    if (this.pathLostTimer) clearTimeout(this.pathLostTimer);
    await this.ice?.close();
    await this.portMapping?.then((mapping) => mapping?.release());
    await this.sockets.close();
    this.codec?.close();
  }

  // ---- sending ----

  private sendTick(tick: MediaTick): void {
    if (tick.lateMs > LATE_TICK_MS) this.counts.lateTicks++;
    const negotiated = this.negotiated!;
    const timestamp = this.timestamp;
    this.tickTimestamp = timestamp;
    this.tickScheduledMs = tick.scheduledMs;
    // RFC 3550 5.1: the timestamp is the sampling instant, so it runs on while we send nothing.
    this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
    // DTLS-SRTP keys still on their way: nothing goes in the clear, and queued keys wait for them.
    if (!sends(negotiated.direction) || this.keysPending) {
      this.markNext = true;
      return;
    }
    const target = this.rtpTarget();
    if (this.sendDtmfPacket(timestamp, negotiated, target)) return;
    const frame = this.muted ? undefined : this.source?.read(this.pcmRate);
    if (this.codecName === 'opus' && negotiated.peerTakesDtx) this.gateDtx(frame);
    const payload = frame ? this.codec!.encode(frame) : (this.silence ?? this.codec!.encode(this.silentFrame));
    // RFC 7587 3.1.3 / libopus: a DTX frame of two bytes or less need not be sent; the decoder fills the gap.
    if (payload.length <= 2 && this.codecName === 'opus') {
      this.markNext = true;
      return;
    }
    // RFC 3551 4.1: the marker goes on the first packet after a silence or event gap.
    this.sendRtp(negotiated.codec.payloadType, this.markNext, timestamp, payload, target);
    this.markNext = false;
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
  private sendDtmfPacket(timestamp: number, negotiated: NegotiatedAudio, target: RtpEndpoint | undefined): boolean {
    if (!this.dtmf) this.startNextDigit(timestamp);
    const progress = this.dtmf;
    if (!progress) return false;
    if (progress.next < progress.plan.length && negotiated.telephoneEventPayloadType !== undefined) {
      const entry = progress.plan[progress.next++];
      this.sendRtp(negotiated.telephoneEventPayloadType, entry.marker, progress.startTimestamp, serializeTelephoneEvent(entry.event), target);
      if (progress.next === progress.plan.length) this.counts.dtmfSent++;
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
      job.resolve();
    }
  }

  private sendRtp(payloadType: number, marker: boolean, timestamp: number, payload: Buffer, target: RtpEndpoint | undefined): void {
    if (this.keysPending) return;
    const plain = serializeRtpPacket({ payloadType, marker, sequenceNumber: this.sequence, timestamp, ssrc: this.ssrc, payload });
    const datagram = this.srtp ? this.srtp.rtpOut.protect(plain) : plain;
    this.sequence = (this.sequence + 1) & 0xffff;
    this.sent.sent(payload.length);
    if (this.iceInUse && this.ice) this.ice.sendMedia(datagram);
    else if (target && !this.ice?.sendAnchored(datagram, target)) this.sockets.sendRtp(datagram, target);
  }

  private rtpTarget(): RtpEndpoint | undefined {
    return this.latchedRtp ?? this.sdpRtp;
  }

  // ---- receiving ----

  /** On the RTP port: STUN and TURN for ICE, then media, which with ICE must come from a checked pair. */
  private receiveOnRtpPort(datagram: Buffer, from: RtpEndpoint, looksLikeRtcp: boolean): void {
    if (this.closed) return;
    if (this.ice) {
      const verdict = this.ice.intercept(datagram, from);
      if (verdict === 'consumed') return;
      if (verdict === 'refused' && this.iceInUse) return;
    }
    if (this.keying && (looksLikeDtls(datagram) || this.keying.pending)) this.keyingTakes(datagram, from);
    else if (looksLikeRtcp) this.receiveRtcp(datagram, from, 'rtp-port');
    else this.receiveRtp(datagram, from);
  }

  /** RFC 7983: DTLS records to the handshake; media that came before the keys waits for them. */
  private keyingTakes(datagram: Buffer, from: RtpEndpoint): void {
    if (looksLikeDtls(datagram)) this.keying!.receiveRecord(datagram, from, this.iceInUse);
    else this.keying!.hold(datagram, from);
  }

  /** Media that came through a TURN relay from the selected peer. */
  private receiveMedia(datagram: Buffer, from: RtpEndpoint): void {
    if (this.keying && (looksLikeDtls(datagram) || this.keying.pending)) this.keyingTakes(datagram, from);
    else if (looksLikeRtcp(datagram)) this.receiveRtcp(datagram, from, 'rtp-port');
    else this.receiveRtp(datagram, from);
  }

  private receiveRtp(received: Buffer, from: RtpEndpoint): void {
    if (this.closed) return;
    let datagram = received;
    if (this.srtp) {
      // RFC 3711 3.3: authenticated and checked against replay before anything else reads it.
      const opened = this.srtp.rtpIn.unprotect(received);
      if (!opened.ok) return;
      datagram = opened.rtp;
    }
    const parsed = parseRtpPacket(datagram);
    if (!parsed.ok) {
      this.counts.malformedDatagrams++;
      this.log.debug('dropped a datagram that is not RTP', { from: `${from.address}:${from.port}`, reason: parsed.reason });
      return;
    }
    const negotiated = this.negotiated;
    const packet = parsed.packet;
    const isAudio = negotiated !== undefined && packet.payloadType === negotiated.codec.payloadType;
    const isEvent = negotiated?.telephoneEventPayloadType !== undefined && packet.payloadType === negotiated.telephoneEventPayloadType;
    if (!isAudio && !isEvent) {
      this.counts.ignoredPackets++;
      return;
    }
    const now = this.clock.now();
    if (!this.acceptSource(packet.ssrc, now)) {
      this.counts.ignoredPackets++;
      return;
    }
    const verdict = this.reception.packetReceived(packet.sequenceNumber, packet.timestamp, now, isAudio);
    if (verdict === 'bad-jump') {
      this.counts.ignoredPackets++;
      return;
    }
    this.counts.packetsReceived++;
    this.lastFromPeerMs = now;
    // Symmetric RTP: answer to the address the peer's media comes from, whatever its SDP said.
    if (!this.latchedRtp || this.latchedRtp.address !== from.address || this.latchedRtp.port !== from.port) {
      if (!this.latchedRtp) this.log.debug('latched RTP to the peer source', { from: `${from.address}:${from.port}` });
      this.latchedRtp = from;
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
      this.counts.malformedDatagrams++;
      return;
    }
    const digit = this.dtmfReceiver.receive({ ssrc: packet.ssrc, timestamp: packet.timestamp, marker: packet.marker, event });
    if (digit !== undefined) {
      this.counts.dtmfReceived++;
      try {
        this.onDtmf?.(digit);
      } catch (error) {
        this.log.warn('onDtmf handler threw', { error: String(error) });
      }
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
    if (now >= this.nextRtcpAtMs && !this.keysPending) {
      void this.sendRtcpReport(false);
      this.nextRtcpAtMs = now + nextRtcpIntervalMs(Math.random, this.rtcpIntervalMs);
    }
  }

  /**
   * One 20 ms frame to the sink. The peer may send other packet sizes (RFC 3551 4.2: a
   * receiver should take any up to 200 ms; sipp's and many phones' are 30 ms), so decoded
   * packets go through a sample backlog and the sink always gets exactly one 20 ms frame.
   */
  private playOneFrame(now: number): void {
    while (this.backlogLength - this.backlogOffset < this.frameSize) this.appendPacketToBacklog(now);
    const pcm = this.backlog.slice(this.backlogOffset, this.backlogOffset + this.frameSize);
    this.backlogOffset += this.frameSize;
    this.sink?.write(pcm, this.pcmRate);
  }

  private appendPacketToBacklog(now: number): void {
    const frame = this.jitterBuffer.pop(now);
    const packetSamples = Math.round((this.packetMs * this.pcmRate) / 1000);
    let pcm: Int16Array;
    if (!frame.concealed) {
      this.playoutStarted = true;
      const decoded = this.decode(frame.payload);
      pcm = decoded.length > 0 ? this.concealer.received(decoded) : new Int16Array(packetSamples);
      this.probe?.framePlayed(now - this.arrivalBySeq[frame.seq % SEQ_RING]);
    } else if (frame.reason === 'buffering' || !this.playoutStarted) {
      pcm = new Int16Array(packetSamples);
    } else {
      this.counts.concealedFrames++;
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
  }

  /** A codec that cannot read a packet must not end the call: the packet counts as malformed and plays as silence. */
  private decode(payload: Uint8Array): Int16Array {
    try {
      // RTP payloads are Buffers already (rtp-packet.ts); a view is made only for anything else.
      return this.codec!.decode(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    } catch {
      this.counts.malformedDatagrams++;
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
    try {
      this.onPeerSilent?.();
    } catch (error) {
      this.log.warn('onPeerSilent handler threw', { error: String(error) });
    }
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
    if (!target || this.keysPending || this.rtcpOff) return undefined;
    // Sub-millisecond wallclock: Date.now() alone would put a millisecond of noise into every RTT.
    const ntp = msToNtp(performance.timeOrigin + performance.now());
    const now = this.clock.now();
    const blocks: ReportBlock[] = [];
    if (this.remoteSsrc !== undefined && this.reception.packetsReceived > 0) blocks.push(this.reception.reportBlock(this.remoteSsrc, now));
    // RFC 3550 6.4: an SR if we sent RTP since the report before last, else an RR (on hold, say).
    const sentLately = this.sent.packets > this.sentAtReports[1];
    this.sentAtReports = [this.sent.packets, this.sentAtReports[0]];
    const report: ReportPacket =
      sentLately
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
    // With ICE, RTCP is multiplexed on the selected pair (RFC 5761).
    if (this.iceInUse && this.ice) {
      this.ice.sendMedia(compound);
      return undefined;
    }
    if (this.ice?.sendAnchored(compound, target.to)) return undefined;
    return this.sockets.sendRtcp(compound, target.to, target.via);
  }

  private adaptToLoss(lossFraction: number): void {
    if (this.codecName !== 'opus') return;
    const settings = opusSettingsFor(lossFraction);
    if (settings.packetLossPercent === this.tunedLoss) return;
    this.tunedLoss = settings.packetLossPercent;
    this.codec?.tune(settings);
    this.log.debug('opus tuned to the reported loss', settings);
  }

  private receiveRtcp(received: Buffer, from: RtpEndpoint, arrival: RtcpArrival): void {
    if (this.closed) return;
    if (arrival === 'rtcp-port' && (this.iceInUse || this.rtcpOff)) {
      // With ICE, RTCP comes multiplexed on the checked pair; the old RTCP port is nobody's to use.
      this.counts.ignoredPackets++;
      return;
    }
    let datagram = received;
    if (this.srtp) {
      const opened = this.srtp.rtcpIn.unprotect(received);
      if (!opened.ok) return;
      datagram = opened.rtcp;
    }
    const parsed = parseRtcpCompound(datagram);
    if (!parsed.ok) {
      this.counts.malformedDatagrams++;
      this.log.debug('dropped a datagram that is not RTCP', { from: `${from.address}:${from.port}`, reason: parsed.reason });
      return;
    }
    const now = this.clock.now();
    const wallMs = performance.timeOrigin + performance.now();
    const report = parsed.packets[0] as ReportPacket;
    if (this.remoteSsrc !== undefined && report.ssrc !== this.remoteSsrc) {
      // Reports from some other source say nothing about this call.
      this.counts.ignoredPackets++;
      return;
    }
    this.counts.rtcpReceived++;
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
          if (rtt !== undefined) this.rttMs = rtt;
          this.adaptToLoss(block.fractionLost / 256);
        }
      } else if (packet.type === 'bye') {
        this.log.debug('peer said RTCP BYE', { ssrcs: packet.ssrcs, reason: packet.reason });
      }
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

function srtpRefusals(srtp: SrtpContexts): { authFailed: number; replayed: number; malformed: number } {
  const rtp = srtp.rtpIn.counters;
  const rtcp = srtp.rtcpIn.counters;
  return { authFailed: rtp.authFailed + rtcp.authFailed, replayed: rtp.replayed + rtcp.replayed, malformed: rtp.malformed + rtcp.malformed };
}
