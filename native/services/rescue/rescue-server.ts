// "Help rescue sites": the volunteer side of DotSlash. While enabled, this node advertises
// itself as a rescue server (a service record in the overlay, a TXT entry in mDNS), answers
// origins' signed SOS requests within the user's donation, serves their redirected users
// through the caching proxy, reports its load to each origin every few seconds (lowering the
// allowed rate, or shutting down, when its own load or caps require), and stops at once when
// switched off: every origin is told to stop redirecting, and users who still arrive are sent
// back to the site.
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { DailyVolume, TokenBucket } from '../../proto/rescue/token-bucket.js';
import { serviceKey, serviceSlot, signRecord, type ServiceValue, type UnsignedRecord } from '../../wire/overlay/record.js';
import { decodeDsrp, DSRP_CONTENT_TYPE, encodeDsrp, signDsrp, type AcceptMessage, type DsrpMessage, type LoadMessage, type RejectMessage, type ShutdownMessage, type SosMessage } from '../../wire/rescue/dsrp.js';
import { HttpFetcher, listenHttps, type HttpListener } from '../../transport/http.js';
import { listenHttpWithFastLane } from '../../transport/http-fast-lane.js';
import { decodeBody } from '../../wire/sip/message.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { UserError } from '../errors.js';
import type { OverlayService } from '../overlay/index.js';
import { RescueCache } from './rescue-cache.js';
import { RescueProxy } from './rescue-proxy.js';
import { RescueSession } from './rescue-session.js';
import { RescueTrust } from './rescue-trust.js';
import type { RescueSample, RescueSettings, RescueView } from './rescue-view.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

export const RESCUE_SERVICE = 'rescue';
export const DEFAULT_RESCUE_SETTINGS: RescueSettings = { enabled: false, donateMbit: 5, donateGbPerDay: 10, cacheMb: 500 };
export const RESCUE_LIMITS = {
  donateMbit: [0.1, 10_000],
  donateGbPerDay: [0.1, 100_000],
  cacheMb: [10, 1_000_000],
} as const;

const SETTINGS_KEY = 'rescue.settings';
const VOLUME_KEY = 'rescue.volume';
/** Sites helped at once, at most. */
const MAX_SITES = 8;
/** How long an ended rescue still sends its users back to the site (instead of a 404). */
const ENDED_GRACE_MS = 10 * 60_000;
/** Load reports an origin may leave unanswered in a row before the rescue ends. */
const MAX_MISSED_REPORTS = 3;
const ADVERT_TTL_MS = 3 * 60_000;
/**
 * The donation is what crosses the volunteer's link: TCP/IP and Ethernet framing add about 66
 * bytes to each 1448-byte segment, so paced bytes count 5% more than the HTTP bytes sent.
 */
const WIRE_OVERHEAD = 1.05;
/** The share of the donation origins may count on; the rest absorbs bursts and large responses. */
const ALLOWED_SHARE = 0.75;
/**
 * The share an origin may use when every rescuer's allowance is spent (its own link would carry
 * the rest, and it is the one that breaks first): the pacing holds the donation in any case, and
 * 5% is left for the error in the mean response size.
 */
const MAX_SHARE = 0.95;

export interface RescueServerOptions {
  stack: SipStack;
  overlay: OverlayService;
  settings: SettingsRepository;
  /** This node's key: the rescue server signs DSRP and its advertisement with it. */
  nodeKey(): Promise<{ publicKey: Buffer; privateKey: Buffer }>;
  dataDir: string;
  /** Address the HTTP server listens on, and the address written into its URL. */
  bind: string;
  advertisedHost: string;
  /** HTTP port; undefined = any free port. */
  port?: number;
  /** HTTPS port for trusted rescue; undefined = any free port. */
  httpsPort?: number;
  /** The URL origins redirect to, when it is not http://ADVERTISED-HOST:PORT (a port forward, a proxy). */
  publicUrl?: string;
  /** Settings from the command line: applied and kept at start. */
  initial?: Partial<RescueSettings>;
  /** Puts this node's rescue URL into its mDNS advertisement (undefined removes it). */
  advertiseOnLan?(url: string | undefined): void;
  timers: TimerHost;
  log: Logger;
  onChange(view: RescueView): void;
  now?: () => number;
  /** How often each origin gets a load report (default 2 s). */
  loadReportMs?: number;
  /** How often the overlay advertisement is stored again (default 60 s). */
  advertiseMs?: number;
}

