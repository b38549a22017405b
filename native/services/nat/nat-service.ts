// What lies between this node and the internet, and the STUN server it runs for others.
// - Every node answers STUN Binding requests on its SIP port (RFC 8489), with the RFC 5780
//   extensions: an alternate-port socket of its own, and for the alternate address either a
//   second address of this host (--stun-other-address) or a partner member that answers for it.
// - It learns its SIP socket's public address from members, and the behaviour of its NAT
//   (RFC 5780 4.3, 4.4) on a fresh socket, again whenever a local address changes.
import os from 'node:os';
import type { Logger } from '../../log.js';
import { describeBehaviour, discoverBehaviour, type NatBehaviour } from '../../proto/nat/behaviour-discovery.js';
import { StunClient } from '../../proto/nat/stun-client.js';
import { StunResponder, type ResponderAction, type ResponderLayout, type SocketRole, type StunDropReason } from '../../proto/nat/stun-responder.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { ATTR, attribute, parseStun, type StunMessage, type TransportAddress } from '../../wire/stun/message.js';
import { UdpSocket } from '../../transport/udp-socket.js';
import type { SipStack } from '../sip/index.js';
import type { NatView, ReachabilityView } from './nat-view.js';
import { ClientFlows } from './client-flows.js';
import { MemberAttachment } from './member-attachment.js';
import type { CallPortMapping } from '../calls/index.js';
import { PortMapper, type PortMapperOptions } from './port-mapper.js';
import { checkReachability, describeReachability } from './reachability.js';

export interface NatServiceOptions {
  stack: SipStack;
  /** A second address of this host to answer CHANGE-REQUEST from (RFC 5780 with one server). */
  otherAddress?: string;
  /** Members to ask, best first (bootstrap peers, then the ring). */
  servers(): TransportAddress[];
  /** Members that may be our partner, or ask to be ours: ring members with the same SIP port. */
  partnerCandidates(): TransportAddress[];
  isPartnerAcceptable(address: TransportAddress): boolean;
  timers: TimerHost;
  log: Logger;
  onChange(view: NatView): void;
  software: string;
  now?: () => number;
  /** How often local addresses are compared with the last ones (mobility), ms. */
  interfacePollMs?: number;
  /** How often the partner is asked again (it forgets us after three of these), ms. */
  partnerRefreshMs?: number;
  localAddresses?: () => string[];
  /** This node's place: a member carries clients, a client is carried by a member. */
  role(): 'member' | 'client';
  /** The user name (a client registers it with its member). */
  user(): string | undefined;
  /** A client attached to a (new) member: its contact is now the member's flow. */
  onAttached(member: TransportAddress | undefined, contact: string | undefined): void;
  /** How often a client checks its member, ms. */
  keepaliveMs?: number;
  /** How many clients a member carries at most. */
  maxClients?: number;
  /** --role auto: the NAT check decides between member and client. */
  autoRole?: boolean;
  /** Leaves the ring to be a client (auto role). */
  becomeClient(): Promise<void>;
  /** Joins the ring from being a client (auto role); false when no member lets it join. */
  becomeMember(): Promise<boolean>;
  /** Became a member: the overlay binding should carry our own contact again. */
  onMember(): void;
  /** True once this node is a member of the ring (not before its join, not as a client). */
  inRing(): boolean;
  /** --member-uptime: how long an auto node that others reach is up before it joins the ring. */
  memberUptimeMs?: number;
  /** "Ask my router to open a port": the setting as kept, and how to keep a change. */
  portMapping: { enabled: boolean; save(enabled: boolean): Promise<void> };
  /** The LAN's default gateway (PCP, NAT-PMP). */
  gateway(): Promise<string | undefined>;
  /** Tests: the router protocols to try, in order. */
  mappers?: PortMapperOptions['mappers'];
}

const PARTNER_REFRESH_MS = 60_000;
const MEMBER_UPTIME_MS = 60_000;
const INTERFACE_POLL_MS = 3_000;

