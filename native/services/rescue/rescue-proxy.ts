// The rescue server's HTTP face: a caching reverse proxy with dynamic virtual hosting. A user
// redirected by an origin asks for /r/ORIGIN-ID/PATH; the proxy answers from its cache (RFC 9111),
// or fetches PATH from that origin once for all concurrent askers, checks the origin's signature
// (RFC 9530 Content-Digest, RFC 9421) before it stores or serves anything, and paces what it
// sends to the volunteer's donation. Only origins that asked by a signed SOS are served, only
// while their rescue lasts: it is never an open proxy.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import {
  canServeStaleOnError,
  conditionalHeaders,
  currentAge,
  freshness,
  freshnessLifetime,
  parseCacheControl,
  isStorable,
  notModifiedMatches,
  stripHopByHop,
  withDate,
  updateFromNotModified,
  type Headers,
} from '../../proto/rescue/http-cache-policy.js';
import { publicKeyFromRaw } from '../../wire/overlay/record.js';
import { ACCEPT_SIGNATURE, checkContentDigest, verifyResponse } from '../../wire/rescue/http-signature.js';
import { hostOnly, MAX_RESCUE_OBJECT_BYTES, RESCUE_PATH_PREFIX, RESCUER_HEADER, rescueUrl } from '../../wire/rescue/dsrp.js';
import { writePaced, type FetchedResponse, type HttpFetcher } from '../../transport/http.js';
import type { FastAnswer, FastHandler } from '../../transport/http-fast-lane.js';
import { responseHead } from '../../wire/http/simple-request.js';
import type { CachedMeta, RescueCache } from './rescue-cache.js';
import type { RescueSession } from './rescue-session.js';

export interface RescueProxyOptions {
  cache: RescueCache;
  fetcher: HttpFetcher;
  /** The session of an origin ID, active or recently ended; undefined for one that never asked. */
  session(originId: string): RescueSession | undefined;
  /** The session that gave this host name (DNS round robin), active or recently ended. */
  sessionByHost(host: string): RescueSession | undefined;
  /** Books bytes on the donation's token bucket: ms to wait before sending them. */
  pace(bytes: number): number;
  /** Told of every response served for a session (bytes on the wire); byName: it came by the site's host name, not by redirect. */
  onServed(session: RescueSession, bytes: number, hit: boolean, byName: boolean): void;
  /** This node's ID, sent to origins so they serve it rather than redirect it. */
  selfId: string;
  /**
   * Trusted rescue (rescue-trust.ts): whether `path` is a marked API path of the session's origin,
   * cached per query until the origin purges it, and a counter that every purge of that origin
   * moves on (a fetch that began before a purge must not store what it got).
   */
  dynamic?: { marked(session: RescueSession, path: string): boolean; generation(originId: string): number; purgedSince(originId: string, generation: number, path: string): boolean };
  log: Logger;
  now?: () => number;
}

/**
 * How long a marked API response is kept at most, should a purge be lost on the way (a rescuer
 * that does not take a purge is dropped, so this is a last bound). Spread over 240-360 s, so the
 * answers one crowd filled do not all run out, and go back to the site's database, at once.
 */
export const PINNED_MAX_MS = 300_000;
const pinnedFor = () => PINNED_MAX_MS * (0.8 + 0.4 * Math.random());

type Outcome = 'hit' | 'miss' | 'revalidated' | 'stale';
/** Reason phrases of the statuses a cache stores (RFC 9110 15); a client reads only the code. */
const STATUS_TEXT: Record<number, string> = { 200: 'OK', 203: 'Non-Authoritative Information', 204: 'No Content', 206: 'Partial Content', 300: 'Multiple Choices', 301: 'Moved Permanently', 308: 'Permanent Redirect', 404: 'Not Found', 405: 'Method Not Allowed', 410: 'Gone', 414: 'URI Too Long', 501: 'Not Implemented' };
const X_CACHE: Record<Outcome, string> = { hit: 'HIT', miss: 'MISS', revalidated: 'REVALIDATED', stale: 'STALE' };
type Stored = { meta: CachedMeta; body: Buffer };
interface Prepared {
  headers: Record<string, string>;
  ageAtResponse: number;
  freshUntil: number;
  /** About what the status line and headers take on the wire. */
  headerBytes: number;
}

