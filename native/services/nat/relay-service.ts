// "Relay calls for others": a member with a public address runs a TURN server (RFC 8656) for
// the calls of users whose NATs allow no direct path, like a rescue server gives bandwidth to
// sites. It advertises itself in the overlay (a signed `relay` service record: address,
// capacity, load), and hands out short-lived credentials only to users who prove, by a request
// signed with their identity key, that they own an overlay name. Its caps (Mbit/s, GB a day)
// are the user's.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { issueRelayCredential, parseRelayUsername } from '../../proto/nat/relay-credentials.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { serviceKey, serviceSlot, signRecord, type OverlayRecord, type ServiceValue, type UnsignedRecord } from '../../wire/overlay/record.js';
import { decodeCredentialRequest, RELAY_CONTENT_TYPE, RELAY_MAX_SKEW_MS, RELAY_VERSION, type CredentialGrant } from '../../wire/relay/credential.js';
import { decodeBody } from '../../wire/sip/message.js';
import { UserError } from '../errors.js';
import type { IncomingRequest } from '../sip/index.js';
import { TurnRelayServer } from './turn-relay-server.js';
import type { RelayServerView, RelaySettings } from './relay-view.js';

export const RELAY_SERVICE = 'relay';
export const DEFAULT_RELAY_SETTINGS: RelaySettings = { enabled: true, maxMbit: 10, maxGbPerDay: 5 };
const LIMITS = { maxMbit: [0.1, 10_000], maxGbPerDay: [0.1, 100_000] } as const;
const SETTINGS_KEY = 'relay.settings';
const REALM = 'peerdial';
/** Credentials last 10 to 20 minutes: one username per user per 10-minute window, so the per-username quota is a per-user one. */
const CREDENTIAL_WINDOW_S = 600;
/** Answered requests remembered against replay: 10,000 in 4 minutes is a flood, not users. */
const MAX_REMEMBERED_REQUESTS = 10_000;
const ADVERT_TTL_MS = 10 * 60_000;
const ADVERT_EVERY_MS = 4 * 60_000;
/** Allocations one user may hold here: a call takes one, a transfer or an ICE restart briefly two. */
const ALLOCATIONS_PER_USER = 4;
/** Allocations in all: a G.711 call is about 87 kbit/s each way with headers. */
const KBIT_PER_CALL = 100;
const RATE_WINDOW_MS = 5_000;

export interface RelayOverlay {
  readonly overlay: string;
  putRecords(records: OverlayRecord[]): Promise<{ rejected: { reason: string }[] }>;
  lookupAor(aor: string): Promise<{ owner?: string }>;
}

export interface RelayServiceOptions {
  /** Where the TURN server listens and relays from. */
  bind: string;
  /** The address others reach it at (its public address: only members without a NAT relay). */
  advertisedHost: () => string;
  /** TURN port; absent: any free one (the advertisement carries it). */
  port?: number;
  settings: SettingsRepository;
  /** --relay/--no-relay, --relay-mbit, --relay-gb-per-day: applied and kept. */
  initial?: Partial<RelaySettings>;
  overlay: RelayOverlay;
  nodeKey(): Promise<{ publicKey: Buffer; privateKey: Buffer }>;
  /** Whether this node may relay now: a ring member that others reach directly. */
  eligible(): { ok: boolean; reason: string };
  /** This node's SIP contact, for the advertisement. */
  contact(): string;
  /** Tests on one host: let relays reach loopback peers. */
  allowLoopbackPeers?: boolean;
  timers: TimerHost;
  log: Logger;
  onChange(view: RelayServerView): void;
  now?: () => number;
}

export class RelayService {
  private settings: RelaySettings = { ...DEFAULT_RELAY_SETTINGS };
  private server: TurnRelayServer | undefined;
  private readonly secret = randomBytes(32);
  private state: RelayServerView['state'] = 'off';
  private reason = 'the relay has not started';
  private advertised = false;
  private advertTimer: TimerHandle | undefined;
  private key: { raw: Buffer; privateKey: Buffer } | undefined;
  private readonly now: () => number;
  private readonly counters = { credentialsIssued: 0, credentialRequestsRefused: 0, credentialRequestsReplayed: 0 };
  /** Signatures of the requests answered, until they are too old to pass the freshness check anyway. */
  private readonly answered = new Map<string, number>();
  /** Relayed byte totals a few seconds apart, for the rate shown. */
  private samples: { at: number; bytes: number }[] = [];
  private stopped = false;
  private reconsidering: Promise<void> = Promise.resolve();