export class NatService {
  private readonly now: () => number;
  private responder!: StunResponder;
  private sipClient!: StunClient;
  /** STUN over TCP from the SIP port (RFC 8489 6.2.2): for networks that drop UDP. One send, a longer wait. */
  private tcpClient!: StunClient;
  private altPort?: UdpSocket;
  private otherSockets: UdpSocket[] = [];
  private partner?: { sip: TransportAddress; altPort: number; lastSeen: number };
  private behaviour?: NatBehaviour;
  private reachability: ReachabilityView = { state: 'unknown', probes: [] };
  private roleReason = '';
  private publicAddress?: TransportAddress;
  private checking?: Promise<void>;
  private lastCheck?: number;
  private lastLocal = '';
  private timers: TimerHandle[] = [];
  private stopped = false;
  private startedAt = 0;
  readonly flows: ClientFlows;
  private readonly portMapper: PortMapper;
  private portMappingEnabled: boolean;
  private attachment?: MemberAttachment;
  readonly counters: Record<StunDropReason | 'answered' | 'passedToPartner' | 'unsolicitedAnswers' | 'partnerRefused', number> = {
    answered: 0,
    passedToPartner: 0,
    malformed: 0,
    'not-a-binding-request': 0,
    'answer-request-not-from-partner': 0,
    'bad-answer-request': 0,
    'response-we-did-not-ask-for': 0,
    unsolicitedAnswers: 0,
    partnerRefused: 0,
  };

  constructor(private readonly options: NatServiceOptions) {
    this.now = options.now ?? Date.now;
    this.flows = new ClientFlows({
      stack: options.stack,
      log: options.log.child('flows'),
      now: this.now,
      maxClients: options.maxClients,
      accepting: () => (options.role() === 'member' ? { ok: true } : { ok: false, reason: 'a client itself, not a member' }),
      onChange: () => this.changed(),
    });
    this.portMappingEnabled = options.portMapping.enabled;
    this.portMapper = new PortMapper({
      timers: options.timers,
      log: options.log.child('port-mapping'),
      now: this.now,
      gateway: options.gateway,
      mappers: options.mappers,
      off: !this.portMappingEnabled,
      onChange: () => this.changed(),
    });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.startedAt = this.now();
    const stack = this.options.stack;
    const bind = stack.bindAddress;
    this.sipClient = new StunClient({ timers: this.options.timers, now: this.now, send: (bytes, to) => void stack.sendRaw(bytes, { protocol: 'udp', ...to }).catch(() => undefined) });
    this.tcpClient = new StunClient({ timers: this.options.timers, now: this.now, rtoMs: 3_000, sends: 1, send: (bytes, to) => void stack.sendRaw(bytes, { protocol: 'tcp', ...to }).catch(() => undefined) });
    this.altPort = await UdpSocket.open({ bind, onMessage: (bytes, from) => this.onDatagram(bytes, from, { ip: 0, port: 1 }) });
    if (this.options.otherAddress) {
      // Two addresses of our own: hold all four RFC 5780 sockets.
      const other = this.options.otherAddress;
      this.otherSockets = [
        await UdpSocket.open({ bind: other, port: stack.port, onMessage: (bytes, from) => this.onDatagram(bytes, from, { ip: 1, port: 0 }) }),
        await UdpSocket.open({ bind: other, port: this.altPort.port, onMessage: (bytes, from) => this.onDatagram(bytes, from, { ip: 1, port: 1 }) }),
      ];
    }
    this.responder = new StunResponder(this.layout(), this.options.software);
    stack.addForwarder(this.flows);
    stack.handleStun((bytes, remote) => {
      if (remote.protocol === 'udp') this.onDatagram(bytes, remote, { ip: 0, port: 0 });
      else if (remote.protocol === 'tcp') this.onStream(bytes, { ...remote, protocol: 'tcp' });
    });
    this.lastLocal = this.localAddresses().join(',');
    this.every(this.options.interfacePollMs ?? INTERFACE_POLL_MS, () => this.pollInterfaces());
    this.every(this.options.partnerRefreshMs ?? PARTNER_REFRESH_MS, () => {
      void this.findPartner();
      // An auto client checks again now and then: members it can be probed by may have come.
      if (this.options.autoRole && this.options.role() === 'client') void this.check();
      else void this.recheckPublicAddress();
    });
    void this.findPartner().then(() => this.check());
    this.roleReason = this.options.role() === 'client' ? 'chosen with --role client' : this.options.autoRole ? 'a member until the NAT check says otherwise' : 'chosen with --role member';
    if (this.options.role() === 'client') this.startAttachment();
  }

