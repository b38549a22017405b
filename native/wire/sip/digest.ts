// SIP digest authentication (RFC 3261 22.4, with RFC 8760's algorithms): the challenge a server
// sends in WWW-Authenticate, the credentials a client answers with in Authorization, and the
// response both compute (RFC 7616 3.4.1). Headers arrive parsed by the codec as
// { scheme, name: value } with quoted values still in their quotes.
import { createHash } from 'node:crypto';

/** RFC 8760 3: SHA-256 and SHA-512-256 beside MD5 (RFC 3261's only one). */
export type DigestAlgorithm = 'MD5' | 'SHA-256' | 'SHA-512-256';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-512-256', 'SHA-256', 'MD5'];

const HASH: Record<DigestAlgorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  opaque?: string;
  /** RFC 3261 22.4 / RFC 7616 3.3: the nonce was good but old; ask again without asking the user. */
  stale?: boolean;
}

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  /** With qop=auth (the only protection we offer) the client's nonce and its request count. */
  qop?: 'auth';
  cnonce?: string;
  nc?: string;
  opaque?: string;
}

type HeaderValue = Record<string, unknown>;

const unquote = (value: unknown): string | undefined => {
  if (typeof value !== 'string') return undefined;
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(value);
  return quoted ? quoted[1].replace(/\\(.)/g, '$1') : value;
};

const quote = (value: string) => `"${value.replace(/(["\\])/g, '\\$1')}"`;

/** A WWW-Authenticate (or Proxy-Authenticate) value as the codec writes it. */
export function challengeHeader(challenge: DigestChallenge): HeaderValue {
  return {
    scheme: 'Digest',
    realm: quote(challenge.realm),
    nonce: quote(challenge.nonce),
    algorithm: challenge.algorithm,
    qop: quote('auth'),
    ...(challenge.opaque !== undefined ? { opaque: quote(challenge.opaque) } : {}),
    ...(challenge.stale ? { stale: 'true' } : {}),
  };
}

/** An Authorization header's digest credentials, or why they cannot be used. */
export function readCredentials(header: HeaderValue): { ok: true; credentials: DigestCredentials } | { ok: false; reason: string } {
  const params = Object.fromEntries(Object.entries(header).map(([k, v]) => [k.toLowerCase(), v]));
  if (String(params.scheme ?? '').toLowerCase() !== 'digest') return { ok: false, reason: 'not Digest credentials' };
  const field = (name: string) => unquote(params[name]);
  const username = field('username');
  const realm = field('realm');
  const nonce = field('nonce');
  const uri = field('uri');
  const response = field('response')?.toLowerCase();
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
    return { ok: false, reason: 'username, realm, nonce, uri and response are required' };
  }
  // RFC 3261 22.4: no algorithm means MD5.
  const algorithmText = field('algorithm') ?? 'MD5';
  const algorithm = DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === algorithmText.toLowerCase());
  if (!algorithm) return { ok: false, reason: `algorithm ${algorithmText} is not supported` };
  if (!/^[0-9a-f]+$/.test(response) || response.length !== digestLength(algorithm)) return { ok: false, reason: 'the response is not a digest of that algorithm' };
  const qop = field('qop');
  if (qop !== undefined && qop.toLowerCase() !== 'auth') return { ok: false, reason: `qop ${qop} is not supported` };
  const cnonce = field('cnonce');
  const nc = field('nc');
  if (qop !== undefined && (cnonce === undefined || nc === undefined || !/^[0-9a-fA-F]{8}$/.test(nc))) {
    return { ok: false, reason: 'qop=auth needs cnonce and an 8-digit nc' };
  }
  const opaque = field('opaque');
  return {
    ok: true,
    credentials: {
      username,
      realm,
      nonce,
      uri,
      response,
      algorithm,
      ...(qop !== undefined ? { qop: 'auth' as const, cnonce, nc: nc!.toLowerCase() } : {}),
      ...(opaque !== undefined ? { opaque } : {}),
    },
  };
}

/** Hex length of a digest: 32 for MD5, 64 for the SHA-2 ones. */
export function digestLength(algorithm: DigestAlgorithm): number {
  return algorithm === 'MD5' ? 32 : 64;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH[algorithm]).update(text, 'utf8').digest('hex');
}

/** H(A1) = H(username:realm:password): what a registrar may keep instead of the password. */
export function digestHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hash(algorithm, `${username}:${realm}:${password}`);
}

/**
 * RFC 7616 3.4.1 (RFC 2617 3.2.2 for MD5): KD(H(A1), nonce:nc:cnonce:qop:H(A2)) with qop,
 * KD(H(A1), nonce:H(A2)) without; A2 = method:uri.
 */
export function digestResponse(input: { algorithm: DigestAlgorithm; ha1: string; method: string; uri: string; nonce: string; qop?: 'auth'; nc?: string; cnonce?: string }): string {
  const ha2 = hash(input.algorithm, `${input.method}:${input.uri}`);
  const middle = input.qop ? `${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}` : input.nonce;
  return hash(input.algorithm, `${input.ha1}:${middle}:${ha2}`);
}
