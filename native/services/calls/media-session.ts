// One call's media as the rest of the engine sees it. The per-packet and per-tick work (the 20 ms
// clock, codecs, jitter buffer, SRTP, RTCP, DTMF) and the call's UDP sockets are in a media worker
// thread (media-core.ts, on the pool of media-workers.ts); this side, on the main thread, keeps
// what is signalling's: ICE (checks, TURN relays), the DTLS-SRTP handshake with phones, the port
// mapping, and the call's audio devices. It tells the worker where to send (the route) and what to
// hand back (the gate), and answers the worker's pulls for source frames and plays its frames.
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import type { CallQuality, MediaPathView } from './call-view.js';
import { frameSamples, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import { validateDtmfKeys } from '../../proto/media/dtmf-sender.js';
import { RTCP_MIN_INTERVAL_MS } from '../../proto/media/rtcp-interval.js';
import type { IceRole } from '../../proto/nat/ice-agent.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { IceDescription } from '../../wire/sdp/ice-attributes.js';
import type { RtpEndpoint } from '../../transport/rtp-socket.js';
import type { NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import { IcePath, type CallPortMapping, type HeldRelays, type IceGatheringConfig } from './ice-path.js';
import type { CallSrtpKeys } from '../../wire/sdp/media-key.js';
import type { DtlsCredentials, DtlsFailure } from '../../transport/dtls-session.js';
import { fingerprintOf, type DtlsFingerprint, type DtlsSetup } from '../../wire/sdp/dtls-attributes.js';
import { looksLikeDtls } from '../../wire/rtp/demultiplex.js';
import { DtlsKeying } from './dtls-keying.js';
import { opusEffort } from './voice-codecs.js';
import { asBuffer, endpointKey, STAT, STAT_SLOTS, type FromWorker, type MediaRoute, type ToWorker } from './media-worker-protocol.js';
import { sharedMediaWorkers, type MediaWorkerChannel, type MediaWorkerPool } from './media-workers.js';

export { opusSettingsFor } from './media-core.js';

export interface MediaSessionOptions {
  bind: string;
  advertisedHost: string;
  log: Logger;
  /** The worker threads the call's media runs on (default: the process's shared pool). */
  workers?: MediaWorkerPool;
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

/**
 * A source the media worker plays by itself, without asking the main thread each tick: the
 * same 20 ms frame again and again (one per codec rate it has, told apart by their length).
 */
export class RepeatedFrameSource implements AudioSource {
  constructor(readonly frames: Int16Array[]) {}
  read(sampleRate: number): Int16Array | undefined {
    return this.frames.find((f) => f.length === frameSamples(sampleRate));
  }
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

export class DtmfUnavailableError extends Error {
  readonly code = 'DTMF_UNAVAILABLE';
}

const DEFAULT_SILENCE_TIMEOUT_MS = 30_000;
/** The controlled side of a dead path restarts ICE itself only if the controlling side has not within this long. */
const CONTROLLED_RESTART_WAIT_MS = 3_000;

export class MediaSession {
  readonly port: number;
  readonly address: string;
  onDtmf?: (digit: string) => void;
  onPeerSilent?: () => void;
  /** With ICE: the selected path stopped carrying anything; the controlling side restarts ICE. */
  onPathLost?: () => void;

  private readonly log: Logger;
  private readonly probe: MediaProbe | undefined;
  private readonly channel: MediaWorkerChannel;
  /** The worker's counters for this call (STAT), in memory both threads see. */
  private readonly counters: Float64Array;
  private mutedNow = false;

  private negotiated: NegotiatedAudio | undefined;
  private source: AudioSource | undefined;
  private sink: AudioSink | undefined;
  private readonly dtmfJobs = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private nextDtmfJob = 1;

  // Where to send: the SDP's address until the peer's own packets show the real one (the worker latches; it tells us).
  private sdpRtp: RtpEndpoint | undefined;
  private latchedRtp: RtpEndpoint | undefined;

  /** ICE for this call's socket, once gathered; dropped when the peer turns out not to do ICE. */
  private ice: IcePath | undefined;
  /** True once the peer's SDP had ICE: media then goes only on the selected pair. */
  private iceInUse = false;
  private iceRemoteUfrag: string | undefined;
  /** Sources ICE let media in from (address:port): the worker reads their media without asking again. */
  private readonly iceAllowed = new Set<string>();
  /** The call's port mapped on our router, asked for at the first gathering and kept across ICE restarts. */
  private portMapping: Promise<CallPortMapping | undefined> | undefined;
  /** Where the peer's SIP comes from: a relay anchoring media for a phone without ICE lets that address in too. */
  signallingPeer: string | undefined;
  private pathLostTimer: ReturnType<typeof setTimeout> | undefined;
  /** Relays (IP addresses) the dead path went through: a restart leaves them behind. */
  private failedRelays: string[] = [];
  private readonly iceOptions: { config?: () => IceGatheringConfig; timers?: TimerHost };

  private srtpSet = false;
  /** This call's share of the node's richer Opus encoders, while it speaks Opus. */
  private opusClaim: ReturnType<typeof opusEffort.claim> | undefined;
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

  private closed = false;
  /** Answers the worker owes this side: stopped, closed. */
  private readonly waiting = new Map<'stopped' | 'closed', () => void>();

  private constructor(
    options: MediaSessionOptions,
    private readonly id: number,
    channel: MediaWorkerChannel,
    counters: Float64Array,
    port: number,
  ) {
    this.port = port;
    this.channel = channel;
    this.counters = counters;
    this.address = options.advertisedHost;
    this.log = options.log;
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
        // The keys are in: the worker reads media itself again, after what waited for them.
        this.updateGate();
        for (const held of early) this.receiveMedia(held.datagram, held.from);
        this.onSecured?.();
      },
      failed: (problem, reason) => {
        if (!this.closed) this.onSecurityFailed?.(problem, reason);
      },
      heardPeer: () => this.counters[STAT.packetsReceived] > 0,
    });
    if (this.keying) this.updateGate();
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

  /** Opens the call's sockets in a media worker (the least loaded) and the session that drives them. */
  static async open(options: MediaSessionOptions): Promise<MediaSession> {
    const workers = options.workers ?? sharedMediaWorkers();
    const stats = new SharedArrayBuffer(STAT_SLOTS * Float64Array.BYTES_PER_ELEMENT);
    // Messages for the session wait here until it exists (the worker answers `open` first).
    const route: { to?: MediaSession; opened?: (message: FromWorker) => void } = {};
    const { id, channel } = workers.attach((message) => {
      if (route.to) route.to.fromWorker(message);
      else if (message.t === 'log') options.log[message.level](message.message, message.fields);
      else route.opened?.(message);
    });
    const answer = await new Promise<FromWorker>((resolve) => {
      route.opened = resolve;
      channel.post({
        t: 'open',
        id,
        bind: options.bind,
        portRange: options.portRange,
        stats,
        silenceTimeoutMs: options.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS,
        rtcpIntervalMs: options.rtcpIntervalMs ?? RTCP_MIN_INTERVAL_MS,
        probe: options.probe !== undefined,
      });
    });
    if (answer.t !== 'opened') {
      channel.detach();
      const failure = answer.t === 'open-failed' ? answer : { message: 'the media worker did not open the call', code: undefined };
      throw Object.assign(new Error(failure.message), failure.code ? { code: failure.code } : {});
    }
    route.to = new MediaSession(options, id, channel, new Float64Array(stats), answer.port);
    return route.to;
  }

  get muted(): boolean {
    return this.mutedNow;
  }

  set muted(muted: boolean) {
    this.mutedNow = muted;
    this.post({ t: 'mute', id: this.id, muted });
  }

  private post(message: ToWorker): void {
    this.channel.post(message);
  }

  // ---- what the worker says ----

  private fromWorker(message: FromWorker): void {
    switch (message.t) {
      case 'datagram':
        if (message.arrival === 'rtp-port' || message.arrival === 'rtp') this.receiveOnRtpPort(asBuffer(message.datagram), message.from);
        break;
      case 'out':
        if (this.closed && !this.ice) break;
        if (message.to) this.ice?.sendAnchored(asBuffer(message.datagram), message.to);
        else this.ice?.sendMedia(asBuffer(message.datagram));
        break;
      case 'pull':
        this.post({ t: 'frame', id: this.id, pcm: this.mutedNow ? undefined : this.source?.read(message.rate) });
        break;
      case 'play':
        if (message.heldMs !== undefined) this.probe?.framePlayed(message.heldMs);
        this.sink?.write(message.pcm, message.rate);
        break;
      case 'dtmf-done': {
        const job = this.dtmfJobs.get(message.job);
        this.dtmfJobs.delete(message.job);
        if (message.error === undefined) job?.resolve();
        else job?.reject(new DtmfUnavailableError(message.error));
        break;
      }
      case 'digit':
        try {
          this.onDtmf?.(message.digit);
        } catch (error) {
          this.log.warn('onDtmf handler threw', { error: String(error) });
        }
        break;
      case 'silent':
        try {
          this.onPeerSilent?.();
        } catch (error) {
          this.log.warn('onPeerSilent handler threw', { error: String(error) });
        }
        break;
      case 'latched':
        this.latchedRtp = message.rtp;
        break;
      case 'heard':
        // Media on the pair is a sign of life for ICE's consent (RFC 7675), as it was when ICE saw every packet.
        if (this.ice && !this.ice.anchored) this.ice.agent.acceptsMedia(message.from, 'socket');
        break;
      case 'log':
        this.log[message.level](message.message, message.fields);
        break;
      case 'stopped':
      case 'closed':
        this.waiting.get(message.t)?.();
        this.waiting.delete(message.t);
        break;
    }
  }

  private ask(message: ToWorker & { t: 'stop' | 'close' }, answer: 'stopped' | 'closed'): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.set(answer, resolve);
      this.post(message);
    });
  }

  /** What the worker must hand over rather than read itself, now. */
  private updateGate(): void {
    this.post({
      t: 'gate',
      id: this.id,
      gate: {
        ice: this.ice !== undefined,
        iceInUse: this.iceInUse,
        anchored: this.ice?.anchored === true,
        allowed: [...this.iceAllowed],
        keying: this.keying !== undefined,
        keysPending: this.keysPending,
      },
      rtcpOff: this.rtcpOff,
    });
  }

  /** Where the worker sends media, now: ICE's selected pair, a relay (through this thread), or the peer. */
  private updateRoute(): void {
    let route: MediaRoute;
    if (this.iceInUse && this.ice) {
      const target = this.ice.agent.mediaTarget();
      route = !target ? { kind: 'none' } : target.via === 'socket' ? { kind: 'pair', to: target.to } : { kind: 'main', anchored: false };
    } else if (this.ice?.anchored) {
      route = { kind: 'main', anchored: true };
    } else {
      route = { kind: 'peer' };
    }
    this.post({ t: 'route', id: this.id, route });
  }

  /** From the call's RTP socket: STUN and TURN for ICE, DTLS for the handshake; media ICE lets in goes back to the worker. */
  private receiveOnRtpPort(datagram: Buffer, from: RtpEndpoint): void {
    if (this.closed) return;
    if (this.ice) {
      const verdict = this.ice.intercept(datagram, from);
      if (verdict === 'consumed') return;
      if (verdict === 'refused' && this.iceInUse) return;
      if (verdict === 'media' && !this.ice.anchored && !this.iceAllowed.has(endpointKey(from))) {
        this.iceAllowed.add(endpointKey(from));
        this.updateGate();
      }
    }
    if (this.keying && (looksLikeDtls(datagram) || this.keying.pending)) this.keyingTakes(datagram, from);
    else this.post({ t: 'media', id: this.id, datagram, from });
  }

  /** RFC 7983: DTLS records to the handshake; media that came before the keys waits for them. */
  private keyingTakes(datagram: Buffer, from: RtpEndpoint): void {
    if (looksLikeDtls(datagram)) this.keying!.receiveRecord(datagram, from, this.iceInUse);
    else this.keying!.hold(datagram, from);
  }

  /** Media that came through a TURN relay from the selected peer (or waited for DTLS keys). */
  private receiveMedia(datagram: Buffer, from: RtpEndpoint): void {
    if (this.closed) return;
    if (this.keying && (looksLikeDtls(datagram) || this.keying.pending)) this.keyingTakes(datagram, from);
    else this.post({ t: 'media', id: this.id, datagram, from });
  }

  private sendFromSocket(bytes: Buffer, to: RtpEndpoint): void {
    this.post({ t: 'send', id: this.id, bytes, to });
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
      sendFromSocket: (bytes, to) => this.sendFromSocket(bytes, to),
      deliverMedia: (datagram, from) => this.receiveMedia(datagram, from),
      timers,
      log: this.log.child('ice'),
      onState: (state) => this.pathState(path, state, config),
    });
    this.ice = path;
    this.iceAllowed.clear();
    this.updateGate();
    this.updateRoute();
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
    this.iceAllowed.clear();
    this.updateGate();
    this.updateRoute();
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
    if (path === this.ice) {
      if (state === 'failed' || state === 'closed') {
        this.iceAllowed.clear();
        this.updateGate();
      }
      this.updateRoute();
    }
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
    if (this.srtpSet || (this.negotiated && !this.keysPending)) throw new Error('SRTP keys are set once, before media starts');
    this.srtpSet = true;
    this.post({ t: 'secure', id: this.id, keys });
  }

  get encrypted(): boolean {
    return this.srtpSet || this.keysPending;
  }

  /**
   * DTLS-SRTP (RFC 5764): the keys come from a handshake on this socket with the peer that must
   * present `peerFingerprint`. Called once media is configured; until the keys are in place
   * nothing is sent, and what arrives waits (a little of it) to be opened with them.
   */
  startDtls(ownSetup: DtlsSetup, peerFingerprint: DtlsFingerprint, rtcpMux: boolean): void {
    if (this.closed || this.keying?.started || this.srtpSet) return;
    if (!this.keying) throw new Error('this node has no certificate for DTLS-SRTP');
    this.rtcpOff = !rtcpMux;
    this.keying.start(ownSetup, peerFingerprint);
    this.updateGate();
  }

  /** A DTLS record goes where media goes: the ICE pair (false until there is one), the anchoring relay, or the peer. */
  private sendRecord(record: Buffer, peer: RtpEndpoint | undefined): boolean {
    if (this.iceInUse && this.ice) return this.ice.sendMedia(record);
    const target = peer ?? this.rtpTarget();
    if (target && !this.ice?.sendAnchored(record, target)) this.sendFromSocket(record, target);
    return true;
  }

  /** First call starts media; later ones (re-INVITE) change codec, remote or direction, keeping SSRC and sequence. */
  configure(negotiated: NegotiatedAudio): void {
    if (this.closed) return;
    this.configureIce(negotiated);
    this.negotiated = negotiated;
    const remote = { address: negotiated.remoteAddress, port: negotiated.remotePort };
    if (!this.sdpRtp || this.sdpRtp.address !== remote.address || this.sdpRtp.port !== remote.port) {
      // A new remote party (or a moved one): what was latched belonged to the old one (the worker forgets it too).
      this.sdpRtp = remote;
      this.latchedRtp = undefined;
    }
    // The node's first Opus calls encode at a higher complexity (voice-codecs.ts): counted here, for every worker.
    if (negotiated.codec.name !== 'opus') {
      this.opusClaim?.release();
      this.opusClaim = undefined;
    }
    const startsOpus = negotiated.codec.name === 'opus' && !this.opusClaim;
    if (startsOpus) this.opusClaim = opusEffort.claim();
    this.updateGate();
    this.updateRoute();
    this.post({ t: 'configure', id: this.id, negotiated, ...(startsOpus ? { opusComplexity: this.opusClaim!.complexity } : {}) });
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

  /** Where audio to send comes from. A RepeatedFrameSource plays in the worker; any other is asked one frame ahead. */
  setSource(source: AudioSource | undefined): void {
    this.source = source;
    if (source instanceof RepeatedFrameSource) this.post({ t: 'source', id: this.id, kind: 'repeat', spec: { frames: source.frames } });
    else this.post({ t: 'source', id: this.id, kind: source ? 'main' : 'none' });
  }

  setSink(sink: AudioSink | undefined): void {
    this.sink = sink;
    this.post({ t: 'sink', id: this.id, on: sink !== undefined });
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
    const job = this.nextDtmfJob++;
    return new Promise((resolve, reject) => {
      this.dtmfJobs.set(job, { resolve, reject });
      this.post({ t: 'dtmf', id: this.id, job, digits: digits.toUpperCase() });
    });
  }

  private rtpTarget(): RtpEndpoint | undefined {
    return this.latchedRtp ?? this.sdpRtp;
  }

  stats(): MediaStats {
    const c = this.counters;
    // The send bitrate over the last second or more: what the codec really uses (DTX, adaptation).
    const nowMs = performance.now();
    if (nowMs - this.rateMark.at >= 1000) {
      if (this.rateMark.at > 0) this.bitrateKbps = (8 * (c[STAT.octetsSent] - this.rateMark.octets)) / (nowMs - this.rateMark.at);
      this.rateMark = { at: nowMs, octets: c[STAT.octetsSent] };
    }
    const remote = this.iceInUse ? this.ice?.agent.mediaTarget()?.to : this.rtpTarget();
    const anchored = !this.iceInUse && this.ice?.anchored ? this.ice.view() : undefined;
    const rttMs = Number.isNaN(c[STAT.rttMs]) ? undefined : c[STAT.rttMs];
    // Through a relay to a peer without ICE: the far end is where its media comes from, the round trip RTCP's.
    const path = this.iceInUse ? this.ice?.view() : anchored && { ...anchored, rttMs: rttMs === undefined ? undefined : Math.round(rttMs), remote: remote ? `plain ${remote.address}:${remote.port}` : anchored.remote };
    return {
      codec: this.negotiated?.codec.name ?? '',
      packetsSent: c[STAT.packetsSent],
      packetsReceived: c[STAT.packetsReceived],
      lossFraction: c[STAT.lossFraction],
      jitterMs: c[STAT.jitterMs],
      rttMs,
      remoteMedia: remote ? `${remote.address}:${remote.port}` : undefined,
      lateTicks: c[STAT.lateTicks],
      concealedFrames: c[STAT.concealedFrames],
      dtmfSent: c[STAT.dtmfSent],
      dtmfReceived: c[STAT.dtmfReceived],
      malformedDatagrams: c[STAT.malformedDatagrams],
      ignoredPackets: c[STAT.ignoredPackets] + (this.keying?.overflowed ?? 0),
      rtcpReceived: c[STAT.rtcpReceived],
      ...(this.bitrateKbps !== undefined ? { bitrateKbps: this.bitrateKbps } : {}),
      ...(this.iceInUse ? { path, refusedMedia: this.ice?.counters.refusedMedia ?? 0 } : path ? { path } : {}),
      ...(c[STAT.srtpOn] ? { srtp: { authFailed: c[STAT.srtpAuthFailed], replayed: c[STAT.srtpReplayed], malformed: c[STAT.srtpMalformed] } } : {}),
    };
  }

  /** Sends an RTCP BYE (RFC 3550 6.6), leaves the clock and closes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The worker sends the BYE (through this thread when a relay carries the call) before anything closes.
    await this.ask({ t: 'stop', id: this.id }, 'stopped');
    const ended = new DtmfUnavailableError('the call ended before the keys were sent');
    for (const job of this.dtmfJobs.values()) job.reject(ended);
    this.dtmfJobs.clear();
    this.keying?.close();
    if (this.pathLostTimer) clearTimeout(this.pathLostTimer);
    await this.ice?.close();
    await this.portMapping?.then((mapping) => mapping?.release());
    await this.ask({ t: 'close', id: this.id }, 'closed');
    this.opusClaim?.release();
    this.channel.detach();
  }
}