  private startAttachment(): void {
    if (this.attachment || this.stopped) return;
    this.attachment = new MemberAttachment({
      stack: this.options.stack,
      stun: () => this.sipClient,
      stunTcp: () => this.tcpClient,
      timers: this.options.timers,
      log: this.options.log.child('attachment'),
      now: this.now,
      user: this.options.user,
      candidates: () => this.options.servers(),
      onAttached: (member, contact) => this.options.onAttached(member, contact),
      onChange: () => this.changed(),
      keepaliveMs: this.options.keepaliveMs,
    });
    this.attachment.start();
  }

  /**
   * --role auto: a member only where others reach it directly: no NAT, or a router that forwards
   * its SIP port (a port mapping, a full cone), and members' probes arrive (reachability.ts);
   * a would-be member waits for --member-uptime first. Otherwise, or where UDP is blocked but a
   * member answers over TCP, a client. A client that becomes reachable moves up. Nothing known
   * (no member answered, or none could probe) keeps a member one: it may be the first node.
   */
  private async chooseRole(found: NatBehaviour): Promise<void> {
    if (!this.options.autoRole || this.stopped) return;
    const noNat = found.mapping === 'no-nat';
    // A NAT, measured, or evident from a mapped address that is none of ours (no partner to measure with).
    const natted = found.udp && !noNat && (found.mapping !== undefined || (!!found.mapped && !this.localAddresses().includes(found.mapped.address)));
    const forwarded = natted ? this.forwardedHost(found) : undefined;
    const reachable = found.udp && this.reachability.state === 'reachable' && (noNat || forwarded !== undefined);
    const uptimeMs = this.now() - this.startedAt;
    const memberUptimeMs = this.options.memberUptimeMs ?? MEMBER_UPTIME_MS;
    if (this.options.role() === 'client') {
      if (reachable && uptimeMs >= memberUptimeMs) await this.promote(forwarded);
      return;
    }
    let reason: string | undefined;
    if (found.udp && noNat && this.reachability.state === 'unreachable') {
      reason = `no NAT, but a firewall drops what others send unasked (${describeReachability(this.reachability)}): a member carries its signalling`;
    } else if (natted && !(reachable && this.options.stack.host === forwarded?.host)) {
      reason = `behind a NAT (${found.mapping ? `${found.mapping} mapping` : 'members see another address'}): others cannot reach this node directly, so a member carries its signalling`;
    } else if (!found.udp) {
      const overTcp = await this.tcpClient.binding(found.server);
      if (overTcp.ok) reason = 'UDP does not get through here (members answer only over TCP): a member carries its signalling over TCP';
    } else if (reachable && uptimeMs < memberUptimeMs && !this.options.inRing()) {
      // The uptime rule, for a node about to join: one that comes and goes would unsettle the
      // ring, so it is carried first. (A member already in the ring stays.)
      reason = `${describeReachability(this.reachability)}; it joins the ring once it has been up ${Math.round(memberUptimeMs / 1000)} s, and a member carries its signalling until then`;
      const handle = this.options.timers.set(memberUptimeMs - uptimeMs, () => {
        this.timers = this.timers.filter((t) => t !== handle);
        void this.check();
      });
      this.timers.push(handle);
    }
    if (!reason) {
      this.roleReason = this.memberReason(reachable ? forwarded?.how : undefined);
      return;
    }
    this.options.log.info('becoming a client', { reason });
    this.roleReason = reason;
    this.options.stack.setPublicHost(undefined);
    await this.options.becomeClient();
    this.startAttachment();
    this.changed();
  }