  constructor(private readonly options: RelayServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.stopped = false;
    const saved = (await this.options.settings.get<Partial<RelaySettings>>(SETTINGS_KEY)) ?? {};
    this.settings = checkSettings({ ...DEFAULT_RELAY_SETTINGS, ...saved, ...(this.options.initial ?? {}) });
    if (this.options.initial) await this.options.settings.set(SETTINGS_KEY, this.settings);
    const { publicKey, privateKey } = await this.options.nodeKey();
    this.key = { raw: publicKey.subarray(publicKey.length - 32), privateKey };
    // The TURN server starts in the background: the node's own start does not wait for it.
    void this.reconsider();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reconsidering;
    await this.close(true);
  }

  get currentSettings(): RelaySettings {
    return { ...this.settings };
  }

  /** Changes the setting or the caps (kept); the server starts, stops or takes the new caps at once. */
  async configure(change: Partial<RelaySettings>): Promise<RelayServerView> {
    this.settings = checkSettings({ ...this.settings, ...change });
    await this.options.settings.set(SETTINGS_KEY, this.settings);
    this.server?.configure(this.policy());
    await this.reconsider();
    return this.view();
  }

  /** The node's role or address changed: start or stop relaying accordingly. */
  reconsider(): Promise<void> {
    this.reconsidering = this.reconsidering.then(() => this.apply()).catch((error: unknown) => this.options.log.warn('relay: could not change state', { error: String(error) }));
    return this.reconsidering;
  }

  view(): RelayServerView {
    const stats = this.server?.stats();
    const address = this.server ? `${hostPort(this.options.advertisedHost(), this.server.address.port)}` : undefined;
    const counters: Record<string, number> = { ...this.counters };
    if (stats) for (const [k, v] of Object.entries(stats.counters)) counters[k] = v;
    return {
      state: this.state,
      reason: this.reason,
      ...(address ? { address } : {}),
      advertised: this.advertised,
      allocations: stats?.allocations ?? 0,
      bytesToday: stats ? stats.bytesToday.up + stats.bytesToday.down : 0,
      bytesTotal: stats ? stats.bytesTotal.up + stats.bytesTotal.down : 0,
      bitsPerSecond: this.rate(stats ? stats.bytesTotal.up + stats.bytesTotal.down : 0),
      counters,
    };
  }

  /** SIP MESSAGE bodies asking for relay credentials: true when it was one (answered here). */
  onMessage(incoming: IncomingRequest): boolean {
    const type = String(incoming.request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== RELAY_CONTENT_TYPE) return false;
    void this.answerCredentialRequest(incoming);
    return true;
  }

