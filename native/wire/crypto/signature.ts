// Ed25519 signatures (RFC 8032) by an identity key, with public keys as raw 32 bytes in
// base64url, as the overlay's records carry them.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PublicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** base64url signature of `bytes` by a PKCS#8 DER (or already loaded) Ed25519 private key. */
export function signEd25519(bytes: Buffer, privateKey: Buffer | KeyObject): string {
  const key = Buffer.isBuffer(privateKey) ? createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }) : privateKey;
  return sign(null, bytes, key).toString('base64url');
}

/** True when `signature` is `signer`'s (raw key, base64url) over exactly `bytes`. */
export function verifyEd25519(bytes: Buffer, signature: string, signer: string): boolean {
  try {
    const raw = Buffer.from(signer, 'base64url');
    const sig = Buffer.from(signature, 'base64url');
    if (raw.length !== 32 || sig.length !== 64) return false;
    return verify(null, bytes, ed25519PublicKeyFromRaw(raw), sig);
  } catch {
    return false;
  }
}
