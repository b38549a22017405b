// The registrar for the user's phones (RFC 3261 10.3): digest authentication (RFC 3261 22.4,
// RFC 8760: SHA-256 offered first, MD5 for phones that know nothing else) with nonces that
// expire and cannot be replayed, a lockout for sources that keep failing, and the bindings of
// each phone kept in sqlite. The AOR a phone registers is the user's own.
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../log.js';
import { AuthLockout } from '../../proto/sip/auth-lockout.js';
import { DigestNonces } from '../../proto/sip/digest-nonces.js';
import { applyRegister, contactsOf, DEFAULT_BINDING_LIMITS, type Binding, type ContactEntry } from '../../proto/sip/registrar-bindings.js';
import { challengeHeader, digestResponse, readCredentials, type DigestAlgorithm } from '../../wire/sip/digest.js';
import { parseSipUri } from '../../wire/sip/uri.js';
import type { StoredPhone } from '../../storage/repositories/phone-repository.js';
import type { IncomingRequest } from '../sip/index.js';
import type { RoutingCounters } from './phones-view.js';

/** The algorithms we challenge with, in the order of preference RFC 8760 2.4 asks for. */
const OFFERED: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];
/**
 * Some phones (baresip 1.0's libre, older desk phones) fail on any challenge but MD5 instead of
 * skipping it as RFC 8760 2.4 asks: a phone that comes back without credentials after being
 * offered both is offered MD5 alone from then on. Remembered per source, for this long.
 */
const MD5_ONLY_MS = 24 * 3600_000;
/**
 * User agents known to fail on a SHA-256 challenge (rather than skip it) and not to try again
 * for minutes: libre before 2.x, so baresip 0.x and 1.x; sipp (MD5 and AKA only).
 */
const MD5_ONLY_AGENTS = [/^baresip v[01]\./i, /^sipp\b/i];
const MAX_REMEMBERED_SOURCES = 10_000;

export interface RegisteredPhone {
  phone: StoredPhone;
  bindings: Binding[];
}

export interface PhoneRegistrarOptions {
  log: Logger;
  now: () => number;
  counters: RoutingCounters;
  /** Whether phones of this user register here (this node's user; a farm server's farm users). */
  serves(user: string): boolean;
  /** The user a phone belongs to. */
  ownerOf(phone: StoredPhone): string | undefined;
  /** The digest realm (the overlay's name). */
  realm(): string;
  byUsername(username: string): RegisteredPhone | undefined;
  /** Stores a phone's bindings after a REGISTER (and tells the rest of the node). */
  setBindings(phoneId: string, bindings: Binding[]): Promise<void>;
  lockout?: AuthLockout;
  /** A request was refused (a count in node.status changed). */
  onRefused?(): void;
  /** The phone registered on this stream connection for `ms`: keep it open that long (RFC 5626 5.2). */
  holdFlow?(remote: IncomingRequest['remote'], ms: number): void;
}

export class PhoneRegistrar {
  private readonly nonces: DigestNonces;
  private readonly lockout: AuthLockout;
  /** Sources offered both algorithms that have not authenticated since (ip:port -> when). */
  private readonly offeredBoth = new Map<string, number>();
  /** Sources that failed on the SHA-256 challenge: MD5 only (ip:port -> until). */
  private readonly md5Only = new Map<string, number>();

  constructor(private readonly options: PhoneRegistrarOptions) {
    this.nonces = new DigestNonces({ now: options.now });
    this.lockout = options.lockout ?? new AuthLockout({ now: options.now });
  }

