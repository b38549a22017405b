// Zero-configuration on a LAN: finds the other Peerdial nodes on this network and forms one
// overlay with them, with no address typed anywhere. Two mechanisms, so that either one alone
// suffices when the network blocks the other:
// - DNS-SD over mDNS: this node publishes `_sip._udp` (so ordinary SIP tools see a SIP
//   service) and `_peerdial._udp`, with TXT records saying its overlay, node ID, protocol
//   version, user and whether it offers a configuration; it browses both types.
// - The SIP multicast REGISTER (RFC 3261 10.2.6) to sip.mcast.net, 224.0.1.75:5060, at start-up
//   and with backoff afterwards: an overlay `ping` (P2P-Op, P2P-Overlay headers), which every
//   member of the same overlay answers with a unicast 200 carrying its node reference.
// A node alone in its ring joins through a peer it found; one already in a ring hands new peers
// to the overlay's merge, when it has one.
import { hostForUri } from '../../wire/sip/uri.js';
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { decodeOverlayRequest, decodeOverlayResponse, encodeOverlayRequest, isOverlayRequest, OVERLAY_CONTENT_TYPE, type NodeRef } from '../../wire/overlay/messages.js';
import { generateBranch, generateCallId, encodeBody, makeResponse, parseSipMessage, randomTag, serializeSipMessage, type SipRequest } from '../../wire/sip/message.js';
import { DnsSd, type DnsSdFound } from '../../transport/mdns.js';
import { lanInterfaces, SipMulticastSocket, type DatagramSource } from '../../transport/multicast-socket.js';
import type { LanDiscoveryMethod, LanPeerView } from './lan-view.js';
import { USER_AGENT } from '../sip/index.js';

/** The version of what the TXT records and the multicast REGISTER say; a peer with another one is listed, not joined. */
export const LAN_PROTOCOL_VERSION = '1';
const PEERDIAL_TYPE = { type: 'peerdial', protocol: 'udp' } as const;
const SIP_TYPE = { type: 'sip', protocol: 'udp' } as const;

const FIRST_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 60_000;
/** How often the node checks whether it is alone with peers to join, and (every 5th time) whether the network changed. */
const WATCH_MS = 1_000;
/** A node alone that found only peers with greater IDs waits this long for them to join it, then joins them (they may be in a ring already). */
const JOIN_GRACE_MS = 1_500;
/** Peers started together are found within a few hundred ms of each other: joining waits that long, so that all pick the same node. */
const SETTLE_MS = 300;
/** The first announcement waits this long for the user's identity (created just after start-up by `--user`), so that it need not be withdrawn and made again at once. */
const IDENTITY_WAIT_MS = 1_500;
const SENT_REMEMBERED = 16;

/** What this service needs of the overlay service. */
export interface LanOverlay {
  readonly overlay: string;
  readonly self: NodeRef | undefined;
  readonly node: { readonly table: { readonly successors: NodeRef[]; readonly predecessor?: NodeRef } } | undefined;
  ownAor(): string | undefined;
  /** Joins the ring through `address` (host:port) when this node is alone in a ring of one; true when it joined. */
  joinThroughIfAlone(address: string): Promise<boolean>;
  /** Merges this node's ring with the one `address` is in (two rings formed apart). */
  mergeWith?(address: string): Promise<unknown>;
}

export interface LanDiscoveryOptions {
  overlay: LanOverlay;
  /** DNS-SD over mDNS (default on). */
  mdns?: boolean;
  /** The SIP multicast REGISTER (default on). */
  multicastRegister?: boolean;
  timers: TimerHost;
  log: Logger;
  now?: () => number;
  /** The peers changed. */
  onChange?(peers: LanPeerView[]): void;
  /** A peer was found for the first time. */
  onPeer?(peer: LanPeerView): void;
}

/** A `_sip._udp` service on the LAN that is not a Peerdial node: a SIP phone or server. */
export interface LanSipService {
  name: string;
  host: string;
  address?: string;
  port: number;
  txt: Record<string, string>;
}

interface PeerEntry {
  view: LanPeerView;
  /** When each method last saw it. */
  seen: Map<LanDiscoveryMethod, number>;
  firstSeen: number;
  /** Handed to the overlay's merge once while it stays found. */
  mergeAsked?: boolean;
  /** The DNS-SD instances it was found under (for 'down'). */
  instances: Set<string>;
}