export class RescueProxy {
  readonly counters = { requests: 0, refused: 0, refusedHosts: 0, integrityFailures: 0, upstreamErrors: 0, collapsed: 0, fromPeers: 0 };
  /** Misses and revalidations under way, by cache key: later askers wait for the same fetch. */
  private readonly inflight = new Map<string, Promise<Stored | FetchFailure>>();
  private readonly now: () => number;
  private readonly preparedByMeta = new WeakMap<CachedMeta, Prepared>();
  /** The fast lane's bytes of a stored response, made again when its Age (whole seconds) moves on. */
  private readonly fastBytes = new WeakMap<CachedMeta, { age: number; pieces: Buffer[] }>();

  constructor(private readonly options: RescueProxyOptions) {
    this.now = options.now ?? Date.now;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    const url = req.url ?? '/';
    let parsed = parseRescuePath(url);
    let session: RescueSession | undefined;
    const byName = !parsed && isNamedHost(req.headers.host);
    if (byName) {
      // DNS round robin: the user asked for the site by its own name, and its DNS named this node.
      const host = hostOnly(req.headers.host!);
      session = this.options.sessionByHost(host);
      if (!session) {
        this.counters.refusedHosts++;
        return this.refuse(res, 421, `This rescue server was not given ${host}: it serves only the sites that asked it for help, under the names they gave.`);
      }
      const path = sitePath(url);
      if (!path) return this.refuse(res, 400, 'Not a path of the site.');
      parsed = { originId: session.originId, path };
    } else {
      if (!parsed) return this.refuse(res, 404, 'Not a rescued site. This is a Peerdial rescue server: it serves only sites that asked it for help.');
      session = this.options.session(parsed.originId);
      if (!session) return this.refuse(res, 404, 'This rescue server is not helping that site.');
    }
    if (session.state === 'ended') {
      // The rescue is over: send the user back to the site itself (by its address when the user
      // came by its name: the name may still lead here from a resolver's cache).
      res.writeHead(302, { location: new URL(parsed.path, byName ? session.sos.upstream : session.sos.site).toString(), 'cache-control': 'no-store', 'content-length': '0' });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.refuse(res, 405, 'A rescue server serves GET and HEAD only.', { allow: 'GET, HEAD' });

    const key = `${session.originId} ${parsed.path}`;
    const now = this.now();
    // The flash crowd's path: a fresh entry in memory, a request without cache directives.
    const hot = this.options.cache.getHot(key);
    if (hot && req.headers['cache-control'] === undefined && req.headers.pragma === undefined && now < this.prepared(hot.meta).freshUntil) {
      return this.serve(req, res, session, hot, 'hit', req.headers['if-none-match'], byName);
    }
    const requestHeaders = lowerHeaders(req);
    let stored = hot ?? (await this.options.cache.get(key));
    // RFC 9111 5.2.1.7: a peer filling its cache asks only for what is stored here and fresh.
    if (parseCacheControl(requestHeaders['cache-control']).has('only-if-cached')) {
      if (stored && freshness(timing(stored.meta), {}, now) === 'fresh') return this.serve(req, res, session, stored, 'hit', requestHeaders['if-none-match'], byName);
      return this.refuse(res, 504, 'Not in this rescue server\'s cache.');
    }
    let outcome: Outcome = 'hit';
    if (stored) {
      const state = stored.meta.pinnedUntil !== undefined ? (now < stored.meta.pinnedUntil ? 'fresh' : 'stale') : freshness(timing(stored.meta), requestHeaders, now);
      if (state === 'stale-while-revalidate') {
        outcome = 'stale';
        void this.fetch(session, key, parsed.path, stored);
      } else if (state !== 'fresh') {
        const fetched = await this.fetch(session, key, parsed.path, stored);
        if (fetched instanceof FetchFailure) {
          if (!canServeStaleOnError(timing(stored.meta), this.now())) return this.fail(res, fetched);
          outcome = 'stale';
        } else {
          stored = fetched;
          outcome = 'revalidated';
        }
      }
    } else {
      const fetched = await this.fetch(session, key, parsed.path, undefined);
      if (fetched instanceof FetchFailure) return this.fail(res, fetched);
      stored = fetched;
      outcome = 'miss';
    }
    await this.serve(req, res, session, stored, outcome, requestHeaders['if-none-match'], byName);
  }

  /**
   * The fast lane (transport/http-fast-lane.ts): the answer to a simple GET (no cache directives,
   * no conditionals, see wire/http/simple-request.ts) when it is a fresh entry in memory of an
   * active rescue, as prebuilt bytes: the same status, headers and body handle() would send, paced
   * and counted the same. Anything else is undefined, and handle() answers it.
   */
  readonly fast: FastHandler = (request) => {
    if (request.method !== 'GET') return undefined;
    let parsed = parseRescuePath(request.target);
    let session: RescueSession | undefined;
    const byName = !parsed && isNamedHost(request.host);
    if (byName) {
      session = this.options.sessionByHost(hostOnly(request.host));
      const path = sitePath(request.target);
      if (!session || !path) return undefined;
      parsed = { originId: session.originId, path };
    } else {
      if (!parsed) return undefined;
      session = this.options.session(parsed.originId);
    }
    if (!session || session.state !== 'active') return undefined;
    const hot = this.options.cache.getHot(`${session.originId} ${parsed.path}`);
    if (!hot) return undefined;
    const p = this.prepared(hot.meta);
    const now = this.now();
    if (now >= p.freshUntil) return undefined;
    this.counters.requests++;
    const served = session;
    const answer: FastAnswer = {
      pieces: this.fastPieces(hot, p, now),
      book: (bytes) => this.options.pace(bytes),
      sent: () => this.options.onServed(served, hot.body.length + p.headerBytes, true, byName),
    };
    return answer;
  };

  /** Head and body as handle() would write them, in pieces of at most 64 KB (each paced on its own, as writePaced does). */
  private fastPieces(stored: Stored, p: Prepared, now: number): Buffer[] {
    const age = Math.max(0, Math.floor((p.ageAtResponse + now - stored.meta.responseTime) / 1000));
    const kept = this.fastBytes.get(stored.meta);
    if (kept && kept.age === age) return kept.pieces;
    const fields: Array<[string, string]> = Object.entries(p.headers);
    fields.push(['age', String(age)], ['x-cache', X_CACHE.hit], ['content-length', String(stored.body.length)], ['connection', 'keep-alive'], ['keep-alive', 'timeout=30']);
    const head = responseHead(stored.meta.status, STATUS_TEXT[stored.meta.status] ?? 'OK', fields);
    const chunk = 64 * 1024;
    const pieces: Buffer[] = [Buffer.concat([head, stored.body.subarray(0, chunk)])];
    for (let offset = chunk; offset < stored.body.length; offset += chunk) pieces.push(stored.body.subarray(offset, offset + chunk));
    this.fastBytes.set(stored.meta, { age, pieces });
    return pieces;
  }

  /**
   * What every answer from one stored response shares, worked out once per response: the
   * headers users get, the age it had when it arrived, and until when it is fresh for a request
   * that carries no cache directives of its own (RFC 9111 4.2: lifetime minus current age).
   */
  private prepared(meta: CachedMeta): Prepared {
    let p = this.preparedByMeta.get(meta);
    if (!p) {
      const ageAtResponse = currentAge(timing(meta), meta.responseTime);
      const alwaysValidate = parseCacheControl(meta.headers['cache-control']).has('no-cache');
      const headers: Record<string, string> = { ...(stripHopByHop(meta.headers) as Record<string, string>), via: '1.1 peerdial-rescue' };
      delete headers['content-length'];
      p = {
        headers,
        ageAtResponse,
        freshUntil: meta.pinnedUntil ?? (alwaysValidate ? -Infinity : meta.responseTime + freshnessLifetime(meta.headers) - ageAtResponse),
        headerBytes: Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 64),
      };
      this.preparedByMeta.set(meta, p);
    }
    return p;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, session: RescueSession, stored: Stored, outcome: Outcome, ifNoneMatch: string | string[] | undefined, byName: boolean): Promise<void> {
    const p = this.prepared(stored.meta);
    const headers: Record<string, string> = { ...p.headers, age: String(Math.max(0, Math.floor((p.ageAtResponse + this.now() - stored.meta.responseTime) / 1000))), 'x-cache': X_CACHE[outcome] };
    const hit = outcome === 'hit' || outcome === 'stale';
    const etag = stored.meta.headers.etag;
    if (etag && matchesWeakly(Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch, etag)) {
      delete headers['content-digest'];
      res.writeHead(304, headers);
      res.end();
      this.options.onServed(session, p.headerBytes, hit, byName);
      return;
    }
    headers['content-length'] = String(stored.body.length);
    res.writeHead(stored.meta.status, headers);
    if (req.method === 'HEAD') {
      this.options.pace(p.headerBytes);
      res.end();
      this.options.onServed(session, p.headerBytes, hit, byName);
      return;
    }
    await writePaced(res, stored.body, (bytes) => this.options.pace(bytes), p.headerBytes);
    this.options.onServed(session, stored.body.length + p.headerBytes, hit, byName);
  }

