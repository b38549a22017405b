// `peerdial origin`: the web-site side of DotSlash, in front of an existing web server. In
// normal times it passes every request through. Once a second it samples its load (egress
// against the configured capacity, CPU, upstream latency) and runs the control rule; in SOS it
// redirects GET/HEAD of resources it has seen to be cacheable to rescue servers with probability
// p (302 to RESCUER/r/ORIGIN-ID/PATH), serves rescue servers' own fetches signed (RFC 9530
// Content-Digest, RFC 9421), spot-checks them, and releases them when the spike is over.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Logger } from '../../log.js';
import { LoadMonitor, type LoadFigure } from '../../proto/rescue/load-monitor.js';
import { RedirectController, type ControllerConfig } from '../../proto/rescue/redirect-controller.js';
import { isStorable } from '../../proto/rescue/http-cache-policy.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { MAX_RESCUE_OBJECT_BYTES, RESCUER_HEADER } from '../../wire/rescue/dsrp.js';
import { contentDigest, signResponse } from '../../wire/rescue/http-signature.js';
import { cpuMeter, flatHeaders, HttpFetcher, listenHttp, listenHttps, type HttpListener } from '../../transport/http.js';
import { createSecureContext } from 'node:tls';
import type { OverlayService } from '../overlay/index.js';
import { RescuerPool, type RescuerCandidate } from './origin-rescuers.js';
import { renderOriginStatusPage } from './origin-status-page.js';
import { DnsRoundRobin, type DnsRoundRobinOptions } from './dns-round-robin.js';
import { OriginTrust, type TrustOptions } from './origin-trust.js';
import { MarkedAnswers } from './origin-marked-cache.js';
import type { OriginView } from '../rescue/index.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

export interface OriginOptions {
  /** The web server behind: http://HOST:PORT. */
  upstream: string;
  listen: { host: string; port: number };
  /** Where the status page listens (127.0.0.1, any port by default). */
  statusListen: { host: string; port: number };
  /** The site's public URL (default: http://LISTEN-HOST:PORT/). */
  site?: string;
  /** The address rescue servers fetch from (default: the listen address, or the advertised host when it listens on all). */
  advertisedHost: string;
  capacityBytesPerSecond: number;
  band: { low: number; high: number };
  stack: SipStack;
  overlay?: OverlayService;
  /** Rescuers' SIP addresses given with --rescuer. */
  rescuers: string[];
  lanCandidates?(): RescuerCandidate[];
  key: { raw: Buffer; privateKey: Buffer };
  originId: string;
  timers: TimerHost;
  log: Logger;
  now?: () => number;
  controller?: Partial<ControllerConfig>;
  /** DNS round robin (`--dns-update`): rescuers' addresses go into the site's name too. */
  dns?: OriginDnsOptions;
  /** Trusted rescue (origin-trust.ts): pinned rescuers, the CA, marked API paths. */
  trust?: TrustOptions;
  /** HTTPS for the site's users beside the plain front (the site's own certificate; rescuers still fetch from the plain front). */
  tls?: { listen: { host: string; port: number }; certPem: string; keyPem: string };
}

/** What `--dns-update` and its flags give; the port is the site's. */
export type OriginDnsOptions = Pick<DnsRoundRobinOptions, 'server' | 'key' | 'zone' | 'name' | 'ttl' | 'statePath' | 'retryMs' | 'send'>;

/** Paths seen cacheable, with their size; bounded (oldest out first). */
const MAX_KNOWN_PATHS = 20_000;

