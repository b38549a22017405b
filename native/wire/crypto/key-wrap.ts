// Private keys at rest: wrapped with AES-256-GCM under a key-encryption key (KEK) that comes
// from the user's passphrase by scrypt (RFC 7914), or from a secret the OS keychain keeps (the
// desktop app's safeStorage). Also the identity backup file, the same construction with its own
// scrypt salt, for moving an identity to a new computer.
//
//   wrapped = 0x01 || nonce (12) || AES-256-GCM(KEK, nonce, aad = label, key) || tag (16)
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEK_BYTES = 32;

/** scrypt's cost: 2^15 with r = 8 takes about 0.1 s and 32 MiB here, once per start or backup. */
export interface KdfParams {
  salt: string;
  N: number;
  r: number;
  p: number;
}

const DEFAULT_COST = { N: 2 ** 15, r: 8, p: 1 };
const MAX_COST_N = 2 ** 20;

export function newKdfParams(): KdfParams {
  return { salt: randomBytes(16).toString('base64url'), ...DEFAULT_COST };
}

/** The parameters stored as JSON text (identity.kdf), or undefined when they are not sane. */
export function parseKdfParams(text: string): KdfParams | undefined {
  try {
    return kdfParamsOf(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function kdfParamsOf(value: unknown): KdfParams | undefined {
  const p = (value ?? {}) as Partial<KdfParams>;
  const ok =
    typeof p.salt === 'string' && /^[\w-]{16,64}$/.test(p.salt) && Number.isInteger(p.N) && p.N! >= 2 ** 10 && p.N! <= MAX_COST_N && (p.N! & (p.N! - 1)) === 0 && Number.isInteger(p.r) && p.r! >= 1 && p.r! <= 32 && Number.isInteger(p.p) && p.p! >= 1 && p.p! <= 16;
  return ok ? { salt: p.salt!, N: p.N!, r: p.r!, p: p.p! } : undefined;
}

export function deriveKek(secret: string, params: KdfParams): Buffer {
  return scryptSync(secret.normalize('NFKC'), Buffer.from(params.salt, 'base64url'), KEK_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 });
}

/** `label` names what the key is for, so a wrapped key cannot be moved to another slot. */
export function wrapKey(key: Buffer, kek: Buffer, label: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(label));
  const body = Buffer.concat([cipher.update(key), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), nonce, body, cipher.getAuthTag()]);
}

/** The key, or undefined for a wrong KEK or a damaged blob. */
export function unwrapKey(wrapped: Buffer, kek: Buffer, label: string): Buffer | undefined {
  if (wrapped.length < 1 + NONCE_BYTES + TAG_BYTES || wrapped[0] !== VERSION) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(1, 1 + NONCE_BYTES));
    decipher.setAAD(Buffer.from(label));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
    return Buffer.concat([decipher.update(wrapped.subarray(1 + NONCE_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** What an identity backup holds: the whole identity, keys included. */
export interface IdentityBackupContent {
  displayName: string;
  userName: string;
  /** base64url of DER: SPKI public, PKCS#8 private (Ed25519); raw public and PKCS#8 private (X25519). */
  publicKey: string;
  privateKey: string;
  x25519Public?: string;
  x25519Private?: string;
  createdAt: number;
}

const BACKUP_FORMAT = 'peerdial-identity-backup';
const BACKUP_LABEL = 'peerdial-identity-backup-v1';

/** The backup file's text: JSON with the scrypt parameters and the sealed identity. */
export function sealIdentityBackup(content: IdentityBackupContent, passphrase: string): string {
  const kdf = newKdfParams();
  const sealed = wrapKey(Buffer.from(JSON.stringify(content)), deriveKek(passphrase, kdf), BACKUP_LABEL);
  return JSON.stringify({ format: BACKUP_FORMAT, version: 1, kdf, sealed: sealed.toString('base64url') }, null, 2) + '\n';
}

export type OpenedBackup = { ok: true; content: IdentityBackupContent } | { ok: false; reason: 'not-a-backup' | 'wrong-passphrase' };

export function openIdentityBackup(text: string, passphrase: string): OpenedBackup {
  let file: { format?: unknown; version?: unknown; kdf?: unknown; sealed?: unknown };
  try {
    file = JSON.parse(text) as typeof file;
  } catch {
    return { ok: false, reason: 'not-a-backup' };
  }
  const kdf = file && typeof file === 'object' ? kdfParamsOf(file.kdf) : undefined;
  if (file?.format !== BACKUP_FORMAT || file.version !== 1 || !kdf || typeof file.sealed !== 'string') return { ok: false, reason: 'not-a-backup' };
  const opened = unwrapKey(Buffer.from(file.sealed, 'base64url'), deriveKek(passphrase, kdf), BACKUP_LABEL);
  if (!opened) return { ok: false, reason: 'wrong-passphrase' };
  try {
    const c = JSON.parse(opened.toString('utf8')) as IdentityBackupContent;
    const strings = [c.displayName, c.userName, c.publicKey, c.privateKey].every((v) => typeof v === 'string');
    return strings && Number.isSafeInteger(c.createdAt) ? { ok: true, content: c } : { ok: false, reason: 'not-a-backup' };
  } catch {
    return { ok: false, reason: 'not-a-backup' };
  }
}