  /** One fetch per key at a time (collapsed forwarding); a stale entry makes it conditional. */
  private fetch(session: RescueSession, key: string, path: string, stale: Stored | undefined): Promise<Stored | FetchFailure> {
    const running = this.inflight.get(key);
    if (running) {
      this.counters.collapsed++;
      return running;
    }
    const work = this.fetchFromOrigin(session, key, path, stale).finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  /**
   * A miss is first asked of one other rescue server of the same site (only-if-cached): a copy
   * signed by the origin from a peer spares the origin's congested link. Anything but a verified
   * copy falls through to the origin.
   */
  private async fetchFromPeer(session: RescueSession, key: string, path: string): Promise<Stored | undefined> {
    const peers = session.sos.peers ?? [];
    if (!peers.length) return undefined;
    const peer = peers[Math.floor(Math.random() * peers.length)];
    const requestTime = this.now();
    let response: FetchedResponse;
    try {
      response = await this.options.fetcher.fetch(rescueUrl(peer, session.originId, path), {
        headers: { 'cache-control': 'only-if-cached', [RESCUER_HEADER]: this.options.selfId },
        maxBytes: MAX_RESCUE_OBJECT_BYTES,
        timeoutMs: 3_000,
      });
    } catch {
      return undefined;
    }
    if (response.status !== 200) return undefined;
    const check = verifyResponse(
      { status: 200, headers: response.headers, requestTarget: path, signatureInput: response.headers['signature-input'], signature: response.headers.signature },
      publicKeyFromRaw(Buffer.from(session.originKey, 'base64url')),
      session.originId,
    );
    if (!check.ok || !checkContentDigest(response.headers['content-digest'], response.body)) {
      this.counters.integrityFailures++;
      return undefined;
    }
    const headers = stripHopByHop(response.headers) as Record<string, string>;
    // What the peer added for its users is not the origin's: the peer's Age stays (RFC 9111 4.2.3).
    delete headers['x-cache'];
    delete headers.via;
    const stored: Stored = { meta: { status: 200, headers, requestTime, responseTime: this.now(), size: response.body.length }, body: response.body };
    if (!isStorable('GET', 200, {}, headers)) return undefined;
    this.counters.fromPeers++;
    await this.options.cache.put(key, stored.meta, stored.body);
    return stored;
  }

  private async fetchFromOrigin(session: RescueSession, key: string, path: string, stale: Stored | undefined): Promise<Stored | FetchFailure> {
    const marked = this.options.dynamic?.marked(session, path) ?? false;
    const generation = this.options.dynamic?.generation(session.originId);
    // A marked query result is purged by the origin, not revalidated: it is fetched whole, and never from a peer.
    if (marked) stale = undefined;
    else if (!stale) {
      const fromPeer = await this.fetchFromPeer(session, key, path);
      if (fromPeer) return fromPeer;
    }
    const url = new URL(path, session.sos.upstream).toString();
    // No cookies or credentials of the user: the rescue server asks as itself.
    const headers: Record<string, string> = {
      'accept-signature': ACCEPT_SIGNATURE,
      [RESCUER_HEADER]: this.options.selfId,
      via: '1.1 peerdial-rescue',
      ...(stale ? (conditionalHeaders(stale.meta.headers) as Record<string, string>) : {}),
    };
    const requestTime = this.now();
    let response: FetchedResponse;
    try {
      response = await this.options.fetcher.fetch(url, { headers, maxBytes: MAX_RESCUE_OBJECT_BYTES, timeoutMs: 15_000 });
    } catch (error) {
      this.counters.upstreamErrors++;
      return new FetchFailure(502, `The site did not answer the rescue server: ${(error as Error).message}`);
    }
    const responseTime = this.now();
    const check = verifyResponse(
      { status: response.status, headers: response.headers, requestTarget: path, signatureInput: response.headers['signature-input'], signature: response.headers.signature },
      publicKeyFromRaw(Buffer.from(session.originKey, 'base64url')),
      session.originId,
      { nowSeconds: Math.floor(responseTime / 1000), maxAgeSeconds: 300 },
    );
    const digestOk = response.status === 304 || checkContentDigest(response.headers['content-digest'], response.body);
    if (!check.ok || !digestOk) {
      this.counters.integrityFailures++;
      this.options.log.warn('response failed the origin signature check', { origin: session.originId, path, reason: check.ok ? 'content digest' : check.reason });
      return new FetchFailure(502, 'The response did not carry a valid signature of the site: not served.');
    }
    // RFC 9111 4.3.4: a 304 freshens the stored response only when its validators select it.
    if (response.status === 304 && stale && notModifiedMatches(stale.meta.headers, response.headers)) {
      const meta: CachedMeta = { ...stale.meta, headers: updateFromNotModified(stale.meta.headers, response.headers) as Record<string, string>, requestTime, responseTime };
      this.options.cache.updateMeta(key, meta);
      return { meta, body: stale.body };
    }
    if (response.status >= 500 && stale && canServeStaleOnError(timing(stale.meta), responseTime)) {
      return new FetchFailure(response.status, 'The site answered with an error.');
    }
    const stored: Stored = {
      // RFC 9110 6.6.1: a response without Date gets the time it arrived, so Expires can be read.
      meta: { status: response.status, headers: withDate(stripHopByHop(response.headers), responseTime) as Record<string, string>, requestTime, responseTime, size: response.body.length },
      body: response.body,
    };
    if (marked) {
      // Only a 200 the origin signed, for no one user, and only when no purge came while it was on its way.
      if (response.status === 200 && isStorable('GET', 200, {}, response.headers) && !this.options.dynamic!.purgedSince(session.originId, generation!, path)) {
        stored.meta.pinnedUntil = responseTime + pinnedFor();
        await this.options.cache.put(key, stored.meta, stored.body);
      } else await this.options.cache.delete(key);
      return stored;
    }
    if (isStorable('GET', response.status, {}, response.headers)) await this.options.cache.put(key, stored.meta, stored.body);
    else await this.options.cache.delete(key);
    return stored;
  }

  /** Drops every cached response of `originId` under each prefix (a purge from the origin). */
  async purge(originId: string, prefixes: string[]): Promise<number> {
    let dropped = 0;
    for (const prefix of prefixes) dropped += await this.options.cache.deletePrefix(`${originId} ${prefix}`);
    return dropped;
  }

  private refuse(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    this.counters.refused++;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra });
    res.end(text + '\n');
  }

  private fail(res: ServerResponse, failure: FetchFailure): void {
    res.writeHead(failure.status >= 500 ? failure.status : 502, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(failure.message + '\n');
  }
}