export class OriginService {
  private front?: HttpListener;
  private tlsFront?: HttpListener;
  readonly trust?: OriginTrust;
  private readonly marked: MarkedAnswers;
  private status?: HttpListener;
  private readonly upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
  private readonly fetcher = new HttpFetcher();
  private readonly monitor: LoadMonitor;
  private readonly controller: RedirectController;
  readonly pool: RescuerPool;
  /** DNS round robin, when configured. */
  readonly dns?: DnsRoundRobin;
  private readonly signingKey: KeyObject;
  private readonly cacheable = new Map<string, number>();
  private readonly cpu = cpuMeter();
  private tickTimer?: TimerHandle;
  private lastTick = 0;
  /** demand: bytes the requests taken in need (load-monitor.ts): a known path's size, else the mean. */
  private second = { requests: 0, redirectable: 0, egress: 0, demand: 0, latencyMs: 0, upstream: 0 };
  private redirectableRps = 0;
  private meanBytes = 30_000;
  /** Mean size of every response passed through (cacheable or not): a request's demand when its path's size is unknown. */
  private responseMean = 0;
  private figure: LoadFigure = { load: 0, egressLoad: 0, demandLoad: 0, cpuLoad: 0, latencyLoad: 0, requestsPerSecond: 0, egressBytesPerSecond: 0 };
  private lastCpu = 0;
  private lastLatency = 0;
  private readonly totals = { requests: 0, redirected: 0, served: 0, upstreamErrors: 0 };
  private readonly log: Array<{ at: number; text: string }> = [];
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: OriginOptions) {
    this.now = options.now ?? Date.now;
    this.marked = new MarkedAnswers(this.now);
    this.monitor = new LoadMonitor({ capacityBytesPerSecond: options.capacityBytesPerSecond });
    this.controller = new RedirectController({ ...options.controller, low: options.band.low, high: options.band.high });
    this.signingKey = createPrivateKey({ key: options.key.privateKey, format: 'der', type: 'pkcs8' });
    this.pool = new RescuerPool({
      stack: options.stack,
      overlay: options.overlay,
      configured: options.rescuers,
      lanCandidates: options.lanCandidates,
      key: options.key,
      originId: options.originId,
      sos: () => ({
        site: this.site,
        upstream: this.upstreamForRescuers,
        sip: this.sipContact,
        wantRps: Math.max(1, Math.round(this.redirectableRps)),
        meanBytes: Math.max(1, Math.round(this.meanBytes)),
        ...(this.dns ? { hosts: [this.dns.name] } : {}),
      }),
      fetcher: this.fetcher,
      log: options.log,
      onEvent: (text) => this.event(text),
      now: this.now,
      trust: options.trust && {
        accepted: (accept) => this.trust?.accepted(accept),
        load: (report) => this.trust?.load(report),
        retired: (key) => this.trust?.retired(key),
        askable: (key) => !this.httpsSite || Boolean(this.trust?.pinned(key)),
      },
    });
    if (options.dns) {
      this.dns = new DnsRoundRobin({
        ...options.dns,
        sitePort: () => sitePort(this.options.site, this.front?.port ?? this.options.listen.port),
        timers: options.timers,
        log: options.log,
        onEvent: (text) => this.event(text),
        now: this.now,
      });
    }
    if (options.trust) {
      this.trust = new OriginTrust(options.trust, {
        originId: options.originId,
        key: options.key,
        send: (key, message) => this.pool.sendTo(key, message),
        drop: (key, reason) => this.pool.drop(key, reason),
        onEvent: (text) => this.event(text),
        log: options.log,
        now: this.now,
      });
    }
  }

  /** An HTTPS site's users are never sent to a volunteer's plain HTTP: only to trusted rescuers under the site's domain. */
  get httpsSite(): boolean {
    return Boolean(this.options.tls) || /^https:/i.test(this.options.site ?? '');
  }

  /** Where the site's users reach it over HTTPS (with --tls-cert). */
  get tlsUrl(): string | undefined {
    return this.tlsFront && `https://${hostForUrl(this.tlsFront.host === '0.0.0.0' ? this.options.advertisedHost : this.tlsFront.host)}:${this.tlsFront.port}/`;
  }

  get site(): string {
    return this.options.site ?? `http://${hostForUrl(this.options.listen.host === '0.0.0.0' ? this.options.advertisedHost : this.options.listen.host)}:${this.front?.port ?? this.options.listen.port}/`;
  }
  get statusUrl(): string | undefined {
    return this.status && `http://${hostForUrl(this.status.host)}:${this.status.port}/`;
  }
  get sipContact(): string {
    return `sip:origin@${hostForUrl(this.options.stack.host)}:${this.options.stack.port}`;
  }
  /** Where rescue servers fetch from: this front, by an address they can reach. */
  private get upstreamForRescuers(): string {
    const host = this.options.listen.host === '0.0.0.0' || this.options.listen.host === '::' ? this.options.advertisedHost : this.options.listen.host;
    return `http://${hostForUrl(host)}:${this.front!.port}/`;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.options.stack.handle('MESSAGE', (incoming) => this.onMessage(incoming));
    this.front = await listenHttp((req, res) => this.handle(req, res), { ...this.options.listen, what: 'Listen' });
    this.status = await listenHttp((req, res) => this.serveStatus(req, res), { ...this.options.statusListen, what: 'Status' });
    if (this.options.tls) {
      const context = createSecureContext({ cert: this.options.tls.certPem, key: this.options.tls.keyPem });
      this.tlsFront = await listenHttps((req, res) => this.handle(req, res), { ...this.options.tls.listen, what: 'TLS listen', context: () => context });
    }
    this.lastTick = this.now();
    this.tickTimer = this.options.timers.set(1_000, () => this.tick());
    this.event(`normal: passing requests through to ${this.options.upstream}`);
    void this.pool.discover(true).catch(() => undefined);
    await this.dns?.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) this.options.timers.clear(this.tickTimer);
    await this.pool.release(
      this.pool.active.map((r) => r.id),
      'the site stopped',
    );
    await this.dns?.stop();
    await Promise.all([this.front?.close(), this.status?.close(), this.tlsFront?.close()]);
    this.upstreamAgent.destroy();
    this.fetcher.close();
  }

  view(): OriginView {
    return {
      originId: this.options.originId,
      state: this.controller.current,
      load: round(this.figure.load, 3),
      band: { ...this.options.band },
      redirectProbability: round(this.controller.probability, 3),
      requestsPerSecond: round(this.figure.requestsPerSecond, 1),
      egressMbps: round((this.figure.egressBytesPerSecond * 8) / 1e6, 3),
      capacityMbps: round((this.options.capacityBytesPerSecond * 8) / 1e6, 3),
      upstreamLatencyMs: round(this.lastLatency, 2),
      cpu: round(this.lastCpu, 3),
      rescuers: this.pool.views(),
      totals: {
        ...this.totals,
        spotChecks: this.pool.counters.spotChecks,
        spotCheckFailures: this.pool.counters.spotCheckFailures,
        byName: this.pool.counters.byName,
        refusedHosts: this.pool.counters.refusedHosts,
        fromReserve: this.pool.counters.fromReserve,
      },
      ...(this.dns ? { dns: this.dns.view() } : {}),
      log: [...this.log],
      ...(this.trust ? { trust: this.trust.view() } : {}),
    };
  }

  // ---- requests

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.totals.requests++;
    this.second.requests++;
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (req.headers[RESCUER_HEADER] !== undefined && method === 'GET') return this.serveRescuer(req, res, path);
    const redirectable = (method === 'GET' || method === 'HEAD') && this.cacheable.has(path) && !req.headers.authorization;
    if (redirectable) {
      this.second.redirectable++;
      if (this.controller.current === 'sos' && Math.random() < this.controller.probability) {
        // An HTTPS site, and a marked API path, go only to trusted rescuers that proved their certificate.
        const trust = this.trust;
        const onlyTrusted = this.httpsSite || Boolean(trust?.marked(path));
        const rescuer = onlyTrusted ? trust && this.pool.pick(Math.random(), (key) => trust.base(key)) : this.pool.pick(Math.random());
        if (rescuer) {
          this.totals.redirected++;
          const location = rescuer.url(this.options.originId, path);
          const head = `HTTP/1.1 302 Found\r\nLocation: ${location}\r\n`;
          res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': '0' });
          res.end();
          this.second.egress += head.length + 120;
          this.second.demand += head.length + 120;
          return;
        }
      }
    }
    this.second.demand += this.cacheable.get(path) ?? this.responseMean;
    await this.pass(req, res, path, method);
  }

  /** Streams the upstream's answer to the user, learning which resources are cacheable. */
  private pass(req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
    const started = performance.now();
    return new Promise((resolve) => {
      const headers = { ...req.headers, host: new URL(this.options.upstream).host };
      const up = http.request(new URL(path, this.options.upstream), { method, headers, agent: this.upstreamAgent }, (upRes) => {
        this.second.latencyMs += performance.now() - started;
        this.second.upstream++;
        const status = upRes.statusCode ?? 502;
        const resHeaders = flatHeaders(upRes);
        const purges = this.trust ? this.purgesFor(method, path, status, resHeaders) : [];
        if (purges.length) {
          // The purge reaches every trusted rescuer before the writer hears back: it reads its own write.
          void this.passAfterPurge(upRes, res, status, purges).then(() => {
            this.totals.served++;
            resolve();
          });
          return;
        }
        res.writeHead(status, endToEnd(upRes.rawHeaders));
        let size = 0;
        upRes.on('data', (chunk: Buffer) => {
          size += chunk.length;
          this.second.egress += chunk.length;
        });
        upRes.pipe(res);
        upRes.on('end', () => {
          this.responseMean = this.responseMean ? 0.95 * this.responseMean + 0.05 * size : size;
          // Learnt once the whole body passed: a chunked (dynamic) response has no length before.
          this.learn(path, method, status, req, resHeaders, size);
          this.totals.served++;
          resolve();
        });
        upRes.on('error', () => resolve());
      });
      up.on('error', (error) => {
        this.totals.upstreamErrors++;
        this.options.log.warn('upstream failed', { path, error: error.message });
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('The web server behind this site did not answer.\n');
        resolve();
      });
      req.pipe(up);
    });
  }

  // ---- trusted rescue: purges (origin-trust.ts)

  /**
   * What a response invalidates at trusted rescuers: a successful write (not GET, HEAD or OPTIONS)
   * to a marked path purges that path with every query of it, and the web server may name more
   * prefixes in a `Peerdial-Purge` response header (comma-separated), e.g. the list pages an
   * edit changes.
   */
  private purgesFor(method: string, path: string, status: number, headers: Record<string, string>): string[] {
    const out = new Set<string>();
    if (status < 400 && !['GET', 'HEAD', 'OPTIONS'].includes(method) && this.trust!.marked(path)) out.add(path.split('?')[0]);
    for (const item of (headers[PURGE_HEADER] ?? '').split(',')) {
      const prefix = item.trim();
      if (prefix.startsWith('/') && prefix.length <= 512 && !/[\s#]/.test(prefix)) out.add(prefix);
    }
    return [...out].slice(0, 64);
  }

  private async passAfterPurge(upRes: IncomingMessage, res: ServerResponse, status: number, purges: string[]): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of upRes) chunks.push(chunk as Buffer);
    } catch {
      // The body broke off: the purge still goes out, the user gets what came.
    }
    await this.purge(purges);
    const body = Buffer.concat(chunks);
    const headers = endToEnd(upRes.rawHeaders.map((v, i) => (i % 2 === 0 && v.toLowerCase() === PURGE_HEADER ? 'x-peerdial-purged' : v)));
    res.writeHead(status, headers);
    res.end(body);
    this.second.egress += body.length;
  }

  /** Purges `prefixes` at every trusted rescuer (the status page's POST /purge, writes, the web server's header). */
  async purge(prefixes: string[]): Promise<{ sent: number; dropped: number }> {
    if (!this.trust) return { sent: 0, dropped: 0 };
    this.marked.purge(prefixes);
    const result = await this.trust.purge(prefixes);
    this.options.log.debug('purged at trusted rescuers', { prefixes, ...result });
    return result;
  }

  private learn(path: string, method: string, status: number, req: IncomingMessage, headers: Record<string, string>, size: number): void {
    if (method !== 'GET') return;
    const storable = status === 200 && isStorable('GET', status, { authorization: req.headers.authorization }, headers) && size <= MAX_RESCUE_OBJECT_BYTES;
    if (!storable) {
      this.cacheable.delete(path);
      return;
    }
    if (!this.cacheable.has(path) && this.cacheable.size >= MAX_KNOWN_PATHS) this.cacheable.delete(this.cacheable.keys().next().value!);
    this.cacheable.set(path, size);
    this.meanBytes = 0.95 * this.meanBytes + 0.05 * size;
  }

  /** A rescue server's fetch: the whole response, signed, and never redirected. */
  private async serveRescuer(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    this.second.demand += (this.cacheable.get(path) ?? this.responseMean) + 400;
    const headers: Record<string, string> = {};
    for (const name of ['if-none-match', 'if-modified-since', 'accept', 'accept-language']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const started = performance.now();
    let upstream;
    try {
      const fetchUpstream = () => this.fetcher.fetch(new URL(path, this.options.upstream).toString(), { headers, maxBytes: MAX_RESCUE_OBJECT_BYTES, timeoutMs: 15_000 });
      // A marked API answer is asked once for every trusted rescuer that misses it (origin-marked-cache.ts).
      upstream = this.trust?.marked(path) ? await this.marked.get(path, () => this.fetcher.fetch(new URL(path, this.options.upstream).toString(), { maxBytes: MAX_RESCUE_OBJECT_BYTES, timeoutMs: 15_000 })) : await fetchUpstream();
    } catch (error) {
      this.totals.upstreamErrors++;
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The web server behind this site did not answer: ${(error as Error).message}\n`);
      return;
    }
    this.second.latencyMs += performance.now() - started;
    this.second.upstream++;
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(upstream.headers)) if (!HOP_BY_HOP.has(name) && name !== 'set-cookie') out[name] = value;
    // Every response but a 304 carries the digest of its body (an empty one too), so none can be emptied on the way.
    if (upstream.status !== 304) out['content-digest'] = contentDigest(upstream.body);
    Object.assign(out, signResponse({ status: upstream.status, headers: out, requestTarget: path }, this.signingKey, this.options.originId, Math.floor(this.now() / 1000)));
    out['content-length'] = String(upstream.body.length);
    res.writeHead(upstream.status, out);
    res.end(upstream.body);
    this.second.egress += upstream.body.length + 400;
    this.totals.served++;
  }

  // ---- DSRP from rescuers

  private onMessage(incoming: IncomingRequest): void {
    if (!this.pool.onMessage(incoming)) incoming.respond(415, { headers: { accept: 'application/vnd.peerdial.dsrp+json' } });
  }

  // ---- the control loop

  private tick(): void {
    if (this.stopped) return;
    const now = this.now();
    const intervalMs = Math.max(1, now - this.lastTick);
    this.lastTick = now;
    const s = this.second;
    this.second = { requests: 0, redirectable: 0, egress: 0, demand: 0, latencyMs: 0, upstream: 0 };
    this.lastCpu = this.cpu();
    this.lastLatency = s.upstream ? s.latencyMs / s.upstream : this.lastLatency;
    this.figure = this.monitor.add({ intervalMs, requests: s.requests, egressBytes: s.egress, demandBytes: s.demand, upstreamLatencyMs: s.upstream ? s.latencyMs / s.upstream : undefined, cpu: this.lastCpu });
    this.redirectableRps = 0.5 * this.redirectableRps + 0.5 * ((s.redirectable * 1000) / intervalMs);
    this.pool.checkSilence();
    this.trust?.tick();
    this.control(now);
    if (this.controller.current === 'sos') void this.pool.spotCheck(this.samplePath(), this.dns?.working ? this.dns.name : undefined);
    else void this.pool.discover().catch(() => undefined);
    this.tickTimer = this.options.timers.set(1_000, () => this.tick());
  }

  private control(now: number): void {
    const before = this.controller.current;
    const decision = this.controller.tick({ now, ...this.withDnsLoad(), redirectableRps: this.redirectableRps, pending: this.pool.pending });
    for (const text of decision.changes) this.event(text);
    if (decision.release.length) void this.pool.release(decision.release, decision.state === 'normal' ? 'the spike is over' : 'not needed now');
    // An HTTPS site without trusted rescuers has no one to send its users to: it asks no one.
    if (decision.ask > 0 && !(this.httpsSite && !this.trust)) void this.pool.ask(decision.ask).catch((error: unknown) => this.options.log.warn('could not ask rescuers', { error: String(error) }));
    if (before !== decision.state) this.options.log.info(`origin state ${before} -> ${decision.state}`, { load: round(this.figure.load, 2) });
    void this.dns?.setRescuers(this.pool.views().filter((r) => r.state === 'active').map((r) => r.httpUrl));
  }

  // ---- DNS round robin

  /**
   * What the controller sees while users also arrive at rescuers by the site's name: the load
   * the origin would carry if those requests came to it too (so it does not release rescuers,
   * and take them out of DNS, just because DNS moved the crowd away), its own load, which is
   * what its redirects act on (it keeps its share of the users who reach it by name, as a
   * rescuer does, rather than sending them all on), and each rescuer's allowance less what it
   * serves by name (which redirects cannot use).
   */
  private withDnsLoad(): { load: number; ownLoad?: number; rescuers: Array<{ id: string; allowedRps: number; maxRps: number }> } {
    const rates = this.pool.byNameRates();
    let byNameRps = 0;
    for (const rps of rates.values()) byNameRps += rps;
    if (!this.dns || byNameRps === 0) return { load: this.figure.load, rescuers: this.pool.active };
    return {
      load: this.figure.load + (byNameRps * this.meanBytes) / this.options.capacityBytesPerSecond,
      ownLoad: this.figure.load,
      rescuers: this.pool.active.map((r) => ({ id: r.id, allowedRps: Math.max(0, r.allowedRps - (rates.get(r.id) ?? 0)), maxRps: Math.max(0, r.maxRps - (rates.get(r.id) ?? 0)) })),
    };
  }

  private samplePath(): string | undefined {
    const n = this.cacheable.size;
    if (!n) return undefined;
    let i = Math.floor(Math.random() * Math.min(n, 256));
    for (const path of this.cacheable.keys()) if (i-- <= 0) return path;
    return undefined;
  }

  private event(text: string): void {
    this.log.push({ at: this.now(), text });
    if (this.log.length > 100) this.log.shift();
    this.options.log.info(text);
  }

  /** POST /purge on the status listener (the site owner's, loopback by default): one path prefix a line. */
  private async servePurge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) {
      text += String(chunk);
      if (text.length > 64 * 1024) break;
    }
    const prefixes = text.split('\n').map((l) => l.trim()).filter(Boolean);
    const bad = prefixes.find((p) => !p.startsWith('/') || p.length > 512 || /[\s#]/.test(p));
    if (!this.trust || !prefixes.length || prefixes.length > 64 || bad !== undefined) {
      res.writeHead(this.trust ? 400 : 409, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        !this.trust
          ? 'No trusted rescuers: nothing to purge (see --trusted-rescuer).\n'
          : bad !== undefined
            ? `Not a path prefix: "${bad.slice(0, 80)}" (each line one prefix starting with /).\n`
            : 'Give 1 to 64 path prefixes, one a line.\n',
      );
      return;
    }
    const result = await this.purge(prefixes);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(result));
  }

  private serveStatus(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/purge' && req.method === 'POST') {
      void this.servePurge(req, res);
      return;
    }
    if (path === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(this.view()));
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(renderOriginStatusPage(this.view(), this.site));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not found\n');
    }
  }
}

/** The header a web server names what its response changed in (purged at trusted rescuers, never passed to users). */
export const PURGE_HEADER = 'peerdial-purge';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length']);

/** Raw header pairs without the hop-by-hop ones (RFC 9110 7.6.1): this hop frames its own. */
function endToEnd(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'content-length' || !HOP_BY_HOP.has(name)) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The port users reach the site on: --site's, else the one it listens on. */
function sitePort(site: string | undefined, listenPort: number): number {
  if (!site) return listenPort;
  const u = new URL(site);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