  async onRegister(incoming: IncomingRequest): Promise<void> {
    const { request, remote, respond } = incoming;
    const counters = this.options.counters;
    const realm = this.options.realm();
    const to = parseSipUri(request.headers.to?.uri ?? '');
    if (this.lockedOut(incoming)) return;
    const user = to?.user?.toLowerCase();
    if (!user || !this.options.serves(user)) {
      counters.refusedPolicy++;
      this.options.onRefused?.();
      respond(403, { reason: `Forbidden (this node registers no phones for ${to?.user ? `sip:${to.user}@${realm}` : 'that address'})` });
      return;
    }
    const entry = this.authenticate(incoming, 'www');
    if (!entry) return;
    if (this.options.ownerOf(entry.phone) !== user) {
      counters.refusedPolicy++;
      this.options.onRefused?.();
      respond(403, { reason: `Forbidden (these credentials are for sip:${this.options.ownerOf(entry.phone)}@${realm})` });
      return;
    }
    const contactHeader = request.headers.contact as '*' | Array<{ uri: string; params: Record<string, unknown> }> | undefined;
    const contacts: ContactEntry[] | '*' = contactHeader === '*' ? '*' : (contactHeader ?? []).map((c) => ({ uri: c.uri, params: c.params ?? {} }));
    const expiresHeader = request.headers.expires;
    const now = this.options.now();
    const outcome = applyRegister(
      entry.bindings,
      {
        contacts,
        ...(expiresHeader !== undefined && /^\d{1,10}$/.test(String(expiresHeader).trim()) ? { expires: Number(expiresHeader) } : {}),
        callId: String(request.headers['call-id']),
        cseq: request.headers.cseq.seq,
        source: { protocol: remote.protocol, address: remote.address, port: remote.port },
        ...(request.headers['user-agent'] ? { userAgent: String(request.headers['user-agent']).slice(0, 200) } : {}),
      },
      now,
      DEFAULT_BINDING_LIMITS,
    );
    if (!outcome.ok) {
      respond(outcome.status, { reason: outcome.reason, headers: outcome.minExpiresS ? { 'min-expires': outcome.minExpiresS } : {} });
      return;
    }
    await this.options.setBindings(entry.phone.id, outcome.bindings);
    counters.registered++;
    const lastsMs = Math.max(0, ...outcome.bindings.filter((b) => b.source.protocol === remote.protocol && b.source.address === remote.address && b.source.port === remote.port).map((b) => b.expiresAt - now));
    if (lastsMs > 0) this.options.holdFlow?.(remote, lastsMs + 30_000);
    const outbound = /\boutbound\b/i.test(String(request.headers.supported ?? '')) && outcome.bindings.some((b) => b.regId !== undefined);
    respond(200, {
      headers: {
        ...(outcome.bindings.length ? { contact: contactsOf(outcome.bindings, now) } : {}),
        date: new Date(now).toUTCString(),
        // RFC 5626 6: we keep the flow each registration came on and route to the phone through it.
        ...(outbound ? { require: 'outbound' } : {}),
      },
    });
  }