export class RescueServer {
  private settings: RescueSettings = { ...DEFAULT_RESCUE_SETTINGS };
  private readonly sessions = new Map<string, RescueSession>();
  private http?: HttpListener;
  /** Trusted rescue: HTTPS under the rescue host names sites gave this node (rescue-trust.ts). */
  private https?: HttpListener;
  readonly trust: RescueTrust;
  private proxy?: RescueProxy;
  private cache?: RescueCache;
  private fetcher?: HttpFetcher;
  private bucket!: TokenBucket;
  private volume!: DailyVolume;
  private key?: { raw: Buffer; privateKey: Buffer; selfId: string };
  private tickTimer?: TimerHandle;
  private closeTimer?: TimerHandle;
  private advertisedAt = 0;
  private advertised = { overlay: false, mdns: false };
  private refused = 0;
  /** The daily volume as last kept in settings (JSON). */
  private savedVolume?: string;
  /** Kept across the proxy's restarts (it is made anew each time the volunteer switches on). */
  private peerFillsBefore = 0;
  private refusedHostsBefore = 0;
  private readonly samples: RescueSample[] = [];
  private second = { bytes: 0, requests: 0 };
  private totals = { requestsServed: 0, bytesServed: 0, cacheHits: 0 };
  /** Served bytes per second, smoothed: the rescue server's own load against its donation. */
  private servedRate = 0;
  private lastReport = 0;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: RescueServerOptions) {
    this.now = options.now ?? Date.now;
    this.trust = new RescueTrust({ purge: (id, prefixes) => this.proxy?.purge(id, prefixes) ?? Promise.resolve(0), now: this.now });
  }

  /** https://ADVERTISED-HOST:PORT: a trusted site's users reach it by the rescue host name instead. */
  get httpsUrl(): string | undefined {
    return this.https && `https://${hostForUrl(this.options.advertisedHost)}:${this.https.port}`;
  }

  get httpUrl(): string | undefined {
    if (!this.http) return undefined;
    return this.options.publicUrl ?? `http://${hostForUrl(this.options.advertisedHost)}:${this.http.port}`;
  }

  async start(): Promise<void> {
    this.stopped = false;
    const saved = (await this.options.settings.get<RescueSettings>(SETTINGS_KEY)) ?? {};
    this.settings = checkSettings({ ...DEFAULT_RESCUE_SETTINGS, ...saved, ...(this.options.initial ?? {}) });
    if (this.options.initial) await this.options.settings.set(SETTINGS_KEY, this.settings);
    const kept = await this.options.settings.get<{ day: string; used: number }>(VOLUME_KEY);
    this.volume = new DailyVolume({ capBytes: gb(this.settings.donateGbPerDay), ...(kept ?? {}) });
    this.bucket = new TokenBucket({ bytesPerSecond: mbit(this.settings.donateMbit), burstBytes: mbit(this.settings.donateMbit) / 4, now: this.now() });
    const { publicKey, privateKey } = await this.options.nodeKey();
    const raw = publicKey.subarray(publicKey.length - 32);
    this.key = { raw, privateKey, selfId: serviceSlot(raw.toString('base64url')).slice(0, 16) };
    if (this.settings.enabled) await this.open();
    this.tickTimer = this.options.timers.set(1_000, () => this.tick());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) this.options.timers.clear(this.tickTimer);
    if (this.closeTimer) this.options.timers.clear(this.closeTimer);
    await Promise.all([...this.active()].map((s) => this.endSession(s, 'this node stopped', true)));
    await this.close();
    await this.saveVolume();
  }

  view(): RescueView {
    const requests = this.totals.requestsServed;
    return {
      settings: { ...this.settings },
      state: !this.settings.enabled ? 'off' : [...this.active()].length ? 'rescue' : 'normal',
      ...(this.settings.enabled && this.httpUrl ? { httpUrl: this.httpUrl } : {}),
      ...(this.key ? { nodeKey: this.key.raw.toString('base64url') } : {}),
      advertised: { ...this.advertised },
      sites: [...this.sessions.values()].map((s) => s.view()).sort((a, b) => b.startedAt - a.startedAt),
      totals: {
        ...this.totals,
        hitRatio: requests ? this.totals.cacheHits / requests : 0,
        bytesToday: this.volume?.used(this.now()) ?? 0,
        cacheBytes: this.cache?.bytes ?? 0,
        refused: this.refused,
        filledFromPeers: this.filledFromPeers,
        refusedHosts: this.refusedHosts,
      },
      samples: [...this.samples],
    };
  }

  /** `rescue.configure`: each field optional; off ends every rescue gracefully at once. */
  async configure(change: Partial<RescueSettings>): Promise<RescueView> {
    const next = checkSettings({ ...this.settings, ...change });
    const was = this.settings;
    this.settings = next;
    await this.options.settings.set(SETTINGS_KEY, next);
    this.volume.setCap(gb(next.donateGbPerDay));
    this.bucket.setRate(mbit(next.donateMbit), mbit(next.donateMbit) / 4, this.now());
    if (next.cacheMb !== was.cacheMb) await this.cache?.setMaxBytes(next.cacheMb * 1e6);
    if (next.enabled && !was.enabled) await this.open();
    else if (!next.enabled && was.enabled) await this.switchOff();
    else if (next.enabled) {
      this.advertisedAt = 0;
      this.reallocate();
    }
    this.changed();
    return this.view();
  }

  /** SIP MESSAGE bodies of DSRP: true when it was one (answered here). */
  onMessage(incoming: IncomingRequest): boolean {
    const type = String(incoming.request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== DSRP_CONTENT_TYPE) return false;
    const body = decodeBody(incoming.request.content);
    const decoded = decodeDsrp(body, this.now());
    if (!decoded.ok) {
      this.refused++;
      const claimed = claimedPurge(body);
      if (claimed) this.trust.countRefused(claimed.origin);
      this.options.log.debug('DSRP message refused', { reason: decoded.reason, from: incoming.remote.address });
      incoming.respond(400, { reason: `Bad Request (${decoded.reason})` });
      return true;
    }
    const message = decoded.message;
    if (message.type === 'sos') {
      const answer = this.answerSos(message);
      incoming.respond(200, { headers: { 'Content-Type': DSRP_CONTENT_TYPE }, body: encodeDsrp(answer) });
      this.changed();
      return true;
    }
    const session = this.sessions.get(message.origin);
    // ---- trusted rescue (rescue-trust.ts)
    if (message.type === 'trust' || message.type === 'purge') {
      const answer = message.type === 'trust' ? Promise.resolve(this.trust.onTrust(message, session)) : this.trust.onPurge(message);
      void answer.then((a) => {
        if (a.status !== 200) this.options.log.info(`DSRP ${message.type} refused`, { origin: message.origin, reason: a.reason });
        incoming.respond(a.status, a.status === 200 ? {} : { reason: a.reason });
        this.changed();
      });
      return true;
    }
    if (message.type === 'release' && session && session.originKey === message.key) {
      void this.endSession(session, 'released by the site', false);
      incoming.respond(200);
      return true;
    }
    incoming.respond(481, { reason: 'No such rescue' });
    return true;
  }

  // ---- SOS

  private answerSos(sos: SosMessage): AcceptMessage | RejectMessage {
    const reject = (reason: string): RejectMessage => {
      this.refused++;
      this.options.log.info('SOS refused', { site: sos.site, reason });
      return this.sign<RejectMessage>({ type: 'reject', origin: sos.origin, at: this.now(), reason });
    };
    if (!this.settings.enabled || !this.http) return reject('not helping rescue sites now');
    const now = this.now();
    if (this.volume.exceeded(now)) return reject('daily volume reached');
    const existing = this.sessions.get(sos.origin);
    if (existing && existing.state === 'active' && existing.originKey !== sos.key) return reject('another key rescues this origin ID');
    // DNS round robin: a host name is served for one site only.
    const taken = (sos.hosts ?? []).find((h) => [...this.active()].some((s) => s.originId !== sos.origin && s.hosts.includes(h)));
    if (taken) return reject(`another site is served under ${taken} here`);
    if (!existing || existing.state === 'ended') {
      if ([...this.active()].length >= MAX_SITES) return reject('helping too many sites already');
      if (this.servedRate > 0.9 * mbit(this.settings.donateMbit)) return reject('no spare bandwidth');
      const session = new RescueSession(sos, now);
      this.sessions.set(sos.origin, session);
      this.options.log.info('rescuing a site', { site: sos.site, origin: sos.origin });
    } else {
      existing.sos = sos;
    }
    this.reallocate();
    const session = this.sessions.get(sos.origin)!;
    const tls = this.trust.acceptTls(this.httpsUrl);
    return this.sign<AcceptMessage>({ type: 'accept', origin: sos.origin, at: now, http: this.httpUrl!, allowedRps: session.allowedRps, maxRps: session.maxRps, ...(tls ? { tls } : {}) });
  }

  /**
   * Shares the donation among the sites helped: each gets a rate its mean response size fits in
   * at 75% of the donation, so the link is not saturated in the usual case (at 90% and more, a
   * large response waits behind others long enough to break a second), and up to 95% for
   * when the origin has no other place for its users but its own, fuller, link.
   */
  private reallocate(): void {
    const active = [...this.active()];
    if (!active.length) return;
    const rps = (share: number, s: RescueSession) => Math.max(1, Math.round(((mbit(this.settings.donateMbit) * share) / active.length / (s.meanBytes * WIRE_OVERHEAD)) * 10) / 10);
    for (const s of active) {
      s.allowedRps = rps(ALLOWED_SHARE, s);
      s.maxRps = Math.max(s.allowedRps, rps(MAX_SHARE, s));
    }
  }

  // ---- the per-second tick: samples, load reports, caps, advertisement

  private tick(): void {
    if (this.stopped) return;
    const now = this.now();
    this.samples.push({ at: now, bytes: this.second.bytes, requests: this.second.requests });
    if (this.samples.length > 120) this.samples.shift();
    this.servedRate = 0.5 * this.servedRate + 0.5 * this.second.bytes;
    const busy = this.second.requests > 0 || [...this.active()].length > 0;
    this.second = { bytes: 0, requests: 0 };
    if (this.volume.exceeded(now)) for (const s of this.active()) void this.endSession(s, 'daily volume reached', true);
    for (const [id, s] of this.sessions) if (s.state === 'ended' && now - (s.endedAt ?? now) > ENDED_GRACE_MS) this.sessions.delete(id);
    if (now - this.lastReport >= (this.options.loadReportMs ?? 2_000)) {
      this.lastReport = now;
      this.reallocate();
      for (const s of this.active()) void this.report(s);
      void this.saveVolume();
    }
    if (this.settings.enabled && this.http && now - this.advertisedAt >= (this.advertised.overlay ? (this.options.advertiseMs ?? 60_000) : 10_000)) {
      this.advertisedAt = now;
      void this.advertise();
    }
    if (busy) this.changed();
    this.tickTimer = this.options.timers.set(1_000, () => this.tick());
  }

  private async report(session: RescueSession): Promise<void> {
    const load: LoadMessage = this.sign<LoadMessage>({
      type: 'load',
      origin: session.originId,
      at: this.now(),
      allowedRps: session.allowedRps,
      maxRps: session.maxRps,
      load: this.servedRate / mbit(this.settings.donateMbit),
      served: session.servedSinceReport,
      hits: session.hitsSinceReport,
      ...(session.hosts.length ? { byName: session.byNameSinceReport } : {}),
      refusedHosts: this.refusedHostsSince(session),
      ...this.trust.report(session.originId),
    });
    session.servedSinceReport = 0;
    session.hitsSinceReport = 0;
    session.byNameSinceReport = 0;
    const outcome = await this.send(session, load);
    if (outcome === 200) session.missedReports = 0;
    else if (outcome === 481 || outcome === 404 || ++session.missedReports >= MAX_MISSED_REPORTS) {
      await this.endSession(session, outcome === 481 || outcome === 404 ? 'the site ended the rescue' : 'the site stopped answering', false);
    }
  }

  private async endSession(session: RescueSession, reason: string, tellOrigin: boolean): Promise<void> {
    if (session.state === 'ended') return;
    session.end(reason, this.now());
    this.trust.end(session.originId);
    this.options.log.info('rescue ended', { site: session.sos.site, reason });
    this.reallocate();
    this.changed();
    if (tellOrigin) await this.send(session, this.sign<ShutdownMessage>({ type: 'shutdown', origin: session.originId, at: this.now(), reason }));
  }

  /** Sends a DSRP message to the origin; resolves with the final status (0 when none came). */
  private async send(session: RescueSession, message: DsrpMessage): Promise<number> {
    const outcome = await this.options.stack.request({
      method: 'MESSAGE',
      to: session.sos.sip,
      from: `sip:rescue@${hostForUrl(this.options.stack.host)}:${this.options.stack.port}`,
      contentType: DSRP_CONTENT_TYPE,
      body: encodeDsrp(message),
      timeoutMs: 4_000,
    });
    return outcome.kind === 'final' ? outcome.response.status : 0;
  }

  // ---- advertisement

  private async advertise(withdraw = false): Promise<void> {
    const key = this.key;
    const url = this.httpUrl;
    if (!key || !url) return;
    const overlay = this.options.overlay.overlay;
    const now = this.now();
    const owner = key.raw.toString('base64url');
    const headroom = withdraw ? 0 : Math.max(0, this.settings.donateMbit - (this.servedRate * 8) / 1e6);
    const value: ServiceValue = { user: RESCUE_SERVICE, overlay, contact: `sip:rescue@${hostForUrl(this.options.stack.host)}:${this.options.stack.port}`, url, headroom };
    // Withdrawn: a newer record with no headroom that lapses within seconds (records cannot be deleted).
    const record: UnsignedRecord = { type: 'service', key: serviceKey(RESCUE_SERVICE, overlay), owner, slot: serviceSlot(owner), seq: now, expires: now + (withdraw ? 5_000 : ADVERT_TTL_MS), value };
    try {
      const result = await this.options.overlay.putRecords([signRecord(record, key.privateKey)]);
      const ok = result.rejected.length === 0;
      if (!withdraw && ok !== this.advertised.overlay) {
        this.advertised.overlay = ok;
        this.changed();
      }
      if (!ok) this.options.log.warn('the overlay refused the rescue advertisement', { reason: result.rejected[0]?.reason });
    } catch (error) {
      if (!withdraw && this.advertised.overlay) {
        this.advertised.overlay = false;
        this.changed();
      }
      this.options.log.debug('could not advertise in the overlay yet', { error: String(error) });
    }
  }

  // ---- on and off

  private async open(): Promise<void> {
    if (this.closeTimer) {
      this.options.timers.clear(this.closeTimer);
      this.closeTimer = undefined;
    }
    if (!this.http) {
      this.cache = await RescueCache.open({ dir: path.join(this.options.dataDir, 'rescue-cache'), maxBytes: this.settings.cacheMb * 1e6, memoryBytes: Math.min(256e6, this.settings.cacheMb * 1e6) });
      this.fetcher = new HttpFetcher();
      this.proxy = new RescueProxy({
        cache: this.cache,
        fetcher: this.fetcher,
        session: (id) => this.sessions.get(id),
        sessionByHost: (host) => this.sessionByHost(host),
        pace: (bytes) => this.pace(bytes),
        onServed: (session, bytes, hit, byName) => this.onServed(session, bytes, hit, byName),
        selfId: this.key!.selfId,
        dynamic: { marked: (session, p) => this.trust.marked(session, p), generation: (id) => this.trust.generation(id), purgedSince: (id, g, p) => this.trust.purgedSince(id, g, p) },
        log: this.options.log,
        now: this.now,
      });
      const proxy = this.proxy;
      // Fresh cache hits in memory are answered from prebuilt bytes; the rest by node:http (http-fast-lane.ts).
      this.http = await listenHttpWithFastLane((req, res) => proxy.handle(req, res), proxy.fast, { host: this.options.bind, port: this.options.port ?? 0, what: 'Rescue' });
      this.https = await this.listenTrusted(proxy);
    }
    this.advertisedAt = 0;
    this.options.advertiseOnLan?.(this.httpUrl);
    this.advertised.mdns = Boolean(this.options.advertiseOnLan);
    void this.advertise().then(() => (this.advertisedAt = this.now()));
  }

  private async switchOff(): Promise<void> {
    await Promise.all([...this.active()].map((s) => this.endSession(s, 'switched off by the volunteer', true)));
    this.options.advertiseOnLan?.(undefined);
    this.advertised = { overlay: false, mdns: false };
    await this.advertise(true);
    // Users already redirected are sent back to their sites for a while; then the port closes.
    this.closeTimer = this.options.timers.set(60_000, () => void this.close());
  }

  private get refusedHosts(): number {
    return this.refusedHostsBefore + (this.proxy?.counters.refusedHosts ?? 0);
  }

  private get filledFromPeers(): number {
    return this.peerFillsBefore + (this.proxy?.counters.fromPeers ?? 0);
  }

  private async close(): Promise<void> {
    this.peerFillsBefore = this.filledFromPeers;
    this.refusedHostsBefore = this.refusedHosts;
    const http = this.http;
    const https = this.https;
    this.http = undefined;
    this.https = undefined;
    await Promise.all([http?.close(), https?.close()]);
    this.fetcher?.close();
    await this.cache?.close();
    this.cache = undefined;
    this.proxy = undefined;
  }

  /**
   * HTTPS for trusted rescue, on a port of its own: a name is served only with the certificate the
   * site gave for it, and only that site's rescue URLs under it (421 for any other).
   */
  private listenTrusted(proxy: RescueProxy): Promise<HttpListener> {
    return listenHttps(
      (req, res) => {
        const host = this.trust.originOfHost((req.socket as import('node:tls').TLSSocket).servername || undefined);
        const wanted = /^\/r\/([0-9a-f]{16})(\/|\?|$)/.exec(req.url ?? '')?.[1];
        if (!host || host !== wanted) {
          proxy.counters.refusedHosts++;
          res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end('This rescue host name serves only the site that gave it.\n');
          return;
        }
        return proxy.handle(req, res);
      },
      { host: this.options.bind, port: this.options.httpsPort ?? 0, what: 'Rescue HTTPS', context: (name) => this.trust.context(name) },
    );
  }

  private pace(bytes: number): number {
    return this.bucket.reserve(Math.ceil(bytes * WIRE_OVERHEAD), this.now());
  }

  private onServed(session: RescueSession, bytes: number, hit: boolean, byName: boolean): void {
    session.served(bytes, hit, byName);
    this.volume.add(bytes, this.now());
    this.second.bytes += bytes;
    this.second.requests++;
    this.totals.requestsServed++;
    this.totals.bytesServed += bytes;
    if (hit) this.totals.cacheHits++;
  }

  /** DNS round robin: the site that gave this host name, the active one first. */
  private sessionByHost(host: string): RescueSession | undefined {
    let ended: RescueSession | undefined;
    for (const s of this.sessions.values()) {
      if (!s.hosts.includes(host)) continue;
      if (s.state === 'active') return s;
      ended ??= s;
    }
    return ended;
  }

  private *active(): Iterable<RescueSession> {
    for (const s of this.sessions.values()) if (s.state === 'active') yield s;
  }

  private sign<M extends DsrpMessage>(message: Omit<M, 'sig' | 'key' | 'dsrp'>): M {
    return signDsrp<M>(message as never, this.key!.raw, this.key!.privateKey);
  }

  /** Keeps the day's count in settings, only when it changed since it was last kept (no write every 2 s of an idle node). */
  private async saveVolume(): Promise<void> {
    if (!this.volume) return;
    const snapshot = this.volume.snapshot(this.now());
    const text = JSON.stringify(snapshot);
    if (text === this.savedVolume) return;
    this.savedVolume = text;
    await this.options.settings.set(VOLUME_KEY, snapshot).catch(() => undefined);
  }

  /** Requests for a Host name no site gave, refused since this session's last report (each origin is told). */
  private refusedHostsSince(session: RescueSession): number {
    const total = this.refusedHostsBefore + (this.proxy?.counters.refusedHosts ?? 0);
    const since = total - (session.refusedHostsReported ?? total);
    session.refusedHostsReported = total;
    return Math.max(0, since);
  }

  private changed(): void {
    if (!this.stopped) this.options.onChange(this.view());
  }
}

