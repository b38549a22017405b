// The way one call's media travels when both ends do ICE: the candidates of the call's RTP
// socket (host, server-reflexive from members' STUN, relayed through TURN allocations), the
// ICE agent that picks a pair, and the routing of datagrams to and from that pair. RTP and RTCP
// share the one component (RFC 5761); STUN, TURN and media are told apart by their first byte
// (RFC 7983).
import type { Logger } from '../../log.js';
import { IceAgent, type IceRole, type IceState, type SelectedPair } from '../../proto/nat/ice-agent.js';
import { addressKey, type Via } from '../../proto/nat/ice-candidates.js';
import { StunClient } from '../../proto/nat/stun-client.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { IceDescription, RemoteIce } from '../../wire/sdp/ice-attributes.js';
import type { MediaPathView } from './call-view.js';
import { isLocalOnlyAddress } from '../../wire/sip/address-scope.js';
import { looksLikeStun, type TransportAddress } from '../../wire/stun/message.js';

/** A TURN allocation a call may relay through (services/nat gives them, the relay finder picks them). */
export interface RelayLeg {
  /** Names the allocation in `Via`. */
  readonly key: string;
  /** Who runs it, for the call screen ("relayed by …"). */
  readonly label: string;
  /** The TURN server. */
  readonly server: TransportAddress;
  readonly relayed: TransportAddress;
  readonly mapped: TransportAddress;
  /** Datagrams from the relay: data a peer sent through it. */
  onData?: (data: Buffer, from: TransportAddress) => void;
  permit(peer: TransportAddress): Promise<boolean>;
  sendTo(peer: TransportAddress, data: Buffer): void;
  close(): Promise<void>;
}

/** The call's socket as a TURN client over UDP uses it: sends, and everything a server sends back. */
export interface CallSocket {
  send(bytes: Buffer, to: TransportAddress): void;
  /** Datagrams from `server` go to `handler` (from the first Allocate on) instead of to ICE or media. */
  listen(server: TransportAddress, handler: (bytes: Buffer) => void): void;
}

export interface IceGatheringConfig {
  /** Members whose STUN (on their SIP port) tells this socket's public address. */
  stunServers: TransportAddress[];
  /** Allocates relays for this call's socket, best first, except on the servers in `held`; they are closed with the path. */
  relays?(socket: CallSocket, held: TransportAddress[]): Promise<RelayLeg[]>;
  /** A relay (by IP address) this call's path went through stopped answering: the relay finder passes it over. */
  relayFailed?(address: string): void;
  /**
   * Our NAT gives each destination its own mapping, or drops UDP: a peer without ICE could not
   * reach our server-reflexive address, so the relayed candidate goes in c= and m= (the default).
   */
  relayByDefault?: boolean;
  /** Maps the call's port on our router (UPnP, NAT-PMP or PCP), once per call; see MediaSession. */
  mapPort?(port: number): Promise<CallPortMapping | undefined>;
}

/** A call's port mapped on our router: its public address, and how to delete it. */
export interface CallPortMapping {
  address: string;
  port: number;
  release(): Promise<void>;
}

/** Live TURN allocations an ICE restart takes over from the path before (RFC 8445 9 lets it keep candidates). */
export interface HeldRelays {
  legs: RelayLeg[];
  servers: Map<string, (bytes: Buffer) => void>;
}

export interface IcePathOptions {
  role: IceRole;
  adopt?: HeldRelays;
  hostAddresses: string[];
  port: number;
  /** Sends a datagram from the call's RTP socket. */
  sendFromSocket(bytes: Buffer, to: TransportAddress): void;
  /** Media (RTP or RTCP) that came through a relay from the selected peer. */
  deliverMedia(datagram: Buffer, from: TransportAddress): void;
  timers: TimerHost;
  log: Logger;
  onState?(state: IceState, selected: SelectedPair | undefined): void;
  now?: () => number;
}

export type Intercept = 'consumed' | 'media' | 'refused';

export type { MediaPathView as PathView } from './call-view.js';

/** Gathering gives up on slower servers after this long (STUN here waits 150 + 300 ms). */
const GATHERING_DEADLINE_MS = 2000;

