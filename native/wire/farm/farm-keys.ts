// A server farm's keys, every one derived from the farm's single 32-byte secret with HKDF-SHA256
// (RFC 5869), so holding the secret is being a member: the Ed25519 key that owns the farm users'
// name claims and bindings in the overlay (any member may publish or replace them), the AES key
// that seals what members tell each other, and the farm's ID (a hash of its public key, shown to
// users and announced on the LAN; it says nothing of the secret).
import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';

export const FARM_SECRET_BYTES = 32;
/** DER prefix of a PKCS#8 Ed25519 private key (RFC 8410 7) before its 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface FarmKeys {
  /** 16 hex digits: SHA-256 of the farm's raw public key, cut short. */
  id: string;
  /** Signs the farm users' overlay records. */
  signingKey: KeyObject;
  /** The raw Ed25519 public key, base64url: the owner of the farm users' records. */
  publicKey: string;
  /** AES-256-GCM key for the accounts members send each other. */
  syncKey: Buffer;
}

function derive(secret: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('peerdial-farm'), Buffer.from(info), 32));
}

export function deriveFarmKeys(secret: Buffer): FarmKeys {
  if (secret.length !== FARM_SECRET_BYTES) throw new Error(`a farm secret is ${FARM_SECRET_BYTES} bytes`);
  const signingKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, derive(secret, 'identity-v1')]), format: 'der', type: 'pkcs8' });
  const raw = createPublicKey(signingKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    id: createHash('sha256').update(raw).digest('hex').slice(0, 16),
    signingKey,
    publicKey: Buffer.from(raw).toString('base64url'),
    syncKey: derive(secret, 'sync-v1'),
  };
}

export function isFarmId(text: unknown): text is string {
  return typeof text === 'string' && /^[0-9a-f]{16}$/.test(text);
}