/** The origin a DSRP body that failed its checks says it is, when it says it is a purge. */
function claimedPurge(body: string): { origin?: string } | undefined {
  try {
    const m = JSON.parse(body) as { type?: unknown; origin?: unknown } | null;
    return m && m.type === 'purge' ? { origin: typeof m.origin === 'string' ? m.origin : undefined } : undefined;
  } catch {
    return undefined;
  }
}

function checkSettings(s: RescueSettings): RescueSettings {
  if (typeof s.enabled !== 'boolean') throw new UserError('INVALID_ARGUMENT', '"enabled" must be true or false.');
  for (const [field, [lo, hi]] of Object.entries(RESCUE_LIMITS) as Array<[keyof typeof RESCUE_LIMITS, readonly [number, number]]>) {
    const v = s[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new UserError('INVALID_ARGUMENT', `${LABELS[field]} must be a number from ${lo} to ${hi} (got ${String(v)}).`);
    }
  }
  return { enabled: s.enabled, donateMbit: s.donateMbit, donateGbPerDay: s.donateGbPerDay, cacheMb: s.cacheMb };
}

const LABELS = { donateMbit: 'The upload to give (Mbit/s)', donateGbPerDay: 'The daily volume (GB)', cacheMb: 'The disk for the cache (MB)' };

const mbit = (m: number) => (m * 1e6) / 8;
const gb = (g: number) => g * 1e9;

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