export class IcePath {
  readonly agent: IceAgent;
  private readonly stun: StunClient;
  private relays: RelayLeg[] = [];
  /** TURN servers spoken to over UDP from the call's socket, and who takes their datagrams. */
  private readonly servers: Map<string, (bytes: Buffer) => void>;
  private readonly now: () => number;
  private closed = false;
  /** Pending sends through a relay until its permission for the peer is in place. */
  private readonly permitted = new Map<string, Promise<boolean>>();
  readonly counters = { refusedMedia: 0 };
  /** A peer without ICE whose media goes through our default relay (RFC 8445 5.1.1.4: the default candidate is where it sends). */
  private anchor: RelayLeg | undefined;
  private relayByDefault = false;
  /** Our router forwards this public address to the call's socket (a port mapping we asked for). */
  private mappedByRouter: TransportAddress | undefined;
  private checksStartedAt: number | undefined;
  private checksMs: number | undefined;
  private gatherMs: number | undefined;

  constructor(private readonly options: IcePathOptions) {
    this.now = options.now ?? (() => performance.now());
    this.servers = new Map(options.adopt?.servers ?? []);
    this.stun = new StunClient({ timers: options.timers, now: this.now, send: (bytes, to) => options.sendFromSocket(bytes, to), rtoMs: 150, sends: 2 });
    this.agent = new IceAgent({
      role: options.role,
      timers: options.timers,
      now: this.now,
      send: (bytes, to, via) => this.send(bytes, to, via),
      onStateChange: (state) => {
        options.log.debug('ICE state', state === 'failed' || state === 'disconnected' ? { ...this.agent.describe(), counters: this.agent.counters, refused: this.counters.refusedMedia } : { state });
        options.onState?.(state, this.agent.selected);
      },
      onSelected: (pair) => {
        if (this.checksStartedAt !== undefined) this.checksMs ??= Math.round(this.now() - this.checksStartedAt);
        options.log.info('media path chosen', { local: `${pair.local.type} ${addressKey(pair.local)}`, remote: `${pair.remote.type} ${addressKey(pair.remote)}`, rttMs: pair.rttMs });
        options.onState?.(this.agent.state, pair);
      },
    });
  }

  /** Host candidates at once, then server-reflexive and relayed ones, each within a short wait. */
  async gather(config: IceGatheringConfig, portMapping?: Promise<CallPortMapping | undefined>): Promise<IceDescription> {
    const started = this.now();
    this.relayByDefault = config.relayByDefault ?? false;
    const { port } = this.options;
    for (const address of this.options.hostAddresses) this.agent.addLocalCandidate({ type: 'host', address, port, base: { address, port }, via: 'socket' });
    const base = { address: this.options.hostAddresses[0], port };
    const reflexive = config.stunServers.slice(0, 2).map(async (server) => {
      const outcome = await this.stun.binding(server);
      if (!outcome.ok || this.closed) return;
      const mapped = outcome.answer.mapped;
      this.agent.addLocalCandidate({ type: 'srflx', address: mapped.address, port: mapped.port, base, via: 'socket', server: addressKey(server), related: base });
    });
    // RFC 8445 5.1.1.2: an address a port mapping gives is a server-reflexive candidate too.
    const mapped = (async () => {
      const mapping = await portMapping;
      if (!mapping || this.closed) return;
      this.mappedByRouter = { address: mapping.address, port: mapping.port };
      this.agent.addLocalCandidate({ type: 'srflx', address: mapping.address, port: mapping.port, base, via: 'socket', server: 'port mapping', related: base });
    })();
    const relayed = (async () => {
      const held = this.options.adopt?.legs ?? [];
      // A new allocation from this socket to a server we hold one on would be the same 5-tuple: keep the one we have.
      const fresh = config.relays
        ? await config.relays({ send: (bytes, to) => this.options.sendFromSocket(bytes, to), listen: (server, handler) => this.servers.set(addressKey(server), handler) }, held.map((leg) => leg.server))
        : [];
      const legs = [...held, ...fresh];
      if (this.closed) {
        await Promise.all(legs.map((leg) => leg.close()));
        return;
      }
      this.relays = legs;
      legs.forEach((leg, index) => {
        leg.onData = (data, from) => this.fromRelay(leg, data, from);
        // RFC 8445 5.1.2.1: the first relay is preferred; its local preference is the highest.
        this.agent.addLocalCandidate({ type: 'relay', address: leg.relayed.address, port: leg.relayed.port, base: leg.relayed, via: leg.key, server: leg.label, related: leg.mapped, localPreference: 65535 - index });
      });
    })();
    // A relay or member slow to answer does not hold the call up: what came in time is offered.
    let deadline: ReturnType<TimerHost['set']> | undefined;
    await Promise.race([Promise.allSettled([...reflexive, mapped, relayed]), new Promise((resolve) => (deadline = this.options.timers.set(GATHERING_DEADLINE_MS, () => resolve(undefined))))]);
    if (deadline) this.options.timers.clear(deadline);
    this.gatherMs = Math.round(this.now() - started);
    const description = this.description();
    this.options.log.debug('ICE candidates', { candidates: description.candidates.map((c) => `${c.type} ${c.address}:${c.port}`) });
    return description;
  }

