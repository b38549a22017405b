// Time-limited TURN credentials a member gives an overlay identity, in the "TURN REST API" form
// (draft-uberti-behave-turn-rest-00 2.2) that coturn (`use-auth-secret`, `turnutils_uclient -W`)
// and browsers' ICE agents already speak: the username carries its own expiry, and the password
// is derived from it with the member's secret, so the TURN server keeps no per-user state and a
// leaked credential dies on its own. Who may receive one is decided elsewhere (overlay-signed
// requests); this file only makes and checks them.
import { createHmac } from 'node:crypto';

export interface RelayCredential {
  /** `<expiry, unix seconds>:<identity id>`. */
  username: string;
  /** base64 of HMAC-SHA1(secret, username). */
  password: string;
  /** Unix seconds after which passwordFor() refuses the username. */
  expiresAt: number;
}

/** RFC 8489 14.3: USERNAME is under 513 bytes. */
const MAX_USERNAME_BYTES = 512;
const EXPIRY = /^\d{1,12}$/;

export function issueRelayCredential(secret: string | Buffer, identity: string, ttlSeconds: number, nowMs: number): RelayCredential {
  if (!identity || /[\u0000-\u001f\u007f]/.test(identity)) throw new RangeError('a relay credential needs a printable identity id');
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`a relay credential needs a positive lifetime, not ${ttlSeconds}`);
  const expiresAt = Math.floor(nowMs / 1000) + Math.ceil(ttlSeconds);
  const username = `${expiresAt}:${identity}`;
  if (Buffer.byteLength(username) > MAX_USERNAME_BYTES) throw new RangeError('identity id too long for a STUN USERNAME');
  return { username, password: derivePassword(secret, username), expiresAt };
}

/** The username's two parts, or undefined when it is not of our form. */
export function parseRelayUsername(username: string): { expiresAt: number; identity: string } | undefined {
  const colon = username.indexOf(':');
  if (colon <= 0 || colon === username.length - 1 || Buffer.byteLength(username) > MAX_USERNAME_BYTES) return undefined;
  const expiry = username.slice(0, colon);
  if (!EXPIRY.test(expiry)) return undefined;
  return { expiresAt: Number(expiry), identity: username.slice(colon + 1) };
}

/**
 * The password the TURN server checks MESSAGE-INTEGRITY with: undefined for a username that is
 * malformed or past its expiry (the server then answers 401 as for an unknown user).
 */
export function passwordFor(secret: string | Buffer, username: string, nowMs: number): string | undefined {
  const parsed = parseRelayUsername(username);
  if (!parsed || parsed.expiresAt * 1000 <= nowMs) return undefined;
  return derivePassword(secret, username);
}

function derivePassword(secret: string | Buffer, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}