  private async answerCredentialRequest(incoming: IncomingRequest): Promise<void> {
    const refuse = (status: number, reason: string) => {
      this.counters.credentialRequestsRefused++;
      this.options.log.debug('relay: credential request refused', { reason, from: incoming.remote.address });
      incoming.respond(status, { reason });
    };
    const server = this.server;
    if (!server || this.state !== 'running') return refuse(503, 'Service Unavailable (this node does not relay now)');
    const decoded = decodeCredentialRequest(decodeBody(incoming.request.content), this.now());
    if (!decoded.ok) return refuse(400, `Bad Request (${decoded.reason})`);
    const request = decoded.request;
    if (request.member !== hostPort(this.options.advertisedHost(), server.address.port)) return refuse(403, 'Forbidden (the request names another relay)');
    // A signed request is good once: someone who overheard it gets nothing by sending it again.
    const seen = this.remember(request.sig);
    if (seen === 'busy') return refuse(503, 'Service Unavailable (too many credential requests lately)');
    if (seen === 'replayed') {
      this.counters.credentialRequestsReplayed++;
      return refuse(403, 'Forbidden (a request already answered)');
    }
    // The key must be the one the overlay holds for the user's name: only users of this overlay get credentials.
    const owner = await this.options.overlay.lookupAor(request.aor).then((found) => found.owner, () => undefined);
    if (owner !== request.key) return refuse(403, 'Forbidden (the key does not own that name in the overlay)');
    const nowMs = this.now();
    // The same username for one user all through a window: the per-username quota counts users.
    const windowEnd = (Math.floor(nowMs / 1000 / CREDENTIAL_WINDOW_S) + 2) * CREDENTIAL_WINDOW_S;
    const credential = issueRelayCredential(this.secret, identityOf(request.key), windowEnd - Math.floor(nowMs / 1000), nowMs);
    const grant: CredentialGrant = {
      relay: RELAY_VERSION,
      type: 'credential',
      username: credential.username,
      password: credential.password,
      realm: REALM,
      expires: (parseRelayUsername(credential.username)?.expiresAt ?? windowEnd) * 1000,
      address: this.options.advertisedHost(),
      port: server.address.port,
      transports: ['udp', 'tcp'],
    };
    this.counters.credentialsIssued++;
    incoming.respond(200, { headers: { 'Content-Type': RELAY_CONTENT_TYPE }, body: JSON.stringify(grant) });
  }

  /** Notes a request's signature: new, seen before, or no room left to remember it (a flood). */
  private remember(signature: string): 'new' | 'replayed' | 'busy' {
    const now = this.now();
    if (this.answered.has(signature)) return 'replayed';
    if (this.answered.size >= MAX_REMEMBERED_REQUESTS) {
      for (const [sig, forgetAt] of this.answered) if (forgetAt <= now) this.answered.delete(sig);
      if (this.answered.size >= MAX_REMEMBERED_REQUESTS) return 'busy';
    }
    // Past twice the allowed skew a request fails the freshness check: no need to remember it longer.
    this.answered.set(signature, now + 2 * RELAY_MAX_SKEW_MS);
    return 'new';
  }

  private async apply(): Promise<void> {
    if (this.stopped) return;
    const eligible = this.options.eligible();
    if (!this.settings.enabled) return this.close(true, 'off', 'Relaying for others is off.');
    if (!eligible.ok) return this.close(true, 'not-eligible', eligible.reason);
    if (this.server) return;
    const server = new TurnRelayServer();
    try {
      await server.start({
        address: this.options.bind,
        // Relayed addresses are given to peers: the public address, even when listening on all.
        relayAddress: this.options.advertisedHost(),
        port: this.options.port,
        realm: REALM,
        secret: this.secret,
        policy: this.policy(),
        software: 'Peerdial',
        log: this.options.log,
        timers: this.options.timers,
      });
    } catch (error) {
      this.state = 'failed';
      this.reason = `The relay could not start: ${(error as Error).message}`;
      this.options.log.warn('relay: could not start', { error: String(error) });
      this.changed();
      return;
    }
    this.server = server;
    this.state = 'running';
    this.reason = `Relaying calls for others, up to ${this.settings.maxMbit} Mbit/s and ${this.settings.maxGbPerDay} GB a day.`;
    this.options.log.info('relay: running', { port: server.address.port });
    this.changed();
    void this.advertise();
  }

  private async close(withdraw: boolean, state: RelayServerView['state'] = 'off', reason = 'The relay has stopped.'): Promise<void> {
    const server = this.server;
    // The withdrawal is sent while the server still says where it was, but not waited for: a slow
    // overlay must not keep the TURN sockets open past the supervisor's patience.
    if (server && withdraw && this.advertised) void this.advertise(true).catch(() => undefined);
    this.advertised = false;
    this.server = undefined;
    if (this.advertTimer) this.options.timers.clear(this.advertTimer);
    this.advertTimer = undefined;
    const changed = this.state !== state || this.reason !== reason;
    this.state = state;
    this.reason = reason;
    if (server) await server.stop();
    if (changed || server) this.changed();
  }