  description(): IceDescription {
    const local = this.agent.candidates;
    const preferred = this.defaultCandidate();
    return {
      ufrag: this.agent.ufrag,
      pwd: this.agent.pwd,
      candidates: local.map(({ via: _via, base: _base, ...candidate }) => candidate),
      ...(preferred ? { defaultCandidate: { address: preferred.address, port: preferred.port } } : {}),
    };
  }

  /**
   * Where a peer that does not do ICE (a plain SIP phone) will send: the server-reflexive
   * address when our NAT keeps one mapping for every destination, else the relayed one (two
   * members seeing different ports prove it does not), else the host address.
   */
  private defaultCandidate() {
    const local = this.agent.candidates;
    const reflexive = local.filter((c) => c.type === 'srflx');
    const mappingVaries = new Set(reflexive.map((c) => addressKey(c))).size > 1;
    const relayed = this.relayByDefault || mappingVaries ? local.find((c) => c.type === 'relay') : undefined;
    return relayed ?? reflexive[0] ?? local.find((c) => c.type === 'host');
  }

  /**
   * The peer's SDP had no ICE. When our default candidate is relayed, that relay carries the
   * call (the peer sends to it; we send through it, permitted to the peer's SDP and signalling
   * addresses) and true is returned; otherwise false, and the path can be closed.
   */
  anchorPlainPeer(peerAddresses: string[]): boolean {
    const chosen = this.defaultCandidate();
    const leg = chosen?.type === 'relay' ? this.relays.find((l) => l.key === chosen.via) : undefined;
    if (!leg) return false;
    this.anchor = leg;
    this.agent.close();
    this.stun.cancelAll();
    for (const other of this.relays.filter((l) => l !== leg)) void other.close().catch(() => undefined);
    this.relays = [leg];
    leg.onData = (data, from) => {
      // The relay forwards only from addresses it has a permission for: what comes is the peer's.
      if (!this.closed && !looksLikeStun(data)) this.options.deliverMedia(data, from);
    };
    for (const address of new Set(peerAddresses)) void this.permit(leg, { address, port: 0 });
    this.options.log.info('media anchored through a relay for a peer without ICE', { relay: leg.label, relayed: addressKey(leg.relayed), peers: [...new Set(peerAddresses)] });
    return true;
  }

  /** Sends a datagram to a peer without ICE through the anchoring relay. */
  sendAnchored(bytes: Buffer, to: TransportAddress): boolean {
    if (!this.anchor) return false;
    this.send(bytes, to, this.anchor.key);
    return true;
  }

  get anchored(): boolean {
    return this.anchor !== undefined;
  }

  /** The peer's ICE from its SDP: checks begin. */
  start(remote: RemoteIce): void {
    this.checksStartedAt = this.now();
    this.options.log.debug('ICE checks begin', { role: this.agent.role, remote: remote.candidates.map((c) => `${c.type} ${c.address}:${c.port}`) });
    this.agent.setRemote(remote);
  }

  /** A datagram reached the call's socket: ICE's and TURN's are taken here; media passes only from a checked pair. */
  intercept(datagram: Buffer, from: TransportAddress): Intercept {
    const server = this.servers.get(addressKey(from));
    if (server) {
      server(datagram);
      return 'consumed';
    }
    if (this.anchor) return looksLikeStun(datagram) ? 'consumed' : 'media';
    if (looksLikeStun(datagram)) {
      if (!this.agent.receive(datagram, from, 'socket')) this.stun.accept(datagram, from);
      return 'consumed';
    }
    if (this.agent.acceptsMedia(from, 'socket')) return 'media';
    this.counters.refusedMedia++;
    return 'refused';
  }

