// The origin's rescue servers: where to find them (service records in the overlay, mDNS,
// addresses given on the command line), which to ask first (lowest RTT, then most headroom),
// the DSRP exchanges with each (sos, release, and their load reports and shutdowns), a rate
// limit per rescuer at what it allowed, and spot checks that drop one serving altered content.
import { createHash } from 'node:crypto';
import type { Logger } from '../../log.js';
import { serviceKey, type OverlayRecord, type ServiceValue, publicKeyFromRaw } from '../../wire/overlay/record.js';
import { decodeDsrp, DSRP_CONTENT_TYPE, encodeDsrp, MAX_PEERS, rescueUrl, signDsrp, type AcceptMessage, type DsrpMessage, type LoadMessage, type ReleaseMessage, type SosMessage } from '../../wire/rescue/dsrp.js';
import { checkContentDigest, verifyResponse } from '../../wire/rescue/http-signature.js';
import { decodeBody } from '../../wire/sip/message.js';
import { chooseRescuer } from '../../proto/rescue/rescuer-choice.js';
import type { HttpFetcher } from '../../transport/http.js';
import type { OverlayService } from '../overlay/index.js';
import type { RescuerView } from '../rescue/index.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

export interface RescuerCandidate {
  /** The rescuer's SIP address (DSRP goes there). */
  sip: string;
  /** Its key, when an advertisement named it: the accept must be signed by it. */
  key?: string;
  url?: string;
  headroom?: number;
  rttMs?: number;
  via: 'overlay' | 'mdns' | 'configured';
}

interface Rescuer {
  candidate: RescuerCandidate;
  key: string;
  http: string;
  allowedRps: number;
  /** The most its donation carries (>= allowedRps): the reserve past allowedRps is used only when every allowance is spent. */
  maxRps: number;
  state: RescuerView['state'];
  reason?: string;
  redirected: number;
  lastReport: number;
  tokens: number;
  tokensAt: number;
  /** A second bucket at maxRps - allowedRps: the reserve. */
  reserveTokens: number;
  /** DNS round robin: requests it served by the site's name, in all and per second (from its last report). */
  byName: number;
  byNameRps: number;
  refusedHosts: number;
}

export interface RescuerPoolOptions {
  stack: SipStack;
  /** The overlay to find advertisements in (absent: no overlay given). */
  overlay?: OverlayService;
  /** Rescuers' SIP addresses given on the command line (HOST:PORT). */
  configured: string[];
  /** Rescuers found on the LAN by mDNS (their TXT names the rescue URL). */
  lanCandidates?(): RescuerCandidate[];
  key: { raw: Buffer; privateKey: Buffer };
  originId: string;
  /** What every SOS says of the site. */
  sos(): Pick<SosMessage, 'site' | 'upstream' | 'sip' | 'wantRps' | 'meanBytes' | 'hosts'>;
  fetcher: HttpFetcher;
  log: Logger;
  onEvent(text: string): void;
  now(): number;
  /** A rescuer that sends no load report for this long is dropped (default 10 s). */
  silenceMs?: number;
  /** Trusted rescue (origin-trust.ts): told of accepts, load reports and rescuers leaving. */
  trust?: {
    accepted(accept: AcceptMessage, sip: string): void;
    load(report: LoadMessage): void;
    retired(key: string): void;
    /** False for an advertised key the site would not send users to (an HTTPS site's unpinned volunteers). */
    askable(key: string): boolean;
  };
}

/** How long a rescuer that refused, or stopped, is not asked again. */
const COOLDOWN_MS = 60_000;

export class RescuerPool {
  private readonly rescuers = new Map<string, Rescuer>();
  private readonly asking = new Set<string>();
  /** Keys that served altered content: never asked again. */
  private readonly distrusted = new Set<string>();
  private readonly cooldown = new Map<string, number>();
  private candidates: RescuerCandidate[] = [];
  private lastDiscovery = 0;
  private spotCheckTurn = 0;
  /** fromReserve: redirects sent past a rescuer's allowance, into its reserve (every allowance was spent). */
  readonly counters = { spotChecks: 0, spotCheckFailures: 0, asked: 0, refused: 0, byName: 0, refusedHosts: 0, fromReserve: 0 };

