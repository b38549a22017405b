// DSRP, the DotSlash rescue protocol, as Peerdial carries it: JSON bodies of SIP MESSAGE
// requests (and of their 200 responses), each signed by its sender's Ed25519 key. An origin
// asks with `sos` and the rescue server answers `accept` (with the request rate it allows) or
// `reject` in the 200; later the origin sends `release`, the rescue server `shutdown`, and the
// rescue server reports its `load` (and any new allowed rate) every few seconds, which also
// tells each side that the other is still there. docs/protocol.md, "Rescue", has examples.
import { createHash } from 'node:crypto';
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';
import { canonicalJson, nestedDeeperThan } from '../overlay/record.js';

export const DSRP_CONTENT_TYPE = 'application/vnd.peerdial.dsrp+json';
export const DSRP_VERSION = 1;
/** Rescue URLs: RESCUER/r/ORIGIN-ID/PATH (dynamic virtual hosting by path). */
export const RESCUE_PATH_PREFIX = '/r/';
/** The header a rescue server fetches with: the origin serves it (signed) instead of redirecting it. */
export const RESCUER_HEADER = 'peerdial-rescuer';
/** The largest response a rescue server caches and serves; an origin redirects nothing larger. */
export const MAX_RESCUE_OBJECT_BYTES = 8 * 1024 * 1024;

/** Where a rescue server serves `path` (path and query, starting with /) of an origin. */
export function rescueUrl(rescuerHttp: string, originId: string, path: string): string {
  return rescuerHttp.replace(/\/+$/, '') + RESCUE_PATH_PREFIX + originId + path;
}

/** Peers an SOS names at most. */
export const MAX_PEERS = 16;
/** Host names an SOS gives at most. */
export const MAX_HOSTS = 8;

/** A host name as a Host header carries it, lower-cased, without port or trailing dot. */
export function hostOnly(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  const bare = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
  return bare.replace(/\.$/, '');
}

function isHostName(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 253 && /^(?=.*[a-z])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(v);
}

/** A message older (or further ahead) than this is refused as a replay. */
export const DSRP_MAX_SKEW_MS = 120_000;

interface Signed {
  dsrp: typeof DSRP_VERSION;
  /** The origin's ID (originIdOf its key): every message is about one origin's rescue. */
  origin: string;
  /** When it was signed (ms since the epoch). */
  at: number;
  /** The signer's raw Ed25519 public key, base64url. */
  key: string;
  sig: string;
}

/** Origin -> rescue server: please take part of my load. */
export interface SosMessage extends Signed {
  type: 'sos';
  /** The site's public URL, as its users reach it (shown to the volunteer). */
  site: string;
  /** Where the rescue server fetches the site's resources: the origin's own HTTP address. */
  upstream: string;
  /** The origin's SIP contact: where `load` and `shutdown` go. */
  sip: string;
  /** Redirected requests per second the origin would like to send. */
  wantRps: number;
  /** Mean size of the responses it redirects, bytes: the rescue server turns its bandwidth into a rate with it. */
  meanBytes: number;
  /**
   * The other rescue servers helping now (their http://HOST:PORT): a new one fills its cache from
   * them (only-if-cached) before it asks the origin, whose link is the one under strain.
   */
  peers?: string[];
  /**
   * The site's own host names that may reach the rescue server by DNS round robin (the origin
   * adds the rescue server's address to them): it serves requests whose Host is one of them as
   * this site's, and no other site's. Absent: redirects only.
   */
  hosts?: string[];
}

/** Rescue server -> origin, in the 200 to an SOS, and again in `load` when the rate changes. */
export interface AcceptMessage extends Signed {
  type: 'accept';
  /** Where users are redirected to: http://HOST:PORT (the path is /r/ORIGIN-ID/...). */
  http: string;
  allowedRps: number;
  /**
   * What the donation carries at most (>= allowedRps): the origin may go past allowedRps, up to
   * this, only when every rescuer's allowance is spent and its own link would carry the rest.
   * Absent (older rescuers): allowedRps.
   */
  maxRps?: number;
  /** Trusted rescue (rescue-trust.ts): the rescuer's TLS key and where it serves HTTPS. */
  tls?: AcceptTls;
}

/** The TLS key a rescuer would serve a site's rescue host name with, and its HTTPS address. */
export interface AcceptTls {
  /** DER SubjectPublicKeyInfo of its ECDSA P-256 key, base64url: the certificate the site issues names it. */
  spki: string;
  /** https://HOST:PORT: the port; users reach it by the rescue host name the site gives it. */
  https: string;
}

export interface RejectMessage extends Signed {
  type: 'reject';
  /** Why, in words: "caps reached", "not helping now", ... */
  reason: string;
}

/** Origin -> rescue server: the spike is over, stop. */
export interface ReleaseMessage extends Signed {
  type: 'release';
}

