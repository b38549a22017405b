// The relay finder: which TURN relays this node's calls may use. It reads the members' `relay`
// advertisements from the overlay, measures the round trip to each (a STUN Binding to its TURN
// port, or a TCP connect where UDP is blocked), ranks them, and keeps credentials for the best
// two so a call allocates at once. "Best" (docs/architecture.md, "Relays"): relays with spare
// bandwidth only, lowest round trip first, each relay's round trip weighed up by how full it
// is (allocations against its capacity). A TURN server the user configured (--turn) comes first.
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import { StunClient } from '../../proto/nat/stun-client.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { tcpConnectMs } from '../../transport/tcp-stream.js';
import { UdpSocket } from '../../transport/udp-socket.js';
import { serviceKey, verifyRecord, type OverlayRecord, type ServiceValue } from '../../wire/overlay/record.js';
import { decodeCredentialGrant, RELAY_CONTENT_TYPE, signCredentialRequest, type CredentialGrant } from '../../wire/relay/credential.js';
import { decodeBody } from '../../wire/sip/message.js';
import { describeTurnUrl, type TurnServerUrl } from '../../wire/stun/turn-url.js';
import type { SipStack } from '../sip/index.js';
import type { RelayServer } from './relay-legs.js';
import type { RelayCandidateView, RelayView } from './relay-view.js';
import { RELAY_SERVICE } from './relay-service.js';

export interface RelayFinderOptions {
  overlay: { readonly overlay: string; fetchRecords(key: string): Promise<OverlayRecord[]> };
  stack: SipStack;
  /** The user asking: their AOR and identity key (credentials go only to overlay users). */
  identity(): { aor: string; rawPublicKey: Buffer; privateKey: Buffer } | undefined;
  /** --turn: the user's own TURN server. */
  configured?: TurnServerUrl;
  /** Nodes of our overlay on this LAN (DNS-SD, the multicast REGISTER): their SIP host and port, and their relay (turn:HOST:PORT) when they say they run one. */
  lanPeers?(): { host: string; port: number; relay?: string }[];
  /** False where the network drops UDP: relays are then reached over TCP. */
  udpWorks(): boolean;
  /** Our own relay's host:port, left out (a node does not relay its own calls). */
  ownRelay(): string | undefined;
  bind: string;
  timers: TimerHost;
  log: Logger;
  onChange(): void;
  now?: () => number;
}

interface Candidate {
  address: { address: string; port: number };
  source: 'overlay' | 'lan';
  contact: string;
  owner: string;
  /** Spare Mbit/s as advertised in the overlay (DNS-SD does not say). */
  headroom?: number;
  capacity?: number;
  load?: number;
  rttMs?: number;
  grant?: CredentialGrant;
  note?: string;
}

/** Relays kept ready (credentials in hand): a call offers both. */
const KEEP_READY = 2;
/** Relays measured at most per round. */
const MEASURE_AT_MOST = 8;
const REFRESH_MS = 5 * 60_000;
const RETRY_EMPTY_MS = 15_000;
/** Credentials are asked for again this long before they expire. */
const RENEW_BEFORE_MS = 2 * 60_000;
const TCP_CONNECT_TIMEOUT_MS = 2000;

export class RelayFinder {
  private candidates: Candidate[] = [];
  private measuredAt: number | undefined;
  private timer: TimerHandle | undefined;
  private socket: UdpSocket | undefined;
  private stun: StunClient | undefined;
  private refreshing: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;
  /** Relays (IP addresses) that died under a call: skipped until measured again. */
  private readonly lost = new Set<string>();

  constructor(private readonly options: RelayFinderOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.socket = await UdpSocket.open({ bind: this.options.bind, onMessage: (bytes, from) => this.stun?.accept(bytes, from) });
    this.stun = new StunClient({ timers: this.options.timers, now: () => performance.now(), send: (bytes, to) => this.socket?.send(bytes, to), rtoMs: 300, sends: 2 });
    this.schedule(2_000);
  }