  /**
   * Behind a NAT, the public address others reach our SIP port at with no member in between:
   * the router forwards the port (our port mapping, at the address members see, same port), or
   * it is a full cone keeping our SIP port's number outside. Undefined otherwise.
   */
  private forwardedHost(found: NatBehaviour): { host: string; how: string } | undefined {
    const seen = this.publicAddress;
    const port = this.options.stack.port;
    if (!seen || seen.port !== port) return undefined;
    const mapped = this.portMapper.reaches();
    if (mapped && mapped.address === seen.address && mapped.port === port) return { host: seen.address, how: `your router forwards ${seen.address}:${port} to it (port mapping)` };
    if (found.mapping === 'endpoint-independent' && found.filtering === 'endpoint-independent') return { host: seen.address, how: `your router lets anyone reach it at ${seen.address}:${port} (full cone)` };
    return undefined;
  }

  private memberReason(forwardedHow?: string): string {
    if (forwardedHow) return `behind a NAT, but ${forwardedHow}, and ${describeReachability(this.reachability)}`;
    return this.reachability.state === 'reachable'
      ? `no NAT between this node and the members, and ${describeReachability(this.reachability)}`
      : 'no NAT between this node and the members: others reach it directly (no member could probe it yet from an address it never sent to)';
  }

  /** An auto client that members' probes reach (no NAT, or a router that forwards its port), with enough uptime, joins the ring. */
  private async promote(forwarded: { host: string; how: string } | undefined): Promise<void> {
    const attachment = this.attachment;
    this.attachment = undefined;
    await attachment?.stop();
    // Behind a NAT that forwards our port: others must be told the public address, before the join.
    this.options.stack.setPublicHost(forwarded?.host);
    if (await this.options.becomeMember()) {
      this.roleReason = this.memberReason(forwarded?.how);
      this.options.log.info('now a member', { reason: this.roleReason });
      this.options.onMember();
    } else {
      this.options.log.warn('could not join the ring; staying a client');
      this.options.stack.setPublicHost(undefined);
      this.startAttachment();
    }
    this.changed();
  }

  /**
   * --role auto, before joining the ring: the NAT check (and, with no NAT, the reachability
   * probes) against the bootstrap members, so a node others cannot reach never joins. A check
   * that takes longer than `waitMs` (members slow to answer) goes on after the join, and a node
   * it finds unreachable leaves the ring then.
   */
  async decideBeforeJoin(waitMs = 6_000): Promise<void> {
    let timer: TimerHandle | undefined;
    const late = new Promise<void>((resolve) => (timer = this.options.timers.set(waitMs, resolve)));
    // The check begun at start found no members yet (the overlay had not read its bootstrap list).
    const decided = (this.checking ?? Promise.resolve()).catch(() => undefined).then(() => this.check());
    await Promise.race([decided, late]);
    if (timer) this.options.timers.clear(timer);
  }

  /** A client with no member yet tries again now (an identity was just made). */
  attachNow(): void {
    if (this.attachment && this.attachment.view().state === 'detached') void this.attachment.attach();
  }

  /** Our NAT maps each destination apart (or drops UDP): a phone without ICE can reach us only through a relay. */
  needsRelayForPlainPeers(): boolean {
    const found = this.behaviour;
    return found !== undefined && (!found.udp || found.mapping === 'address-dependent' || found.mapping === 'address-and-port-dependent');
  }

  /** Maps a call's RTP port on the router that maps our SIP port ("Ask my router to open a port"); undefined when none does. */
  mapCallPort(port: number): Promise<CallPortMapping | undefined> {
    return this.portMappingEnabled && !this.stopped ? this.portMapper.mapCallPort(port) : Promise.resolve(undefined);
  }