export class LanDiscoveryService {
  private readonly peerTable = new Map<string, PeerEntry>();
  private dnssd?: DnsSd;
  private multicast?: SipMulticastSocket;
  private tickTimer?: TimerHandle;
  private watchTimer?: TimerHandle;
  private interval = FIRST_INTERVAL_MS;
  private watchCount = 0;
  private networkSignature = '';
  private advertSignature = '';
  private rescueUrl?: string;
  private relayUrl?: string;
  private farmId?: string;
  private advertising: Promise<void> = Promise.resolve();
  private offers = false;
  private joining = false;
  private cseq = 1;
  private readonly sentCallIds: string[] = [];
  private stopped = true;
  /** The SIP socket listens on a loopback address: nobody on the LAN could reach this node. */
  private offLan = false;
  private readonly now: () => number;
  readonly stats = { registersSent: 0, answersReceived: 0, registersAnswered: 0, malformedDropped: 0, otherOverlay: 0, joins: 0, mergesAsked: 0 };

  constructor(private readonly options: LanDiscoveryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The discovery methods this node runs. */
  get methods(): LanDiscoveryMethod[] {
    if (this.offLan) return [];
    return [...(this.options.mdns !== false ? ['mdns' as const] : []), ...(this.options.multicastRegister !== false ? ['multicast-register' as const] : [])];
  }

  /** The Peerdial nodes found on the LAN, of any overlay, by node ID. */
  peers(): LanPeerView[] {
    return [...this.peerTable.values()].map((p) => ({ ...p.view, via: [...p.view.via] })).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** `_sip._udp` services found that are not Peerdial nodes (SIP phones, servers). */
  sipServices(): LanSipService[] {
    return (this.dnssd?.found ?? [])
      .filter((f) => f.type === SIP_TYPE.type && !peerFromTxt(f))
      .map((f) => ({ name: f.name, host: f.host, address: f.source ?? f.addresses[0], port: f.port, txt: f.txt }));
  }

  /** Whether this node offers a configuration to the LAN (the TXT record says so). */
  setOffersConfig(offers: boolean): void {
    this.offers = offers;
    void this.advertise();
  }

  async start(): Promise<void> {
    const self = this.options.overlay.self;
    if (!self) throw new Error('LAN discovery needs the overlay started first');
    this.stopped = false;
    this.offLan = isLoopback(self.host);
    if (this.offLan) {
      this.options.log.info('SIP listens on a loopback address: LAN discovery stays off', { host: self.host });
      return;
    }
    this.interval = FIRST_INTERVAL_MS;
    this.networkSignature = signatureOfNetwork();
    if (this.options.multicastRegister !== false) {
      this.multicast = await SipMulticastSocket.open({
        onDatagram: (bytes, source, arrivedOn) => this.onDatagram(bytes, source, arrivedOn),
        onError: (error) => this.options.log.warn('multicast socket error', { error: error.message }),
      });
      this.options.log.debug('multicast REGISTER ready', { hearsGroup: this.multicast.hearsGroup, senderPort: this.multicast.senderPort });
    }
    if (this.options.mdns !== false) {
      this.dnssd = new DnsSd({
        onUp: (found) => this.onServiceUp(found),
        onDown: (found) => this.onServiceDown(found),
        onError: (error) => this.options.log.warn('mDNS error', { error: error.message }),
        onRenamed: (from, to) => this.options.log.info(`mDNS name "${from}" is taken on this network: advertising as "${to}"`),
      });
      this.dnssd.browse([PEERDIAL_TYPE, SIP_TYPE]);
      this.advertiseOnceIdentified(this.now() + IDENTITY_WAIT_MS);
    }
    this.tick();
    this.watchTimer = this.options.timers.set(WATCH_MS, () => this.watch());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) this.options.timers.clear(this.tickTimer);
    if (this.watchTimer) this.options.timers.clear(this.watchTimer);
    const dnssd = this.dnssd;
    const multicast = this.multicast;
    this.dnssd = undefined;
    this.multicast = undefined;
    this.advertSignature = '';
    await Promise.all([dnssd?.close(), multicast?.close()]);
    this.peerTable.clear();
  }

  /** At start-up and then at 1, 2, 4 ... 60 s: a multicast REGISTER, and the DNS-SD question again. */
  private tick(): void {
    if (this.stopped) return;
    void this.sendRegister();
    this.dnssd?.query();
    this.expireMulticastPeers();
    this.tickTimer = this.options.timers.set(this.interval, () => this.tick());
    this.interval = Math.min(this.interval * 2, MAX_INTERVAL_MS);
  }

  private advertiseOnceIdentified(deadline: number): void {
    if (this.stopped) return;
    if (this.options.overlay.ownAor() || this.now() >= deadline) {
      void this.advertise();
      return;
    }
    this.options.timers.set(100, () => this.advertiseOnceIdentified(deadline));
  }

  private watch(): void {
    if (this.stopped) return;
    this.considerJoining();
    if (this.advertSignature) void this.advertise();
    if (++this.watchCount % 5 === 0) {
      const network = signatureOfNetwork();
      if (network !== this.networkSignature) {
        // A new address or interface: join the group there, tell the LAN at once, start the backoff over.
        this.networkSignature = network;
        this.multicast?.joinInterfaces();
        // The A records name the addresses: published again, as the signature includes them.
        void this.advertise();
        if (this.tickTimer) this.options.timers.clear(this.tickTimer);
        this.interval = FIRST_INTERVAL_MS;
        this.tick();
      }
    }
    this.watchTimer = this.options.timers.set(WATCH_MS, () => this.watch());
  }

  // ---- DNS-SD

  /** Publishes (again, when what it says changed) this node's two services. */
  /** Names this node's rescue server in its DNS-SD TXT record (undefined takes it out). */
  setRescueUrl(url: string | undefined): void {
    if (url === this.rescueUrl) return;
    this.rescueUrl = url;
    if (this.advertSignature) void this.advertise();
  }

  /** Names the server farm this node serves in its DNS-SD TXT record (`farm`; undefined takes it out). */
  setFarm(id: string | undefined): void {
    if (id === this.farmId) return;
    this.farmId = id;
    if (this.advertSignature) void this.advertise();
  }

  /** Names this node's TURN relay (turn:HOST:PORT) in its DNS-SD TXT record (undefined takes it out). */
  setRelayUrl(url: string | undefined): void {
    if (url === this.relayUrl) return;
    this.relayUrl = url;
    if (this.advertSignature) void this.advertise();
  }

  /**
   * One publication at a time: two overlapping ones (the relay starting while the first is still
   * probing its name) would leave the older TXT record published beside the newer one.
   */
  private advertise(): Promise<void> {
    this.advertising = this.advertising
      .then(() => this.publishAdvert())
      .catch((error: unknown) => this.options.log.warn('DNS-SD publication failed', { error: String(error) }));
    return this.advertising;
  }

  private async publishAdvert(): Promise<void> {
    const dnssd = this.dnssd;
    const self = this.options.overlay.self;
    if (!dnssd || !self || this.stopped) return;
    const aor = this.options.overlay.ownAor();
    const txt: Record<string, string> = {
      txtvers: '1',
      overlay: this.options.overlay.overlay,
      node: self.id,
      v: LAN_PROTOCOL_VERSION,
      cfg: this.offers ? '1' : '0',
      ...(aor ? { aor } : {}),
      // "Help rescue sites" is on: origins on this LAN find the rescue server here.
      ...(this.rescueUrl ? { rescue: this.rescueUrl } : {}),
      // "Relay calls for others" is on: users on this LAN find the relay here too.
      ...(this.relayUrl ? { relay: this.relayUrl } : {}),
      // A server of a farm: other --farm nodes find the farm here.
      ...(this.farmId ? { farm: this.farmId } : {}),
    };
    const signature = JSON.stringify([txt, self.port, signatureOfNetwork()]);
    if (signature === this.advertSignature) return;
    this.advertSignature = signature;
    const user = aor ? /^sip:([^@]+)@/.exec(aor)?.[1] : undefined;
    // Instance names must be unique on the LAN: the node ID makes them so, the user name makes them readable.
    const name = `${user ?? 'peerdial'} (${self.id.slice(0, 8)})`;
    const host = `pd-${self.id.slice(0, 12)}.local`;
    await dnssd.publish([
      { ...SIP_TYPE, name, host, port: self.port, txt },
      { ...PEERDIAL_TYPE, name, host, port: self.port, txt },
    ]);
  }

  private onServiceUp(found: DnsSdFound): void {
    const peer = peerFromTxt(found);
    if (!peer) return;
    const instance = `${found.type}/${found.name}`;
    this.sawPeer({ ...peer, host: reachableAddress(found), port: found.port }, 'mdns', instance);
  }

  private onServiceDown(found: DnsSdFound): void {
    const instance = `${found.type}/${found.name}`;
    for (const [id, entry] of this.peerTable) {
      if (!entry.instances.delete(instance) || entry.instances.size) continue;
      entry.seen.delete('mdns');
      this.forgetUnseen(id, entry);
    }
  }

  // ---- the multicast REGISTER

  private async sendRegister(): Promise<void> {
    const multicast = this.multicast;
    const self = this.options.overlay.self;
    if (!multicast || !self) return;
    const callId = generateCallId(self.host);
    this.sentCallIds.push(callId);
    if (this.sentCallIds.length > SENT_REMEMBERED) this.sentCallIds.shift();
    const bytes = serializeSipMessage(this.multicastRegister(self, multicast.senderPort, callId));
    const sent = await multicast.sendToGroup(bytes, multicast.joinInterfaces());
    this.stats.registersSent += sent;
  }

  /**
   * RFC 3261 10.2.6: a REGISTER to sip:sip.mcast.net. It is the overlay's `ping`, so every node
   * of the same overlay answers it as it answers any ping: 200 with its node reference.
   * Via names the sender socket, where the answers come back.
   */
  private multicastRegister(self: NodeRef, senderPort: number, callId: string): SipRequest {
    const overlay = this.options.overlay.overlay;
    const parts = encodeOverlayRequest('ping', {}, self, { host: 'sip.mcast.net', port: 5060 }, overlay);
    const aor = this.options.overlay.ownAor();
    return {
      method: 'REGISTER',
      uri: 'sip:sip.mcast.net',
      version: '2.0',
      headers: {
        via: [{ version: '2.0', protocol: 'UDP', host: self.host, port: senderPort, params: { branch: generateBranch(), rport: null } }],
        'max-forwards': 70,
        to: { uri: parts.to, params: {} },
        from: { uri: parts.from, params: { tag: randomTag() } },
        'call-id': callId,
        cseq: { seq: this.cseq++, method: 'REGISTER' },
        contact: [{ uri: parts.contact, params: {} }],
        ...parts.headers,
        ...(aor ? { 'P2P-Aor': aor } : {}),
        'user-agent': USER_AGENT,
        'content-type': OVERLAY_CONTENT_TYPE,
      } as SipRequest['headers'],
      content: encodeBody(parts.body),
    };
  }

  private onDatagram(bytes: Buffer, source: DatagramSource, arrivedOn: 'group' | 'unicast'): void {
    if (this.stopped) return;
    const outcome = parseSipMessage(bytes);
    if (outcome.kind === 'garbage' || outcome.kind === 'bad-request') {
      this.stats.malformedDropped++;
      this.options.log.debug('dropped a malformed multicast REGISTER or answer', { source, reason: outcome.reason });
      return;
    }
    if (outcome.kind === 'response') {
      if (arrivedOn !== 'unicast') return;
      const response = outcome.message;
      if (!this.sentCallIds.includes(String(response.headers['call-id']))) return;
      if (response.status !== 200) return;
      const answer = decodeOverlayResponse('ping', response);
      if (typeof answer === 'string') {
        this.stats.malformedDropped++;
        this.options.log.debug('dropped an unreadable answer to the multicast REGISTER', { source, problem: answer });
        return;
      }
      this.stats.answersReceived++;
      const self = this.options.overlay.self;
      // Our own REGISTER comes back through the loopback and our SIP socket answers it.
      if (!self || answer.node.id === self.id) return;
      this.sawPeer({ nodeId: answer.node.id, overlay: this.options.overlay.overlay, host: answer.node.host, port: answer.node.port, offersConfig: false }, 'multicast-register');
      return;
    }
    if (arrivedOn === 'group') this.answerGroupRegister(outcome.message, source);
  }

  /** A REGISTER heard by our own listener (when the SIP socket is not on the group's port): answered here. */
  private answerGroupRegister(request: SipRequest, source: DatagramSource): void {
    const self = this.options.overlay.self;
    if (!self || request.method !== 'REGISTER' || !isOverlayRequest(request)) return;
    const decoded = decodeOverlayRequest(request);
    if (!decoded.ok || decoded.op !== 'ping' || !decoded.sender) {
      this.stats.malformedDropped++;
      return;
    }
    if (decoded.sender.id === self.id) return;
    // Multicast: nodes of other overlays keep quiet rather than answer with errors.
    if (decoded.overlay.toLowerCase() !== this.options.overlay.overlay.toLowerCase()) {
      this.stats.otherOverlay++;
      return;
    }
    const aor = typeof request.headers['p2p-aor'] === 'string' ? request.headers['p2p-aor'] : undefined;
    this.sawPeer({ nodeId: decoded.sender.id, overlay: decoded.overlay, host: decoded.sender.host, port: decoded.sender.port, offersConfig: false, ...(aor ? { aor } : {}) }, 'multicast-register');
    const response = makeResponse(request, 200, { headers: { 'content-type': OVERLAY_CONTENT_TYPE, 'p2p-op': 'ping', 'user-agent': USER_AGENT }, body: JSON.stringify({ node: self }) });
    // RFC 3261 18.2.2 and RFC 3581: to where it came from (rport), since it came over UDP.
    this.multicast?.answer(serializeSipMessage(response), source);
    this.stats.registersAnswered++;
  }

  // ---- the peers and the ring

  private sawPeer(found: Omit<LanPeerView, 'via' | 'lastSeen'>, method: LanDiscoveryMethod, instance?: string): void {
    const self = this.options.overlay.self;
    if (!self || found.nodeId === self.id) return;
    const now = this.now();
    let entry = this.peerTable.get(found.nodeId);
    const isNew = !entry;
    if (!entry) {
      entry = { view: { ...found, via: [], lastSeen: now }, seen: new Map(), firstSeen: now, instances: new Set() };
      this.peerTable.set(found.nodeId, entry);
    }
    const before = comparable(entry.view);
    entry.seen.set(method, now);
    if (instance) entry.instances.add(instance);
    // mDNS says more (the user, the offer flag); the multicast answer only where the node is.
    const fromMdns = method === 'mdns';
    entry.view = {
      ...entry.view,
      overlay: fromMdns || !entry.seen.has('mdns') ? found.overlay : entry.view.overlay,
      host: fromMdns || !entry.seen.has('mdns') ? found.host : entry.view.host,
      port: fromMdns || !entry.seen.has('mdns') ? found.port : entry.view.port,
      aor: found.aor ?? entry.view.aor,
      offersConfig: fromMdns ? found.offersConfig : entry.view.offersConfig,
      // Only its DNS-SD record says whether it relays (and it may stop).
      relay: fromMdns ? found.relay : entry.view.relay,
      farm: fromMdns ? found.farm : entry.view.farm,
      via: orderedMethods(entry.seen),
      lastSeen: now,
    };
    const changed = isNew || comparable(entry.view) !== before;
    if (isNew) this.options.log.info('LAN peer found', { nodeId: found.nodeId, overlay: found.overlay, address: `${found.host}:${found.port}`, via: method });
    if (changed) this.options.onChange?.(this.peers());
    if (isNew) this.options.onPeer?.({ ...entry.view });
    this.considerPeer(entry);
  }

  private forgetUnseen(id: string, entry: PeerEntry): void {
    if (entry.seen.size === 0) this.peerTable.delete(id);
    else entry.view = { ...entry.view, via: orderedMethods(entry.seen) };
    this.options.onChange?.(this.peers());
  }

  /** A multicast peer that stopped answering for three rounds is gone (mDNS peers leave by goodbye or TTL). */
  private expireMulticastPeers(): void {
    const limit = this.now() - 3 * Math.max(this.interval, 5_000);
    for (const [id, entry] of this.peerTable) {
      const seen = entry.seen.get('multicast-register');
      if (seen === undefined || seen > limit) continue;
      entry.seen.delete('multicast-register');
      this.forgetUnseen(id, entry);
    }
  }

  /** A ring of one that nobody joined yet (a node somebody joined through is the start of a ring). */
  private isAlone(): boolean {
    const table = this.options.overlay.node?.table;
    return !!table && table.successors.length === 0 && !table.predecessor;
  }

  private joinable(): PeerEntry[] {
    const overlay = this.options.overlay.overlay.toLowerCase();
    return [...this.peerTable.values()].filter((p) => p.view.overlay.toLowerCase() === overlay).sort((a, b) => (a.view.nodeId < b.view.nodeId ? -1 : 1));
  }

  private considerPeer(entry: PeerEntry): void {
    if (this.isAlone()) {
      this.considerJoining();
      return;
    }
    const table = this.options.overlay.node?.table;
    const merge = this.options.overlay.mergeWith;
    if (!table || !merge || entry.view.overlay.toLowerCase() !== this.options.overlay.overlay.toLowerCase()) return;
    const known = table.predecessor?.id === entry.view.nodeId || table.successors.some((s) => s.id === entry.view.nodeId);
    if (known || entry.mergeAsked) return;
    entry.mergeAsked = true;
    this.stats.mergesAsked++;
    void Promise.resolve(merge.call(this.options.overlay, `${hostForUri(entry.view.host)}:${entry.view.port}`)).catch((error: unknown) =>
      this.options.log.debug('merge with a LAN peer failed', { nodeId: entry.view.nodeId, error: String(error) }),
    );
  }

  /**
   * Alone in a ring of one with peers of our overlay around: once the peers found together have
   * all been heard (SETTLE_MS), join through the one with the smallest ID when it is smaller than
   * ours. Nodes that start at once thus all join the same node, instead of pairs joining each
   * other into rings that loop twice around. With only greater IDs around, they are expected to
   * join us; after a grace time they are joined instead, as they may be in a ring already.
   */
  private considerJoining(): void {
    const self = this.options.overlay.self;
    if (this.stopped || this.joining || !self || !this.isAlone()) return;
    const now = this.now();
    const candidates = this.joinable();
    if (!candidates.length || now - Math.min(...candidates.map((p) => p.firstSeen)) < SETTLE_MS) {
      if (candidates.length) this.options.timers.set(SETTLE_MS, () => this.considerJoining());
      return;
    }
    const smaller = candidates.find((p) => p.view.nodeId < self.id);
    const waited = candidates.find((p) => now - p.firstSeen >= JOIN_GRACE_MS);
    const through = smaller ?? waited;
    if (!through) return;
    this.joining = true;
    const address = `${hostForUri(through.view.host)}:${through.view.port}`;
    this.options.overlay
      .joinThroughIfAlone(address)
      .then((joined) => {
        if (joined) {
          this.stats.joins++;
          this.options.log.info('joined the overlay through a LAN peer', { address, nodeId: through.view.nodeId });
        }
      })
      .catch((error: unknown) => this.options.log.debug('could not join through a LAN peer', { address, error: String(error) }))
      .finally(() => {
        this.joining = false;
      });
  }
}

/** A Peerdial node's TXT record, read; undefined for anything else. */
function peerFromTxt(found: DnsSdFound): Omit<LanPeerView, 'via' | 'lastSeen' | 'host' | 'port'> | undefined {
  const { node, overlay, aor, cfg, relay, farm } = found.txt;
  if (!node || !/^[0-9a-f]{40}$/.test(node) || !overlay || !/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(overlay)) return undefined;
  return {
    nodeId: node,
    overlay,
    offersConfig: cfg === '1',
    ...(aor && /^sip:[^@\s]+@[^\s]+$/.test(aor) ? { aor } : {}),
    ...(relay && relay.length <= 80 && /^turn:[0-9A-Fa-f.:[\]]+:\d{1,5}$/.test(relay) ? { relay } : {}),
    ...(farm && /^[0-9a-f]{16}$/.test(farm) ? { farm } : {}),
  };
}

/** The address the answer came from when it is one of the host's (the surest), else its first IPv4 address. */
function reachableAddress(found: DnsSdFound): string {
  const ipv4 = found.addresses.filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (found.source && (ipv4.includes(found.source) || !ipv4.length)) return found.source;
  return ipv4[0] ?? found.host;
}

/** A peer's view without the time it was last seen: what a change is. */
function comparable(view: LanPeerView): string {
  return JSON.stringify({ ...view, lastSeen: 0 });
}

function orderedMethods(seen: Map<LanDiscoveryMethod, number>): LanDiscoveryMethod[] {
  return (['mdns', 'multicast-register'] as const).filter((m) => seen.has(m));
}

function signatureOfNetwork(): string {
  return lanInterfaces()
    .map((i) => `${i.name}=${i.address}`)
    .sort()
    .join(',');
}

function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === '::1' || host === 'localhost';
}