  /**
   * The phone whose digest credentials the request carries (RFC 3261 22.4: Authorization for a
   * registrar, `www`; Proxy-Authorization for a proxy, `proxy`, 22.3), or undefined when it has
   * answered the request itself: a challenge (401 or 407), 400 for unreadable credentials, 403
   * for wrong ones or a source locked out. Our Proxy-Authorization is taken off a request that
   * passes, before it goes on.
   */
  authenticate(incoming: IncomingRequest, kind: 'www' | 'proxy'): RegisteredPhone | undefined {
    const { request, remote, respond } = incoming;
    const counters = this.options.counters;
    if (this.lockedOut(incoming)) return undefined;
    const realm = this.options.realm();
    const header = kind === 'www' ? 'authorization' : 'proxy-authorization';
    // The sip package parses credentials into a list; anything else (never seen, but the message came from anyone) is no credentials.
    const parsed: unknown = request.headers[header];
    const all = Array.isArray(parsed) ? (parsed as Array<Record<string, unknown>>).filter((h) => typeof h === 'object' && h !== null) : [];
    const offered = all.find((h) => String(h.realm ?? '').replace(/"/g, '') === realm);
    if (!offered) return this.challenge(incoming, false, kind);
    const read = readCredentials(offered);
    if (!read.ok) {
      respond(400, { reason: `Bad Request (${read.reason})` });
      return undefined;
    }
    const credentials = read.credentials;
    const verdict = this.nonces.check(credentials.nonce, remote.address, credentials.nc);
    if (verdict === 'stale') return this.challenge(incoming, true, kind);
    const entry = this.options.byUsername(credentials.username);
    const expected = entry && digestResponse({ algorithm: credentials.algorithm, ha1: ha1Of(entry.phone, credentials.algorithm), method: request.method, uri: credentials.uri, nonce: credentials.nonce, qop: credentials.qop, nc: credentials.nc, cnonce: credentials.cnonce });
    const matches = expected !== undefined && expected.length === credentials.response.length && timingSafeEqual(Buffer.from(expected), Buffer.from(credentials.response));
    if (verdict !== 'fresh' || !matches || !entry) {
      counters.authFailed++;
      this.options.onRefused?.();
      const why = verdict === 'replayed' ? 'a nonce used before' : verdict === 'invalid' ? 'a nonce we did not give' : 'a wrong user name or password';
      if (this.lockout.fail(remote.address)) {
        this.options.log.warn('phone requests from this address locked out after repeated failures', { address: remote.address, minutes: this.lockout.lockMs / 60_000, lastUserName: credentials.username });
      }
      if (verdict !== 'fresh') return this.challenge(incoming, false, kind);
      this.options.log.info('phone refused', { address: remote.address, username: credentials.username, method: request.method, why });
      respond(403, { reason: 'Forbidden (wrong user name or password)' });
      return undefined;
    }
    this.lockout.succeed(remote.address);
    this.offeredBoth.delete(sourceKey(incoming));
    if (kind === 'proxy') request.headers[header] = all.filter((h) => h !== offered).length ? all.filter((h) => h !== offered) : undefined;
    return entry;
  }

  /** A source that failed too often gets 403 whatever it sends, for a while. */
  private lockedOut(incoming: IncomingRequest): boolean {
    const lockedMs = this.lockout.lockedFor(incoming.remote.address);
    if (lockedMs <= 0) return false;
    this.options.counters.lockedOut++;
    this.options.onRefused?.();
    incoming.respond(403, { reason: `Forbidden (too many failed attempts from ${incoming.remote.address}; try again in ${Math.ceil(lockedMs / 1000)} s)` });
    return true;
  }

  /** RFC 3261 22.4 and RFC 8760 2.4: a 401 (or a proxy's 407) with one challenge per algorithm, the strongest first. */
  private challenge(incoming: IncomingRequest, stale: boolean, kind: 'www' | 'proxy'): undefined {
    this.options.counters.challenged++;
    const nonce = this.nonces.issue(incoming.remote.address);
    const realm = this.options.realm();
    const offered = this.algorithmsFor(incoming, stale);
    const header = kind === 'www' ? 'www-authenticate' : 'proxy-authenticate';
    incoming.respond(kind === 'www' ? 401 : 407, { headers: { [header]: offered.map((algorithm) => challengeHeader({ realm, nonce, algorithm, stale })) } });
    return undefined;
  }

  /** Both algorithms, unless this source failed on them before (it came back without credentials). */
  private algorithmsFor(incoming: IncomingRequest, stale: boolean): readonly DigestAlgorithm[] {
    const key = sourceKey(incoming);
    const now = this.options.now();
    const until = this.md5Only.get(key);
    if (until !== undefined && until > now) return ['MD5'];
    const agent = String(incoming.request.headers['user-agent'] ?? '');
    if (MD5_ONLY_AGENTS.some((pattern) => pattern.test(agent))) return ['MD5'];
    const hasCredentials = incoming.request.headers.authorization !== undefined || incoming.request.headers['proxy-authorization'] !== undefined;
    if (!stale && !hasCredentials && this.offeredBoth.has(key)) {
      this.offeredBoth.delete(key);
      remember(this.md5Only, key, now + MD5_ONLY_MS);
      this.options.log.info('phone did not answer a SHA-256 challenge: offering it MD5 only', { source: key });
      return ['MD5'];
    }
    remember(this.offeredBoth, key, now);
    return OFFERED;
  }
}

function ha1Of(phone: StoredPhone, algorithm: DigestAlgorithm): string {
  return algorithm === 'MD5' ? phone.ha1.md5 : algorithm === 'SHA-256' ? phone.ha1.sha256 : phone.ha1.sha512_256;
}

function sourceKey(incoming: IncomingRequest): string {
  return `${incoming.remote.address}:${incoming.remote.port}`;
}

/** Sets a key in a map kept to a bounded size, the oldest entries going first. */
function remember(map: Map<string, number>, key: string, value: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED_SOURCES) map.delete(map.keys().next().value!);
}