  /** Turns "Ask my router to open a port" on or off (kept in settings); off deletes the mapping at once. */
  async setPortMapping(enabled: boolean): Promise<NatView> {
    this.portMappingEnabled = enabled;
    await this.options.portMapping.save(enabled);
    await this.updatePortMapping();
    return this.view();
  }

  /** Maps the SIP port when the setting is on and a NAT lies between us and the members. */
  private async updatePortMapping(): Promise<void> {
    if (this.stopped) return;
    if (!this.portMappingEnabled) return this.portMapper.off('off');
    const bind = this.options.stack.bindAddress;
    if (bind.startsWith('127.') || bind === '::1') return this.portMapper.off('not-needed', 'bound to loopback: no router in between');
    const found = this.behaviour;
    if (!found) return;
    if (found.mapping === 'no-nat') return this.portMapper.off('not-needed', 'no NAT between this node and the members');
    if (!found.udp) return this.portMapper.off('not-needed', 'UDP does not get through here: a router mapping would not help');
    const internal = (bind === '0.0.0.0' ? await this.addressTowardsGateway() : bind) ?? bind;
    if (this.portMapper.holds(internal, this.options.stack.port)) return;
    await this.portMapper.map(internal, this.options.stack.port);
  }

  private async addressTowardsGateway(): Promise<string | undefined> {
    const gateway = await this.options.gateway().catch(() => undefined);
    const mine = this.localAddresses().filter((a) => !a.startsWith('127.'));
    const prefix = gateway?.split('.').slice(0, 3).join('.');
    return mine.find((a) => prefix && a.startsWith(prefix + '.')) ?? mine[0];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.portMapper.stop();
    await this.attachment?.stop();
    this.attachment = undefined;
    for (const t of this.timers) this.options.timers.clear(t);
    this.timers = [];
    this.sipClient?.cancelAll();
    await this.checking?.catch(() => undefined);
    await Promise.all([this.altPort?.close(), ...this.otherSockets.map((s) => s.close())]);
    this.otherSockets = [];
  }

  view(): NatView {
    const layout = this.layout();
    return {
      checking: this.checking !== undefined,
      lastCheck: this.lastCheck,
      publicAddress: this.publicAddress && `${this.publicAddress.address}:${this.publicAddress.port}`,
      portMapping: this.portMappingView(),
      reachability: { ...this.reachability, description: describeReachability(this.reachability) },
      behaviour: this.behaviour && {
        udp: this.behaviour.udp,
        mapping: this.behaviour.mapping,
        filtering: this.behaviour.filtering,
        mapped: this.behaviour.mapped && `${this.behaviour.mapped.address}:${this.behaviour.mapped.port}`,
        server: `${this.behaviour.server.address}:${this.behaviour.server.port}`,
        rttMs: this.behaviour.rttMs,
        notes: this.behaviour.notes,
        description: describeBehaviour(this.behaviour),
      },
      stunServer: {
        port: this.options.stack.port,
        alternatePort: this.altPort?.port,
        otherAddress: layout.addresses[1]?.[1] && `${layout.addresses[1][1].address}:${layout.addresses[1][1].port}`,
        partner: this.partner && `${this.partner.sip.address}:${this.partner.sip.port}`,
      },
      role: this.options.role(),
      roleReason: this.roleReason,
      attachment: this.attachment?.view(),
      carrying: this.options.role() === 'member' ? { clients: this.flows.count, max: this.flows.view().max } : undefined,
      counters: { ...this.counters, ...prefixed('flows.', this.flows.counters) },
    };
  }

  /** The router's mapping, and whether it is the address members see (no second NAT beyond it). */
  private portMappingView(): NatView['portMapping'] {
    const view = this.portMapper.view(this.portMappingEnabled);
    const reaches = this.portMapper.reaches();
    const seen = this.publicAddress;
    if (reaches && seen && reaches.address !== seen.address) {
      view.note = `your router's own address (${reaches.address}) is not your public address (${seen.address}): another NAT lies beyond it, as under carrier-grade NAT, so the mapping does not make you reachable`;
    }
    return view;
  }