/** Rescue server -> origin: I stop now (switched off, caps reached, overloaded). */
export interface ShutdownMessage extends Signed {
  type: 'shutdown';
  reason: string;
}

/** Rescue server -> origin, every few seconds while the rescue lasts. */
export interface LoadMessage extends Signed {
  type: 'load';
  /** The rate the origin may send from now on (lowered when the rescue server's own load or caps require). */
  allowedRps: number;
  /** As in accept: the most the donation carries, for when every allowance is spent. */
  maxRps?: number;
  /** The rescue server's load in [0, 1+]: served bandwidth against its donation. */
  load: number;
  /** Requests it served for this origin since the last report, and how many came from its cache. */
  served: number;
  hits: number;
  /** Of `served`, the requests that came by the site's host name (DNS round robin), not by redirect. */
  byName?: number;
  /** Requests for a Host name no site gave this rescue server, refused since the last report (421). */
  refusedHosts?: number;
  /** Trusted rescue: the sequence number of the last purge applied, and purges refused so far (forged, replayed). */
  purgeSeq?: number;
  purgesRefused?: number;
}

/**
 * Origin -> a rescuer it trusts (pinned by key): the certificate for its rescue host name, which
 * the site issued to the rescuer's own TLS key, and the marked API paths it may cache per query.
 */
export interface TrustMessage extends Signed {
  type: 'trust';
  /** The rescue host name under the site's domain, e.g. r1.rescue.example.org (absent: a plain-HTTP site, dynamic paths only). */
  host?: string;
  /** With host: the certificate chain, DER base64url, the leaf first (intermediates after it, no root). */
  chain?: string[];
  /** Path prefixes of the marked API endpoints whose responses are cached per query until purged. */
  dynamic: string[];
}

/** Origin -> trusted rescuer: the data behind these paths changed; drop every cached query under them. */
export interface PurgeMessage extends Signed {
  type: 'purge';
  /** Strictly increasing per origin (milliseconds-based, so a restarted origin goes on above): a replay is refused. */
  seq: number;
  /** Path prefixes, each starting with /; a query string counts as part of the path. */
  prefixes: string[];
}

export type DsrpMessage = SosMessage | AcceptMessage | RejectMessage | ReleaseMessage | ShutdownMessage | LoadMessage | TrustMessage | PurgeMessage;
export type DsrpType = DsrpMessage['type'];
export type UnsignedDsrp<M extends DsrpMessage = DsrpMessage> = Omit<M, 'sig' | 'key' | 'dsrp'>;

