// The configuration a node offers to its LAN ("Share my settings with this LAN"): a JSON
// document signed by the offering user's Ed25519 key, versioned, carried in NOTIFY bodies of
// the `peerdial-config` event package. The signature covers, under its own context line, the
// canonical JSON of every field but `sig`, so it can be checked wherever the document travels.
import { canonicalJson, nestedDeeperThan } from '../overlay/record.js';
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';

/** RFC 6665 event package name, in Event and Allow-Events. */
export const CONFIG_OFFER_EVENT = 'peerdial-config';
export const CONFIG_OFFER_CONTENT_TYPE = 'application/vnd.peerdial.config+json';
/** A document larger than this is refused unread (it would not be one settings page). */
export const MAX_OFFER_BYTES = 16 * 1024;
const SIGNING_CONTEXT = 'peerdial-config-v1';
const DOCUMENT_TYPE = 'peerdial-config';

const LIMITS = { addresses: 16, relays: 8, text: 128, name: 64, aor: 256 };

/**
 * The settings an offer carries: the same shape as SharedConfig in services/lan-view.ts, kept
 * apart because the renderer type-checks that file and must not reach node:crypto through it.
 */
export interface OfferedConfig {
  overlay?: string;
  bootstrap?: string[];
  stun?: string[];
  turn?: Array<{ address: string; username?: string; password?: string }>;
  rescue?: { enabled: boolean; donateMbit?: number; donateGbPerDay?: number; cacheMb?: number };
  callerPolicy?: 'anyone' | 'buddies';
}

export interface OfferSigner {
  /** Raw Ed25519 public key, base64url (43 characters). */
  key: string;
  /** What the signer calls themself; a claim, shown beside the key's fingerprint. */
  name?: string;
  aor?: string;
}

export interface ConfigOfferDocument {
  type: typeof DOCUMENT_TYPE;
  signer: OfferSigner;
  /** Grows with every change the signer makes. */
  version: number;
  /** Milliseconds since the epoch when it was signed. */
  issuedAt: number;
  config: OfferedConfig;
  /** Ed25519 signature, base64url, over signingBytes(). */
  sig: string;
}

export type UnsignedConfigOffer = Omit<ConfigOfferDocument, 'sig' | 'type'>;

export type ConfigOfferReading =
  | { kind: 'valid'; offer: ConfigOfferDocument }
  | { kind: 'malformed'; reason: string }
  | { kind: 'unsigned' }
  /** Tampered after signing, or signed by a key other than the one it names. */
  | { kind: 'bad-signature' };

function signingBytes(fields: Record<string, unknown>): Buffer {
  const { sig: _sig, ...signed } = fields;
  return Buffer.from(SIGNING_CONTEXT + '\n' + canonicalJson(signed), 'utf8');
}

export function signConfigOffer(offer: UnsignedConfigOffer, privateKeyPkcs8: Buffer): ConfigOfferDocument {
  const unsigned = { type: DOCUMENT_TYPE, ...offer } as const;
  return { ...unsigned, sig: signEd25519(signingBytes(unsigned), privateKeyPkcs8) };
}

/** The NOTIFY body: canonical JSON, so the bytes are the same wherever it is re-encoded. */
export function encodeConfigOffer(offer: ConfigOfferDocument): string {
  return canonicalJson(offer);
}

/** Reads a NOTIFY body: shape first, then the signature under the key the document names, then the settings. */
export function readConfigOffer(body: string): ConfigOfferReading {
  if (Buffer.byteLength(body, 'utf8') > MAX_OFFER_BYTES) return { kind: 'malformed', reason: 'too large' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'malformed', reason: 'not JSON' };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { kind: 'malformed', reason: 'not an object' };
  // Offers nest 4 levels (config, turn, a relay); canonicalJson below would overflow the stack on deep nesting.
  if (nestedDeeperThan(parsed, 8)) return { kind: 'malformed', reason: 'nested too deep' };
  const d = parsed as Record<string, unknown>;
  if (d.type !== DOCUMENT_TYPE) return { kind: 'malformed', reason: 'not a configuration offer' };
  const signer = checkSigner(d.signer);
  if (typeof signer === 'string') return { kind: 'malformed', reason: signer };
  if (!Number.isSafeInteger(d.version) || (d.version as number) < 1) return { kind: 'malformed', reason: 'bad version' };
  if (!Number.isSafeInteger(d.issuedAt) || (d.issuedAt as number) < 0) return { kind: 'malformed', reason: 'bad issuedAt' };
  if (d.sig === undefined) return { kind: 'unsigned' };
  if (typeof d.sig !== 'string' || !verifyEd25519(signingBytes(d), d.sig, signer.key)) return { kind: 'bad-signature' };
  const config = checkOfferedConfig(d.config);
  if (typeof config === 'string') return { kind: 'malformed', reason: config };
  return { kind: 'valid', offer: { type: DOCUMENT_TYPE, signer, version: d.version as number, issuedAt: d.issuedAt as number, config, sig: d.sig } };
}