  /** Finds the public address and NAT behaviour again (at most one run at a time). */
  check(): Promise<void> {
    if (this.checking) return this.checking;
    this.checking = this.runCheck().finally(() => {
      this.checking = undefined;
      this.lastCheck = this.now();
      this.changed();
    });
    this.changed();
    return this.checking;
  }

  private async runCheck(): Promise<void> {
    const stack = this.options.stack;
    const selves = [`${stack.host}:${stack.port}`, `${stack.localHost}:${stack.port}`];
    const servers = this.options.servers().filter((s) => !selves.includes(`${s.address}:${s.port}`));
    if (!servers.length) return;
    let best: NatBehaviour | undefined;
    for (const server of servers.slice(0, 3)) {
      if (this.stopped) return;
      const outcome = await this.sipClient.binding(server);
      if (outcome.ok) this.publicAddress = outcome.answer.mapped;
      const result = await this.discoverWith(server);
      if (!best || (result.udp && !best.udp) || (result.filtering && !best.filtering)) best = result;
      if (result.mapping && result.filtering) break;
    }
    if (best && JSON.stringify(best) !== JSON.stringify(this.behaviour)) {
      this.options.log.info('NAT behaviour', { description: describeBehaviour(best), mapped: best.mapped, server: best.server });
    }
    this.behaviour = best;
    if (!best?.udp) {
      this.reachability = { state: 'unknown', probes: [] };
      void this.updatePortMapping();
    } else if (best.mapping === 'no-nat') {
      void this.updatePortMapping();
      // No NAT: whether a firewall drops what comes unasked decides the role, so wait for it.
      await this.probeReachability(servers);
    } else {
      // Behind a NAT, in the background: a router without PCP, NAT-PMP or UPnP costs a few
      // seconds of silence; the probes then say whether the mapping (or a full cone) lets others in.
      void this.updatePortMapping()
        .catch((error) => this.options.log.warn('port mapping failed', { error: String(error) }))
        .then(() => this.probeReachability(servers))
        .then(() => this.behaviour && this.chooseRole(this.behaviour));
    }
    if (best) await this.chooseRole(best);
  }

  private async probeReachability(servers: TransportAddress[]): Promise<void> {
    if (this.stopped) return;
    this.reachability = { state: 'checking', probes: [] };
    this.changed();
    const stack = this.options.stack;
    // Filtering by address alone (RFC 5780 4.4) lets in every port of an address we sent to.
    const byAddress = this.behaviour?.filtering === 'address-dependent' || this.behaviour?.filtering === undefined;
    const hasSentTo = (address: string, port: number) => (byAddress ? stack.hasSentTo(address) : stack.hasSentTo(address, port));
    this.reachability = await checkReachability(servers, { stun: this.sipClient, hasSentTo, now: this.now });
    this.options.log.info('reachability', { state: this.reachability.state, probes: this.reachability.probes });
    this.changed();
  }

  /** One RFC 5780 run on a socket that has sent nothing before. */
  private async discoverWith(server: TransportAddress): Promise<NatBehaviour> {
    const bind = this.options.stack.bindAddress;
    const holder: { client?: StunClient } = {};
    const socket = await UdpSocket.open({ bind, onMessage: (bytes, from) => holder.client?.accept(bytes, from) });
    const client = new StunClient({ timers: this.options.timers, now: this.now, send: (bytes, to) => socket.send(bytes, to) });
    holder.client = client;
    try {
      const local = this.localAddresses().map((address) => ({ address, port: socket.port }));
      return await discoverBehaviour((to, change) => client.binding(to, { change }), server, local);
    } finally {
      await socket.close();
    }
  }