  /** Stops at once: a round still waiting on the overlay or a relay finds `stopped` and ends there. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.timers.clear(this.timer);
    this.stun?.cancelAll();
    await this.socket?.close();
  }

  /** Measure again now (the network changed, or a relay died under a call). */
  refresh(): Promise<void> {
    this.refreshing ??= this.run().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** A relay failed a call (ours or the other side's, by IP address): passed over until the finder measures again. */
  markLost(address: string): void {
    if (!this.candidates.some((c) => c.address.address === address)) return;
    this.lost.add(address);
    void this.refresh();
  }

  /** The relays a call gathers on now, best first: the user's own, then the ready ones. */
  relaysForCall(): RelayServer[] {
    const transport = this.options.udpWorks() ? 'udp' : 'tcp';
    const out: RelayServer[] = [];
    const configured = this.options.configured;
    if (configured) out.push({ server: { address: configured.host, port: configured.port }, transport: configured.transport, username: configured.username, password: configured.password, label: 'your TURN server' });
    for (const c of this.ready()) {
      const grant = c.grant!;
      if (!grant.transports.includes(transport)) continue;
      out.push({ server: c.address, transport, username: grant.username, password: grant.password, label: `${c.address.address}:${c.address.port}` });
    }
    return out;
  }

  view(): RelayView['finder'] {
    const ready = new Set(this.ready());
    // A relay at the address of a node found on this LAN is on this LAN, however it was learned
    // (its TXT record may name an older port, or lag behind its advertisement in the overlay).
    const onLan = new Set((this.options.lanPeers?.() ?? []).map((p) => p.host));
    const relays: RelayCandidateView[] = this.candidates.map((c) => ({
      label: `${c.address.address}:${c.address.port}`,
      address: `${c.address.address}:${c.address.port}`,
      transport: this.options.udpWorks() ? 'udp' : 'tcp',
      source: c.source === 'lan' || onLan.has(c.address.address) ? 'lan' : 'overlay',
      ...(c.rttMs !== undefined ? { rttMs: Math.round(c.rttMs * 10) / 10 } : {}),
      ...(c.load !== undefined ? { load: c.load } : {}),
      ...(c.headroom !== undefined ? { headroomMbit: c.headroom } : {}),
      ready: ready.has(c),
      ...(c.note ? { note: c.note } : {}),
    }));
    const configured = this.options.configured;
    if (configured) relays.unshift({ label: 'your TURN server', address: `${configured.host}:${configured.port}`, transport: configured.transport, source: 'configured', ready: true });
    return { relays, ...(this.measuredAt ? { measuredAt: this.measuredAt } : {}), ...(configured ? { configured: describeTurnUrl(configured) } : {}) };
  }

  private ready(): Candidate[] {
    const now = this.now();
    return this.candidates.filter((c) => c.grant && c.grant.expires > now && !this.lost.has(c.address.address)).slice(0, KEEP_READY);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) this.options.timers.clear(this.timer);
    this.timer = this.options.timers.set(ms, () => {
      this.timer = undefined;
      void this.refresh();
    });
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    try {
      const found = await this.discover();
      if (this.stopped) return;
      const measured = await Promise.all(found.slice(0, MEASURE_AT_MOST).map(async (c) => ({ ...c, rttMs: await this.measure(c.address) })));
      if (this.stopped) return;
      const reachable = measured.filter((c) => c.rttMs !== undefined);
      for (const c of measured) if (c.rttMs === undefined) c.note = 'did not answer';
      reachable.sort((a, b) => score(a) - score(b));
      // Credentials carried over from the last round while still good; asked for where missing.
      const previous = new Map(this.candidates.map((c) => [`${c.address.address}:${c.address.port}`, c.grant]));
      const now = this.now();
      let ready = 0;
      for (const c of reachable) {
        if (ready >= KEEP_READY) break;
        const kept = previous.get(`${c.address.address}:${c.address.port}`);
        c.grant = kept && kept.expires - RENEW_BEFORE_MS > now ? kept : await this.askCredentials(c);
        if (this.stopped) return;
        if (c.grant) ready++;
      }
      this.lost.clear();
      this.candidates = [...reachable, ...measured.filter((c) => c.rttMs === undefined)];
      this.measuredAt = now;
      this.options.log.debug('relay finder', { relays: this.candidates.map((c) => `${c.address.address}:${c.address.port} ${c.rttMs?.toFixed(1)} ms${c.grant ? ' ready' : ''}`) });
      this.options.onChange();
      // Fewer than two ready: look again soon, for relays that have come since.
      this.schedule(ready < KEEP_READY ? RETRY_EMPTY_MS : Math.min(REFRESH_MS, nextRenewal(this.candidates, now)));
    } catch (error) {
      this.options.log.debug('relay finder: no relays yet', { error: String(error) });
      this.schedule(RETRY_EMPTY_MS);
    }
  }

  /**
   * The live, correctly signed relay advertisements in the overlay, then relays members on this
   * LAN announce that the overlay did not give (not joined yet, or its records out of reach);
   * ours left out. A relay still checks our identity in the overlay before it grants.
   */
  private async discover(): Promise<Candidate[]> {
    const own = this.options.ownRelay();
    const out: Candidate[] = await this.discoverInOverlay(own).catch((error: unknown) => {
      if (!this.lanRelays().length) throw error;
      return [];
    });
    for (const lan of this.lanRelays()) {
      const address = parseTurnAddress(lan.relay);
      if (!address || `${address.address}:${address.port}` === own) continue;
      const known = out.find((c) => c.address.address === address.address && c.address.port === address.port);
      if (known) {
        // Advertised in the overlay and announced here: it is on this LAN, which is what the user wants to know.
        known.source = 'lan';
        continue;
      }
      const host = lan.host.includes(':') ? `[${lan.host}]` : lan.host;
      // Its load and spare bandwidth are not in DNS-SD: ranked by round trip alone, as an idle relay.
      out.push({ address, source: 'lan' as const, contact: `sip:relay@${host}:${lan.port}`, owner: '' });
    }
    return out;
  }

  private lanRelays(): { host: string; port: number; relay: string }[] {
    return (this.options.lanPeers?.() ?? []).filter((p): p is { host: string; port: number; relay: string } => p.relay !== undefined);
  }

  private async discoverInOverlay(own: string | undefined): Promise<Candidate[]> {
    const records = await this.options.overlay.fetchRecords(serviceKey(RELAY_SERVICE, this.options.overlay.overlay));
    const now = this.now();
    const out: Candidate[] = [];
    for (const r of records) {
      const v = r.value as ServiceValue & { capacity?: unknown; load?: unknown };
      if (r.type !== 'service' || r.expires <= now || v.user !== RELAY_SERVICE || !verifyRecord(r)) continue;
      const address = parseTurnAddress(v.url);
      if (!address || `${address.address}:${address.port}` === own || v.headroom <= 0) continue;
      out.push({
        address,
        source: 'overlay',
        contact: v.contact,
        owner: r.owner,
        headroom: v.headroom,
        ...(typeof v.capacity === 'number' ? { capacity: v.capacity } : {}),
        ...(typeof v.load === 'number' ? { load: v.load } : {}),
      });
    }
    return out;
  }

  private async measure(to: { address: string; port: number }): Promise<number | undefined> {
    if (this.options.udpWorks()) {
      const outcome = await this.stun!.binding(to);
      return outcome.ok ? outcome.answer.rttMs : undefined;
    }
    return tcpConnectMs(to, TCP_CONNECT_TIMEOUT_MS);
  }

  private async askCredentials(c: Candidate): Promise<CredentialGrant | undefined> {
    const identity = this.options.identity();
    if (!identity) return undefined;
    const request = signCredentialRequest({ aor: identity.aor, member: `${c.address.address}:${c.address.port}`, at: this.now() }, identity.rawPublicKey, identity.privateKey);
    const outcome = await this.options.stack.request({ method: 'MESSAGE', to: c.contact, from: identity.aor, contentType: RELAY_CONTENT_TYPE, body: JSON.stringify(request), timeoutMs: 4_000 });
    if (outcome.kind !== 'final' || outcome.response.status !== 200) {
      c.note = outcome.kind === 'final' ? `refused: ${outcome.response.status} ${outcome.response.reason}` : 'no answer to our credential request';
      return undefined;
    }
    const grant = decodeCredentialGrant(decodeBody(outcome.response.content));
    if (!grant) c.note = 'its answer was not a credential';
    return grant;
  }
}

/**
 * The ranking: round trip in 5 ms steps (closer than that is the same), times how full the
 * relay is (1 when idle, 2 when its allocations would fill its capacity).
 */
function score(c: Candidate): number {
  const rtt = Math.ceil((c.rttMs ?? 1000) / 5) * 5;
  const calls = c.capacity ? Math.max(1, (c.capacity * 1000) / 200) : 50;
  return rtt * (1 + Math.min(1, (c.load ?? 0) / calls)) - (c.headroom ?? 0) / 1e6;
}

function nextRenewal(candidates: Candidate[], now: number): number {
  const expiries = candidates.map((c) => c.grant?.expires).filter((e): e is number => e !== undefined);
  if (expiries.length === 0) return REFRESH_MS;
  return Math.max(5_000, Math.min(...expiries) - RENEW_BEFORE_MS - now);
}

/** turn:HOST:PORT?transport=... as a relay advertises it. */
function parseTurnAddress(url: string): { address: string; port: number } | undefined {
  const match = /^turn:(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})(?:\?.*)?$/.exec(url);
  if (!match) return undefined;
  const address = match[1].replace(/^\[|\]$/g, '');
  const port = Number(match[2]);
  return isIP(address) && port > 0 && port < 65536 ? { address, port } : undefined;
}