function checkSigner(input: unknown): OfferSigner | string {
  if (!input || typeof input !== 'object') return 'no signer';
  const s = input as Record<string, unknown>;
  if (typeof s.key !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(s.key)) return 'bad signer key';
  if (s.name !== undefined && !isText(s.name, LIMITS.name)) return 'bad signer name';
  if (s.aor !== undefined && (!isText(s.aor, LIMITS.aor) || !/^sips?:[^\s<>"]+$/i.test(s.aor as string))) return 'bad signer AOR';
  return { key: s.key, ...(s.name !== undefined ? { name: s.name as string } : {}), ...(s.aor !== undefined ? { aor: s.aor as string } : {}) };
}

/**
 * Checks settings from an offer (or from the user who shares them) and returns only the known
 * ones, typed, or the first problem as a sentence. Unknown fields are dropped, not refused: a
 * newer signer may offer settings this version does not have.
 */
export function checkOfferedConfig(input: unknown): OfferedConfig | string {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return 'the settings must be an object';
  const c = input as Record<string, unknown>;
  const out: OfferedConfig = {};
  if (c.overlay !== undefined) {
    if (typeof c.overlay !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(c.overlay)) return 'the overlay name must be letters, digits, dots and dashes';
    out.overlay = c.overlay.toLowerCase();
  }
  for (const field of ['bootstrap', 'stun'] as const) {
    const list = c[field];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > LIMITS.addresses || !list.every(isHostPort)) return `${field} must be a list of at most ${LIMITS.addresses} HOST:PORT addresses`;
    out[field] = [...new Set(list as string[])];
  }
  if (c.turn !== undefined) {
    if (!Array.isArray(c.turn) || c.turn.length > LIMITS.relays) return `turn must be a list of at most ${LIMITS.relays} relays`;
    const relays: NonNullable<OfferedConfig['turn']> = [];
    for (const r of c.turn as unknown[]) {
      const relay = r as Record<string, unknown> | null;
      if (!relay || typeof relay !== 'object' || !isHostPort(relay.address)) return 'each TURN relay needs an address HOST:PORT';
      if (relay.username !== undefined && !isText(relay.username, LIMITS.text)) return 'a TURN user name is text of at most 128 characters';
      if (relay.password !== undefined && !isText(relay.password, LIMITS.text)) return 'a TURN password is text of at most 128 characters';
      relays.push({ address: relay.address as string, ...(relay.username !== undefined ? { username: relay.username as string } : {}), ...(relay.password !== undefined ? { password: relay.password as string } : {}) });
    }
    out.turn = relays;
  }
  if (c.rescue !== undefined) {
    const r = c.rescue as Record<string, unknown> | null;
    if (!r || typeof r !== 'object' || typeof r.enabled !== 'boolean') return 'the rescue policy must say whether it is enabled';
    const rescue: NonNullable<OfferedConfig['rescue']> = { enabled: r.enabled };
    for (const k of ['donateMbit', 'donateGbPerDay', 'cacheMb'] as const) {
      if (r[k] === undefined) continue;
      if (typeof r[k] !== 'number' || !Number.isFinite(r[k]) || r[k] < 0 || r[k] > 1_000_000) return `rescue ${k} must be a number from 0 to 1000000`;
      rescue[k] = r[k];
    }
    out.rescue = rescue;
  }
  if (c.callerPolicy !== undefined) {
    if (c.callerPolicy !== 'anyone' && c.callerPolicy !== 'buddies') return 'the caller policy must be "anyone" or "buddies"';
    out.callerPolicy = c.callerPolicy;
  }
  return out;
}

function isText(v: unknown, max: number): boolean {
  return typeof v === 'string' && v.length > 0 && v.length <= max && !/[\u0000-\u001f]/.test(v);
}

/** host:port with a DNS name, IPv4 address or [IPv6] address, and a port from 1 to 65535. */
function isHostPort(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 261) return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(v);
  return !!m && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}