class FetchFailure {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

/** RFC 9110 13.1.2: If-None-Match uses the weak comparison (W/"x" matches "x"). */
function matchesWeakly(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

function timing(meta: CachedMeta) {
  return { requestTime: meta.requestTime, responseTime: meta.responseTime, headers: meta.headers };
}

function lowerHeaders(req: IncomingMessage): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** A Host header that names a site (not an address literal, as a user sent to /r/ by a redirect carries). */
function isNamedHost(host: string | undefined): boolean {
  if (!host) return false;
  const h = hostOnly(host);
  return h !== '' && !h.startsWith('[') && !isIP(h) && h !== 'localhost';
}

/** The request target of a request by name: an origin-form path of the site, never one that climbs out. */
function sitePath(url: string): string | undefined {
  if (!url.startsWith('/') || url.startsWith('//') || /(^|\/)\.\.(\/|$|\?)/.test(url.split('?')[0])) return undefined;
  return url.split('#')[0];
}

const RESCUE_PATH = new RegExp(`^${RESCUE_PATH_PREFIX}([0-9a-f]{16})(/[^#]*)?$`);

/** `/r/ORIGIN-ID/rest?query` -> the origin ID and `/rest?query`. */
export function parseRescuePath(url: string): { originId: string; path: string } | undefined {
  const m = RESCUE_PATH.exec(url);
  if (!m) return undefined;
  const path = m[2] ?? '/';
  // A path that climbs out of the site (/r/ID/../x) or names another host is not a resource of it.
  if (path.startsWith('//') || (path.includes('..') && /(^|\/)\.\.(\/|$|\?)/.test(path.split('?')[0]))) return undefined;
  return { originId: m[1], path };
}