  /** Sends media on the selected pair; false when there is none yet (or consent is lost). */
  sendMedia(datagram: Buffer): boolean {
    const target = this.agent.mediaTarget();
    if (!target) return false;
    this.send(datagram, target.to, target.via);
    return true;
  }

  /** The relays the selected pair goes through, by IP address: ours (its TURN server) and the peer's (its relayed candidate). */
  selectedRelays(): string[] {
    const selected = this.agent.selected;
    if (!selected) return [];
    const ours = this.relays.find((leg) => leg.key === selected.local.via);
    return [...(ours ? [ours.server.address] : []), ...(selected.remote.type === 'relay' ? [selected.remote.address] : [])];
  }

  view(): MediaPathView | undefined {
    if (this.anchor) {
      return { kind: 'relayed', text: `relayed by ${this.anchor.label}`, gatherMs: this.gatherMs, local: `relay ${addressKey(this.anchor.relayed)}`, remote: 'a peer without ICE' };
    }
    const selected = this.agent.selected;
    if (!selected) return undefined;
    const leg = this.relays.find((l) => l.key === selected.local.via);
    const relayedByPeer = selected.remote.type === 'relay';
    const kind = leg || relayedByPeer ? 'relayed' : 'direct';
    // Our router forwards the call's port: that is what lets the peer's packets in, whichever way they came.
    // (Not between two hosts of one LAN, which meet without the router.)
    const direct = this.mappedByRouter && !isLocalOnlyAddress(selected.remote.address) ? 'direct through your router\'s port mapping' : 'direct';
    const text = leg ? `relayed by ${leg.label}` : relayedByPeer ? 'relayed by the other side\'s relay' : direct;
    const rttMs = selected.rttMs === undefined ? undefined : Math.round(selected.rttMs * 10) / 10;
    return { kind, text, rttMs, gatherMs: this.gatherMs, checksMs: this.checksMs, local: `${selected.local.type} ${addressKey(selected.local)}`, remote: `${selected.remote.type} ${addressKey(selected.remote)}` };
  }

  /**
   * For an ICE restart: hands the allocations on relays that did not fail to the next path, which
   * keeps them (no new Allocate from the same 5-tuple, whose old allocation a late Refresh could
   * delete); the failed ones are left for close().
   */
  handOver(failedAddresses: string[]): HeldRelays {
    const legs = this.relays.filter((leg) => !failedAddresses.includes(leg.server.address));
    this.relays = this.relays.filter((leg) => !legs.includes(leg));
    const servers = new Map([...this.servers].filter(([key]) => legs.some((leg) => addressKey(leg.server) === key)));
    return { legs, servers };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agent.close();
    this.stun.cancelAll();
    // Freeing the allocations is a courtesy: a dead relay would hold a restart up for seconds.
    for (const leg of this.relays) void leg.close().catch(() => undefined);
  }

  private send(bytes: Buffer, to: TransportAddress, via: Via): void {
    if (this.closed) return;
    if (via === 'socket') {
      this.options.sendFromSocket(bytes, to);
      return;
    }
    const leg = this.relays.find((l) => l.key === via);
    if (!leg) return;
    void this.permit(leg, to).then((ok) => ok && !this.closed && leg.sendTo(to, bytes));
  }

  /** RFC 8656 9: a relay forwards only to and from peers it has a permission for (by IP address); ask once per peer. */
  private permit(leg: RelayLeg, to: TransportAddress): Promise<boolean> {
    const key = `${leg.key}|${to.address}`;
    let permission = this.permitted.get(key);
    if (!permission) {
      permission = leg.permit(to);
      this.permitted.set(key, permission);
    }
    return permission;
  }

  private fromRelay(leg: RelayLeg, data: Buffer, from: TransportAddress): void {
    if (this.closed) return;
    if (looksLikeStun(data)) {
      this.agent.receive(data, from, leg.key);
      return;
    }
    if (!this.agent.acceptsMedia(from, leg.key)) {
      this.counters.refusedMedia++;
      return;
    }
    this.options.deliverMedia(data, from);
  }
}
