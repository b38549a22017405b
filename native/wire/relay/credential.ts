// Asking a member for relay credentials: a SIP MESSAGE whose JSON body is signed by the asking
// user's identity key, naming the member it is meant for (so it cannot be replayed elsewhere);
// the member answers in the 200 with a TURN username and password good for a few minutes
// (docs/protocol.md, "Relays").
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';
import { canonicalJson, nestedDeeperThan } from '../overlay/record.js';

export const RELAY_CONTENT_TYPE = 'application/vnd.peerdial.relay+json';
export const RELAY_VERSION = 1;
/** A request older (or further ahead) than this is refused as a replay. */
export const RELAY_MAX_SKEW_MS = 120_000;

export interface CredentialRequest {
  relay: typeof RELAY_VERSION;
  type: 'credential-request';
  /** The asking user's AOR: the member checks that the overlay's name record for it has this key. */
  aor: string;
  /** The member asked: its relay's host:port as advertised. */
  member: string;
  /** When it was signed, ms since the epoch. */
  at: number;
  /** The user's raw Ed25519 public key, base64url. */
  key: string;
  sig: string;
}

export interface CredentialGrant {
  relay: typeof RELAY_VERSION;
  type: 'credential';
  username: string;
  password: string;
  realm: string;
  /** When the credential stops working, ms since the epoch. */
  expires: number;
  /** The TURN server: both transports on one port. */
  address: string;
  port: number;
  transports: ('udp' | 'tcp')[];
}

function signedBytes(request: Omit<CredentialRequest, 'sig'>): Buffer {
  return Buffer.from('peerdial-relay-v1\n' + canonicalJson(request), 'utf8');
}

export function signCredentialRequest(fields: { aor: string; member: string; at: number }, rawPublicKey: Buffer, privateKeyPkcs8: Buffer): CredentialRequest {
  const unsigned: Omit<CredentialRequest, 'sig'> = { relay: RELAY_VERSION, type: 'credential-request', ...fields, key: rawPublicKey.toString('base64url') };
  return { ...unsigned, sig: signEd25519(signedBytes(unsigned), privateKeyPkcs8) };
}

const KEY = /^[A-Za-z0-9_-]{43}$/;

export type DecodedRequest = { ok: true; request: CredentialRequest } | { ok: false; reason: string };

/** Shape, freshness and signature; whether the key owns the AOR is the member's to check in the overlay. */
export function decodeCredentialRequest(body: string, now: number): DecodedRequest {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return { ok: false, reason: 'not an object' };
  // A request is flat; canonicalJson below would overflow the stack on deep nesting.
  if (nestedDeeperThan(m, 4)) return { ok: false, reason: 'nested too deep' };
  if (m.relay !== RELAY_VERSION || m.type !== 'credential-request') return { ok: false, reason: 'not a credential request of a version we speak' };
  if (typeof m.aor !== 'string' || m.aor.length > 256 || !/^sips?:[^@\s]+@[^\s]+$/.test(m.aor)) return { ok: false, reason: 'bad AOR' };
  if (typeof m.member !== 'string' || m.member.length > 128) return { ok: false, reason: 'bad member' };
  if (typeof m.key !== 'string' || !KEY.test(m.key)) return { ok: false, reason: 'bad key' };
  if (typeof m.sig !== 'string') return { ok: false, reason: 'no signature' };
  if (!Number.isSafeInteger(m.at) || Math.abs((m.at as number) - now) > RELAY_MAX_SKEW_MS) return { ok: false, reason: 'stale or future timestamp' };
  const { sig, ...unsigned } = m;
  if (!verifyEd25519(signedBytes(unsigned as Omit<CredentialRequest, 'sig'>), sig, m.key)) return { ok: false, reason: 'bad signature' };
  return { ok: true, request: m as unknown as CredentialRequest };
}

export function decodeCredentialGrant(body: string): CredentialGrant | undefined {
  try {
    const m = JSON.parse(body) as Partial<CredentialGrant>;
    if (m?.relay !== RELAY_VERSION || m.type !== 'credential') return undefined;
    if (typeof m.username !== 'string' || typeof m.password !== 'string' || typeof m.realm !== 'string' || typeof m.address !== 'string') return undefined;
    if (!Number.isSafeInteger(m.expires) || !Number.isInteger(m.port) || m.port! < 1 || m.port! > 65535 || !Array.isArray(m.transports)) return undefined;
    const transports = m.transports.filter((t): t is 'udp' | 'tcp' => t === 'udp' || t === 'tcp');
    return { relay: RELAY_VERSION, type: 'credential', username: m.username, password: m.password, realm: m.realm, expires: m.expires!, address: m.address, port: m.port!, transports };
  } catch {
    return undefined;
  }
}