  private onStream(bytes: Buffer, remote: { protocol: 'tcp' | 'udp'; address: string; port: number }): void {
    // STUN over TCP (RFC 8489 6.2.2): a Binding answered on the same connection; no CHANGE-REQUEST there.
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformed++;
      return;
    }
    if (parsed.message.klass === 'success' || parsed.message.klass === 'error') {
      if (!this.tcpClient.accept(bytes, remote)) this.counters.unsolicitedAnswers++;
      return;
    }
    if (parsed.message.klass !== 'request') {
      this.counters['not-a-binding-request']++;
      return;
    }
    const action = this.responder.answer({ ...parsed.message, attributes: parsed.message.attributes.filter((a) => a.type !== ATTR.CHANGE_REQUEST) }, remote, { ip: 0, port: 0 });
    this.flows.touch(remote);
    if (action.kind === 'reply') {
      this.counters.answered++;
      void this.options.stack.sendRaw(action.bytes, remote).catch(() => undefined);
    }
  }

  private onDatagram(bytes: Buffer, from: TransportAddress, on: SocketRole): void {
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformed++;
      return;
    }
    const message = parsed.message;
    // A client's keepalive (RFC 5626 4.4.1 STUN over the flow) keeps its flow alive.
    if (on.ip === 0 && on.port === 0) this.flows.touch({ protocol: 'udp', ...from });
    if (message.klass === 'success' || message.klass === 'error') {
      if (!this.sipClient.accept(bytes, from)) this.counters.unsolicitedAnswers++;
      return;
    }
    const wantsPartner = message.klass === 'request' ? attribute(message, ATTR.PEERDIAL_PARTNER) : undefined;
    const extra = wantsPartner ? this.partnerRequest(message, from, wantsPartner) : [];
    this.act(this.responder.answer(message, from, on, extra));
  }

  private act(action: ResponderAction): void {
    switch (action.kind) {
      case 'drop':
        this.counters[action.reason]++;
        this.options.log.debug('STUN dropped', { reason: action.reason });
        return;
      case 'ask-partner':
        this.counters.passedToPartner++;
        void this.options.stack.sendRaw(action.bytes, { protocol: 'udp', ...action.to }).catch(() => undefined);
        return;
      case 'reply':
        this.counters.answered++;
        this.socketFor(action.from, action.to, action.bytes);
    }
  }

  private socketFor(role: SocketRole, to: TransportAddress, bytes: Buffer): void {
    if (role.ip === 0 && role.port === 0) void this.options.stack.sendRaw(bytes, { protocol: 'udp', ...to }).catch(() => undefined);
    else if (role.ip === 0) this.altPort?.send(bytes, to);
    else this.otherSockets[role.port]?.send(bytes, to);
  }

  /** Someone asks us to be its partner: yes if it is a member we know and we have no other. */
  private partnerRequest(message: StunMessage, from: TransportAddress, value: Buffer): { type: number; value: Buffer }[] {
    if (this.options.otherAddress || value.length < 2) return [];
    const current = this.partner;
    const same = current && current.sip.address === from.address && current.sip.port === from.port;
    const stale = current && this.now() - current.lastSeen > 3 * (this.options.partnerRefreshMs ?? PARTNER_REFRESH_MS);
    if ((current && !same && !stale) || !this.options.isPartnerAcceptable(from) || from.address === this.options.stack.localHost) {
      this.counters.partnerRefused++;
      return [];
    }
    this.setPartner({ sip: from, altPort: value.readUInt16BE(0), lastSeen: this.now() });
    return [{ type: ATTR.PEERDIAL_PARTNER, value: this.altPortValue() }];
  }

  private async findPartner(): Promise<void> {
    if (this.options.otherAddress || this.stopped) return;
    const candidates = this.partner ? [this.partner.sip] : this.options.partnerCandidates().filter((c) => c.address !== this.options.stack.localHost && c.address !== this.options.stack.host);
    for (const candidate of candidates.slice(0, 4)) {
      const outcome = await this.sipClient.binding(candidate, { attributes: [{ type: ATTR.PEERDIAL_PARTNER, value: this.altPortValue() }] });
      const yes = outcome.ok && outcome.answer.attributes.find((a) => a.type === ATTR.PEERDIAL_PARTNER);
      if (yes && yes.value.length >= 2) {
        this.setPartner({ sip: candidate, altPort: yes.value.readUInt16BE(0), lastSeen: this.now() });
        return;
      }
    }
    if (this.partner && this.now() - this.partner.lastSeen > 3 * (this.options.partnerRefreshMs ?? PARTNER_REFRESH_MS)) {
      this.options.log.info('STUN partner lost', { partner: this.partner.sip });
      this.partner = undefined;
      this.responder.setLayout(this.layout());
      this.changed();
    }
  }

  private setPartner(partner: { sip: TransportAddress; altPort: number; lastSeen: number }): void {
    const changed = !this.partner || this.partner.sip.address !== partner.sip.address || this.partner.sip.port !== partner.sip.port || this.partner.altPort !== partner.altPort;
    this.partner = partner;
    if (!changed) return;
    this.options.log.info('STUN partner', { partner: partner.sip, alternatePort: partner.altPort });
    this.responder.setLayout(this.layout());
    this.changed();
  }

  private altPortValue(): Buffer {
    const value = Buffer.alloc(4);
    value.writeUInt16BE(this.altPort?.port ?? 0);
    return value;
  }

  private layout(): ResponderLayout {
    const stack = this.options.stack;
    const host = stack.localHost;
    const own = [{ address: host, port: stack.port }, this.altPort && { address: host, port: this.altPort.port }];
    if (this.options.otherAddress) {
      const other = this.options.otherAddress;
      return { addresses: [own, this.otherSockets.map((s) => ({ address: other, port: s.port }))] };
    }
    if (this.partner) {
      const p = this.partner;
      return { addresses: [own, [p.sip, { address: p.sip.address, port: p.altPort }]], partner: p.sip };
    }
    return { addresses: [own] };
  }

  /** The mapping members see for our SIP socket changed (a new NAT, a rebooted router): check again. */
  private async recheckPublicAddress(): Promise<void> {
    const server = this.behaviour?.server ?? this.options.servers()[0];
    if (!server || this.checking || this.stopped) return;
    const outcome = await this.sipClient.binding(server);
    if (!outcome.ok) return;
    const before = this.publicAddress;
    if (before && before.address === outcome.answer.mapped.address && before.port === outcome.answer.mapped.port) return;
    this.options.log.info('public address changed', { before, now: outcome.answer.mapped });
    void this.check();
  }

  private pollInterfaces(): void {
    // No partner yet (the ring was not joined when we started): ask as soon as members are known.
    if (!this.partner && !this.options.otherAddress && this.options.partnerCandidates().length) void this.findPartner();
    // Nothing known yet (no member was known at start): try as soon as one is.
    if (!this.behaviour && !this.checking && this.options.servers().length) void this.check();
    const now = this.localAddresses().join(',');
    if (now === this.lastLocal) return;
    this.options.log.info('local addresses changed', { before: this.lastLocal, now });
    this.lastLocal = now;
    this.options.stack.dropConnections();
    void this.check();
  }

  private localAddresses(): string[] {
    if (this.options.localAddresses) return this.options.localAddresses();
    // The bound address counts even when no interface lists it (127.0.0.2 on loopback).
    const bind = this.options.stack.bindAddress;
    const out: string[] = bind === '0.0.0.0' || bind === '::' ? [] : [bind];
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !out.includes(a.address)) out.push(a.address);
    return out.sort();
  }

  private every(ms: number, fire: () => void): void {
    const arm = () => {
      const handle = this.options.timers.set(ms, () => {
        this.timers = this.timers.filter((t) => t !== handle);
        if (this.stopped) return;
        fire();
        arm();
      });
      this.timers.push(handle);
    };
    arm();
  }

  private changed(): void {
    if (!this.stopped) this.options.onChange(this.view());
  }
}

function prefixed(prefix: string, counters: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counters).map(([k, v]) => [prefix + k, v]));
}