/** 16 hex digits of SHA-256 over an origin's raw Ed25519 key: its name in rescue URLs. */
export function originIdOf(rawPublicKey: string | Buffer): string {
  const raw = typeof rawPublicKey === 'string' ? Buffer.from(rawPublicKey, 'base64url') : rawPublicKey;
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function signedBytes(message: Omit<DsrpMessage, 'sig'>): Buffer {
  return Buffer.from('peerdial-dsrp-v1\n' + canonicalJson(message), 'utf8');
}

export function signDsrp<M extends DsrpMessage>(message: UnsignedDsrp<M>, rawPublicKey: Buffer, privateKeyPkcs8: Buffer): M {
  const unsigned = { ...message, dsrp: DSRP_VERSION, key: rawPublicKey.toString('base64url') } as Omit<DsrpMessage, 'sig'>;
  return { ...unsigned, sig: signEd25519(signedBytes(unsigned), privateKeyPkcs8) } as M;
}

export function encodeDsrp(message: DsrpMessage): string {
  return JSON.stringify(message);
}

export type DecodedDsrp = { ok: true; message: DsrpMessage } | { ok: false; reason: string };

const ID = /^[0-9a-f]{16}$/;
const KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * Parses and checks a DSRP body: shape, signature, freshness, and that an origin's own messages
 * (sos, release) are signed by the key the origin ID names. Whether a rescue server's key is the
 * one the origin asked is for the origin to check.
 */
export function decodeDsrp(body: string, now: number): DecodedDsrp {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return { ok: false, reason: 'not an object' };
  // Messages nest 2 levels (peers); canonicalJson below would overflow the stack on deep nesting.
  if (nestedDeeperThan(m, 4)) return { ok: false, reason: 'nested too deep' };
  if (m.dsrp !== DSRP_VERSION) return { ok: false, reason: `unsupported DSRP version ${String(m.dsrp)}` };
  if (typeof m.origin !== 'string' || !ID.test(m.origin)) return { ok: false, reason: 'bad origin ID' };
  if (typeof m.key !== 'string' || !KEY.test(m.key)) return { ok: false, reason: 'bad key' };
  if (typeof m.sig !== 'string') return { ok: false, reason: 'no signature' };
  if (!Number.isSafeInteger(m.at) || Math.abs((m.at as number) - now) > DSRP_MAX_SKEW_MS) return { ok: false, reason: 'stale or future timestamp' };
  const shapeProblem = checkShape(m);
  if (shapeProblem) return { ok: false, reason: shapeProblem };
  const { sig, ...unsigned } = m;
  if (!verifyEd25519(signedBytes(unsigned as Omit<DsrpMessage, 'sig'>), sig, m.key)) return { ok: false, reason: 'bad signature' };
  if (ORIGIN_SIGNED.has(m.type as string) && originIdOf(m.key) !== m.origin) return { ok: false, reason: 'origin ID does not match the signing key' };
  return { ok: true, message: m as unknown as DsrpMessage };
}

/** Messages only the origin sends: signed by the key its origin ID names. */
const ORIGIN_SIGNED = new Set(['sos', 'release', 'trust', 'purge']);
/** Purges name at most this many prefixes; trust messages at most this many marked paths. */
export const MAX_PURGE_PREFIXES = 64;
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const pathPrefix = (v: unknown) => typeof v === 'string' && v.startsWith('/') && v.length <= 512 && !/[\s#]/.test(v);
const b64url = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max && /^[A-Za-z0-9_-]+$/.test(v);

function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 512) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const rate = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e7;
const words = (v: unknown) => typeof v === 'string' && v.length <= 200;

function checkShape(m: Record<string, unknown>): string | undefined {
  switch (m.type) {
    case 'sos':
      if (!isHttpUrl(m.site)) return 'bad site URL';
      if (!isHttpUrl(m.upstream)) return 'bad upstream URL';
      if (typeof m.sip !== 'string' || !/^sips?:/i.test(m.sip) || m.sip.length > 256) return 'bad SIP contact';
      if (!rate(m.wantRps)) return 'bad wantRps';
      if (!rate(m.meanBytes) || (m.meanBytes as number) < 1) return 'bad meanBytes';
      if (m.peers !== undefined && (!Array.isArray(m.peers) || m.peers.length > MAX_PEERS || !m.peers.every(isHttpUrl))) return 'bad peers';
      // Lower-case names with a dot, letters among them: never an address, never a bare label.
      if (m.hosts !== undefined && (!Array.isArray(m.hosts) || m.hosts.length > MAX_HOSTS || !m.hosts.every(isHostName))) return 'bad hosts';
      return undefined;
    case 'accept':
      if (!isHttpUrl(m.http)) return 'bad rescue URL';
      if (m.tls !== undefined) {
        const tls = m.tls as Record<string, unknown> | null;
        if (!tls || typeof tls !== 'object' || !b64url(tls.spki, 400) || typeof tls.https !== 'string' || !/^https:\/\//.test(tls.https) || !isHttpUrl(tls.https)) return 'bad tls';
      }
      if (!rate(m.allowedRps)) return 'bad allowedRps';
      return m.maxRps === undefined || (rate(m.maxRps) && (m.maxRps as number) >= (m.allowedRps as number)) ? undefined : 'bad maxRps';
    case 'trust':
      if (m.host !== undefined || m.chain !== undefined) {
        if (typeof m.host !== 'string' || !HOST_NAME.test(m.host)) return 'bad rescue host name';
        if (!Array.isArray(m.chain) || m.chain.length < 1 || m.chain.length > 4 || !m.chain.every((c) => b64url(c, 8_000))) return 'bad certificate chain';
      }
      if (!Array.isArray(m.dynamic) || m.dynamic.length > MAX_PURGE_PREFIXES || !m.dynamic.every(pathPrefix)) return 'bad dynamic paths';
      return undefined;
    case 'purge':
      if (!Number.isSafeInteger(m.seq) || (m.seq as number) < 1) return 'bad purge sequence number';
      if (!Array.isArray(m.prefixes) || m.prefixes.length < 1 || m.prefixes.length > MAX_PURGE_PREFIXES || !m.prefixes.every(pathPrefix)) return 'bad purge prefixes';
      return undefined;
    case 'reject':
    case 'shutdown':
      return words(m.reason) ? undefined : 'bad reason';
    case 'release':
      return undefined;
    case 'load':
      if (!rate(m.allowedRps) || !rate(m.served) || !rate(m.hits)) return 'bad load figures';
      if (m.maxRps !== undefined && !(rate(m.maxRps) && (m.maxRps as number) >= (m.allowedRps as number))) return 'bad maxRps';
      if ((m.byName !== undefined && !rate(m.byName)) || (m.refusedHosts !== undefined && !rate(m.refusedHosts))) return 'bad load figures';
      if (m.purgeSeq !== undefined && !(Number.isSafeInteger(m.purgeSeq) && (m.purgeSeq as number) >= 0)) return 'bad purgeSeq';
      if (m.purgesRefused !== undefined && !rate(m.purgesRefused)) return 'bad purgesRefused';
      return typeof m.load === 'number' && Number.isFinite(m.load) && m.load >= 0 ? undefined : 'bad load';
    default:
      return `unknown DSRP message type ${String(m.type)}`;
  }
}