  constructor(private readonly options: RescuerPoolOptions) {}

  get active(): Array<{ id: string; allowedRps: number; maxRps: number }> {
    return [...this.rescuers.values()].filter((r) => r.state === 'active').map((r) => ({ id: r.key, allowedRps: r.allowedRps, maxRps: r.maxRps }));
  }
  get pending(): number {
    return this.asking.size;
  }

  views(): RescuerView[] {
    return [...this.rescuers.values()].map((r) => ({
      id: fingerprint(r.key),
      httpUrl: r.http,
      sipContact: r.candidate.sip,
      allowedRps: r.allowedRps,
      ...(r.maxRps > r.allowedRps ? { maxRps: r.maxRps } : {}),
      redirected: r.redirected,
      ...(r.candidate.rttMs !== undefined ? { rttMs: Math.round(r.candidate.rttMs * 10) / 10 } : {}),
      state: r.state,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.byName ? { byName: r.byName } : {}),
      ...(r.refusedHosts ? { refusedHosts: r.refusedHosts } : {}),
    }));
  }

  /** Requests per second the active rescuers serve by the site's name (DNS round robin), by rescuer key. */
  byNameRates(): Map<string, number> {
    return new Map([...this.rescuers.values()].filter((r) => r.state === 'active').map((r) => [r.key, r.byNameRps]));
  }

  /** Refreshes the candidates: advertisements and LAN answers, each pinged for its RTT. */
  async discover(force = false): Promise<void> {
    const now = this.options.now();
    if (!force && now - this.lastDiscovery < 30_000) return;
    this.lastDiscovery = now;
    const found: RescuerCandidate[] = this.options.configured.map((hostPort) => ({ sip: `sip:rescue@${hostPort}`, via: 'configured' as const }));
    const overlay = this.options.overlay;
    if (overlay && overlay.role !== 'offline' && overlay.role !== 'joining') {
      try {
        const records = await overlay.fetchRecords(serviceKey('rescue', overlay.overlay));
        for (const r of records) if (isLiveAdvert(r, now)) found.push({ sip: (r.value as ServiceValue).contact, key: r.owner, url: (r.value as ServiceValue).url, headroom: (r.value as ServiceValue).headroom, via: 'overlay' });
      } catch (error) {
        this.options.log.debug('no rescue advertisements from the overlay', { error: String(error) });
      }
    }
    found.push(...(this.options.lanCandidates?.() ?? []));
    const unique = new Map<string, RescuerCandidate>();
    for (const c of found) if (!unique.has(c.sip)) unique.set(c.sip, c);
    await Promise.all([...unique.values()].map(async (c) => (c.rttMs = await this.ping(c.sip))));
    this.candidates = [...unique.values()].filter((c) => c.rttMs !== undefined && (c.headroom === undefined || c.headroom > 0));
    // Lowest RTT first (in 5 ms steps: closer than that is the same), then most headroom.
    this.candidates.sort((a, b) => Math.floor(a.rttMs! / 5) - Math.floor(b.rttMs! / 5) || (b.headroom ?? 0) - (a.headroom ?? 0));
  }

  /** Sends SOS to the `count` best candidates not already helping, asked, cooling down or distrusted. */
  async ask(count: number): Promise<void> {
    if (count <= 0) return;
    if (!this.candidates.length || this.available().length < count) await this.discover(true);
    for (const candidate of this.available().slice(0, count)) void this.sendSos(candidate);
  }

  private available(): RescuerCandidate[] {
    const now = this.options.now();
    const busy = new Set([...this.rescuers.values()].filter((r) => r.state === 'active').map((r) => r.candidate.sip));
    return this.candidates.filter(
      (c) => !busy.has(c.sip) && !this.asking.has(c.sip) && (this.cooldown.get(c.sip) ?? 0) <= now && !(c.key && this.distrusted.has(c.key)) && (!c.key || this.options.trust?.askable(c.key) !== false),
    );
  }

  private async sendSos(candidate: RescuerCandidate): Promise<void> {
    this.asking.add(candidate.sip);
    this.counters.asked++;
    try {
      const peers = [...this.rescuers.values()].filter((r) => r.state === 'active').map((r) => r.http).slice(0, MAX_PEERS);
      const sos = this.sign<SosMessage>({ type: 'sos', origin: this.options.originId, at: this.options.now(), ...this.options.sos(), ...(peers.length ? { peers } : {}) });
      const outcome = await this.options.stack.request({ method: 'MESSAGE', to: candidate.sip, from: this.options.sos().sip, contentType: DSRP_CONTENT_TYPE, body: encodeDsrp(sos), timeoutMs: 3_000 });
      if (outcome.kind !== 'final' || outcome.response.status !== 200) {
        this.refusedBy(candidate, outcome.kind === 'final' ? `${outcome.response.status} ${outcome.response.reason}` : outcome.kind);
        return;
      }
      const decoded = decodeDsrp(decodeBody(outcome.response.content), this.options.now());
      if (!decoded.ok || decoded.message.origin !== this.options.originId) {
        this.refusedBy(candidate, decoded.ok ? 'answer for another origin' : decoded.reason);
        return;
      }
      const answer = decoded.message;
      if (candidate.key && answer.key !== candidate.key) {
        this.refusedBy(candidate, 'answer signed by a key other than the advertised one');
        return;
      }
      if (this.distrusted.has(answer.key)) return;
      if (answer.type === 'reject') {
        this.refusedBy(candidate, answer.reason);
        return;
      }
      if (answer.type !== 'accept') {
        this.refusedBy(candidate, `unexpected ${answer.type}`);
        return;
      }
      const now = this.options.now();
      this.rescuers.set(answer.key, {
        candidate,
        key: answer.key,
        http: answer.http,
        allowedRps: answer.allowedRps,
        maxRps: Math.max(answer.allowedRps, answer.maxRps ?? 0),
        state: 'active',
        redirected: 0,
        lastReport: now,
        tokens: answer.allowedRps / 2,
        tokensAt: now,
        reserveTokens: 0,
        byName: 0,
        byNameRps: 0,
        refusedHosts: 0,
      });
      this.options.onEvent(`rescuer ${fingerprint(answer.key)} (${answer.http}) accepted: ${answer.allowedRps} requests/s`);
      this.options.trust?.accepted(answer, candidate.sip);
    } finally {
      this.asking.delete(candidate.sip);
    }
  }

  private refusedBy(candidate: RescuerCandidate, reason: string): void {
    this.counters.refused++;
    this.cooldown.set(candidate.sip, this.options.now() + COOLDOWN_MS);
    this.options.onEvent(`rescuer at ${candidate.sip} said no: ${reason}`);
  }

  /**
   * A rescuer for one redirect (rescuer-choice.ts: in proportion to what each allowed, each held
   * to it; the reserves only when every allowance is spent); undefined when none has room, and
   * the origin serves the request itself. Spreading redirects keeps every rescuer's link below
   * saturation; each rescuer's cache then warms with one fetch per resource.
   */
  pick(random: number, trusted?: (key: string) => string | undefined): { key: string; url: (originId: string, path: string) => string } | undefined {
    // Given `trusted`, only rescuers it names a base URL for (trusted, verified) take the request.
    const serving = [...this.rescuers.values()].filter((r) => r.state === 'active' && (!trusted || trusted(r.key)));
    const chosen = chooseRescuer(serving, random, this.options.now());
    if (!chosen) return undefined;
    const r = chosen.rescuer;
    r.redirected++;
    if (chosen.fromReserve) this.counters.fromReserve++;
    const base = trusted?.(r.key) ?? r.http;
    return { key: r.key, url: (originId, path) => rescueUrl(base, originId, path) };
  }

  /** DSRP from a rescuer (load reports, shutdown); true when it was DSRP. */
  onMessage(incoming: IncomingRequest): boolean {
    const type = String(incoming.request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== DSRP_CONTENT_TYPE) return false;
    const decoded = decodeDsrp(decodeBody(incoming.request.content), this.options.now());
    if (!decoded.ok) {
      incoming.respond(400, { reason: `Bad Request (${decoded.reason})` });
      return true;
    }
    const m = decoded.message;
    const rescuer = this.rescuers.get(m.key);
    if (m.origin !== this.options.originId || !rescuer || rescuer.state !== 'active') {
      // 481: the rescuer ends its side of a rescue this origin no longer counts on.
      incoming.respond(481, { reason: 'No such rescue' });
      return true;
    }
    if (m.type === 'load') {
      const now = this.options.now();
      const seconds = Math.max(1, (now - rescuer.lastReport) / 1000);
      rescuer.byName += m.byName ?? 0;
      rescuer.byNameRps = (m.byName ?? 0) / seconds;
      this.counters.byName += m.byName ?? 0;
      if (m.refusedHosts) {
        rescuer.refusedHosts += m.refusedHosts;
        this.counters.refusedHosts += m.refusedHosts;
        this.options.onEvent(`rescuer ${fingerprint(m.key)} refused ${m.refusedHosts} request${m.refusedHosts === 1 ? '' : 's'} for host names no site gave it`);
      }
      rescuer.lastReport = now;
      this.options.trust?.load(m);
      if (m.allowedRps !== rescuer.allowedRps) this.options.onEvent(`rescuer ${fingerprint(m.key)} now allows ${m.allowedRps} requests/s (was ${rescuer.allowedRps})`);
      rescuer.allowedRps = m.allowedRps;
      rescuer.maxRps = Math.max(m.allowedRps, m.maxRps ?? 0);
      incoming.respond(200);
    } else if (m.type === 'shutdown') {
      this.retire(rescuer, 'released', `shut down: ${m.reason}`);
      this.cooldown.set(rescuer.candidate.sip, this.options.now() + COOLDOWN_MS);
      incoming.respond(200);
    } else {
      incoming.respond(400, { reason: `Bad Request (a rescuer does not send ${m.type})` });
    }
    return true;
  }

  /** Releases rescuers (by key): no more redirects to them at once, then DSRP release. */
  async release(keys: string[], reason: string): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        const r = this.rescuers.get(key);
        if (!r || r.state !== 'active') return;
        this.retire(r, 'released', reason);
        await this.send(r, this.sign<ReleaseMessage>({ type: 'release', origin: this.options.originId, at: this.options.now() }));
      }),
    );
  }

  /** Drops rescuers whose load reports stopped. */
  checkSilence(): void {
    const now = this.options.now();
    for (const r of this.rescuers.values()) {
      if (r.state === 'active' && now - r.lastReport > (this.options.silenceMs ?? 10_000)) this.retire(r, 'dropped', 'unreachable: no load report');
    }
  }

  /**
   * Fetches `path` through one active rescuer (in turn) as a user would, and checks that what it
   * serves is this origin's own signed content: a valid signature by this origin's key over a
   * Content-Digest that matches the body. Anything else drops the rescuer for good.
   */
  async spotCheck(path: string | undefined, siteName?: string): Promise<void> {
    const active = [...this.rescuers.values()].filter((r) => r.state === 'active');
    if (!active.length || !path) return;
    const turn = this.spotCheckTurn++;
    const r = active[turn % active.length];
    this.counters.spotChecks++;
    // DNS round robin: every other round of checks asks by the site's name, as users who looked it up do.
    const byName = siteName !== undefined && Math.floor(turn / active.length) % 2 === 1;
    let problem: string | undefined;
    try {
      const res = byName
        ? await this.options.fetcher.fetch(new URL(path, r.http).toString(), { headers: { host: siteName }, maxBytes: 16 * 1024 * 1024, timeoutMs: 10_000 })
        : await this.options.fetcher.fetch(rescueUrl(r.http, this.options.originId, path), { maxBytes: 16 * 1024 * 1024, timeoutMs: 10_000 });
      if (res.status === 302 || res.status === 404 || res.status === 503) return; // it is ending, or not ready: not a fault of content
      if (res.status === 200) {
        const signed = verifyResponse(
          { status: res.status, headers: res.headers, requestTarget: path, signatureInput: res.headers['signature-input'], signature: res.headers.signature },
          publicKeyFromRaw(this.options.key.raw),
          this.options.originId,
        );
        if (!signed.ok) problem = `its response${byName ? ` for ${siteName}` : ''} is not signed by this site (${signed.reason})`;
        else if (!checkContentDigest(res.headers['content-digest'], res.body)) problem = `it served content${byName ? ` for ${siteName}` : ''} that does not match the site's digest`;
      }
    } catch (error) {
      this.options.log.debug('spot check could not reach a rescuer', { rescuer: r.http, error: String(error) });
      return;
    }
    if (!problem) return;
    this.counters.spotCheckFailures++;
    this.distrusted.add(r.key);
    this.retire(r, 'dropped', `altered content: ${problem}`);
    await this.send(r, this.sign<ReleaseMessage>({ type: 'release', origin: this.options.originId, at: this.options.now() }));
  }

  private retire(r: Rescuer, state: 'released' | 'dropped', reason: string): void {
    r.state = state;
    r.reason = reason;
    this.options.onEvent(`rescuer ${fingerprint(r.key)} ${state}: ${reason}`);
    this.options.trust?.retired(r.key);
  }

  /** Drops an active rescuer (by key) and releases it: trusted rescue refused its certificate, or it did not take a purge. */
  async drop(key: string, reason: string): Promise<void> {
    const r = this.rescuers.get(key);
    if (!r || r.state !== 'active') return;
    this.retire(r, 'dropped', reason);
    this.cooldown.set(r.candidate.sip, this.options.now() + COOLDOWN_MS);
    await this.send(r, this.sign<ReleaseMessage>({ type: 'release', origin: this.options.originId, at: this.options.now() }));
  }

  /** Sends a DSRP message to an active rescuer; the final status (0: none). */
  async sendTo(key: string, message: DsrpMessage): Promise<number> {
    const r = this.rescuers.get(key);
    if (!r || r.state !== 'active') return 0;
    const outcome = await this.options.stack.request({ method: 'MESSAGE', to: r.candidate.sip, from: this.options.sos().sip, contentType: DSRP_CONTENT_TYPE, body: encodeDsrp(message), timeoutMs: 3_000 });
    return outcome.kind === 'final' ? outcome.response.status : 0;
  }

  private async send(r: Rescuer, message: DsrpMessage): Promise<void> {
    await this.options.stack.request({ method: 'MESSAGE', to: r.candidate.sip, from: this.options.sos().sip, contentType: DSRP_CONTENT_TYPE, body: encodeDsrp(message), timeoutMs: 3_000 });
  }

  /** RTT of a SIP OPTIONS round trip, ms; undefined when it does not answer within 2 s. */
  private async ping(sip: string): Promise<number | undefined> {
    const started = performance.now();
    const outcome = await this.options.stack.request({ method: 'OPTIONS', to: sip, from: this.options.sos().sip, timeoutMs: 2_000 });
    return outcome.kind === 'final' ? performance.now() - started : undefined;
  }

  private sign<M extends DsrpMessage>(message: Omit<M, 'sig' | 'key' | 'dsrp'>): M {
    return signDsrp<M>(message as never, this.options.key.raw, this.options.key.privateKey);
  }
}

function isLiveAdvert(r: OverlayRecord, now: number): boolean {
  return r.type === 'service' && r.expires > now && typeof (r.value as ServiceValue).contact === 'string';
}

/** A short fingerprint of a key for logs and the status page. */
export function fingerprint(key: string): string {
  return createHash('sha256').update(Buffer.from(key, 'base64url')).digest('hex').slice(0, 12);
}