  private policy(): { bandwidthBitsPerSecond: number; dailyVolumeBytes: number; maxAllocations: number; maxAllocationsPerUser: number; allowedPeers?: string[] } {
    return {
      bandwidthBitsPerSecond: this.settings.maxMbit * 1e6,
      dailyVolumeBytes: this.settings.maxGbPerDay * 1e9,
      // Each relayed call crosses the link twice (in and out): the cap over two calls' worth.
      maxAllocations: Math.max(1, Math.floor((this.settings.maxMbit * 1000) / (2 * KBIT_PER_CALL))),
      maxAllocationsPerUser: ALLOCATIONS_PER_USER,
      ...(this.options.allowLoopbackPeers ? { allowedPeers: ['127.0.0.0/8'] } : {}),
    };
  }

  /** A signed `relay` service record: where, how much spare bandwidth, how many allocations now. */
  private async advertise(withdraw = false): Promise<void> {
    const server = this.server;
    const key = this.key;
    if (!server || !key) return;
    if (this.advertTimer) this.options.timers.clear(this.advertTimer);
    this.advertTimer = withdraw ? undefined : this.options.timers.set(ADVERT_EVERY_MS, () => void this.advertise());
    const overlay = this.options.overlay.overlay;
    const stats = server.stats();
    const now = this.now();
    const owner = key.raw.toString('base64url');
    const usedMbit = (this.rate(stats.bytesTotal.up + stats.bytesTotal.down) / 1e6);
    const value: ServiceValue & { capacity: number; load: number } = {
      user: RELAY_SERVICE,
      overlay,
      contact: this.options.contact(),
      url: `turn:${hostPort(this.options.advertisedHost(), server.address.port)}?transport=udp,tcp`,
      headroom: withdraw ? 0 : Math.max(0, round1(this.settings.maxMbit - usedMbit)),
      capacity: this.settings.maxMbit,
      load: stats.allocations,
    };
    const record: UnsignedRecord = { type: 'service', key: serviceKey(RELAY_SERVICE, overlay), owner, slot: serviceSlot(owner), seq: now, expires: now + (withdraw ? 5_000 : ADVERT_TTL_MS), value };
    try {
      const result = await this.options.overlay.putRecords([signRecord(record, key.privateKey)]);
      if (!withdraw && this.server !== server) return; // stopped meanwhile
      const ok = result.rejected.length === 0 && !withdraw;
      if (!ok && !withdraw) this.options.log.warn('relay: the overlay refused the advertisement', { reason: result.rejected[0]?.reason });
      if (ok !== this.advertised) {
        this.advertised = ok;
        this.changed();
      }
    } catch (error) {
      this.options.log.debug('relay: could not advertise yet', { error: String(error) });
      if (!withdraw && !this.stopped) {
        // The ring may not be joined yet: try again soon.
        if (this.advertTimer) this.options.timers.clear(this.advertTimer);
        this.advertTimer = this.options.timers.set(5_000, () => void this.advertise());
      }
    }
  }

  private rate(bytesTotal: number): number {
    const now = this.now();
    this.samples.push({ at: now, bytes: bytesTotal });
    while (this.samples.length > 2 && now - this.samples[1].at >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const span = now - first.at;
    return span > 0 ? Math.round(((bytesTotal - first.bytes) * 8 * 1000) / span) : 0;
  }

  private changed(): void {
    this.options.onChange(this.view());
  }
}

/** A user's name in relay usernames: 16 hex digits of their key's SHA-1 slot. */
function identityOf(rawKeyBase64Url: string): string {
  return serviceSlot(rawKeyBase64Url).slice(0, 16);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function checkSettings(s: RelaySettings): RelaySettings {
  if (typeof s.enabled !== 'boolean') throw new UserError('INVALID_ARGUMENT', '"enabled" must be true or false.');
  for (const [field, [lo, hi]] of Object.entries(LIMITS) as [keyof typeof LIMITS, readonly [number, number]][]) {
    const v = s[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new UserError('INVALID_ARGUMENT', `${field === 'maxMbit' ? 'The bandwidth to give (Mbit/s)' : 'The daily volume (GB)'} must be a number from ${lo} to ${hi} (got ${String(v)}).`);
    }
  }
  return { enabled: s.enabled, maxMbit: s.maxMbit, maxGbPerDay: s.maxGbPerDay };
}
