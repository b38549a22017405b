// X25519 key agreement keys (RFC 7748) kept as raw 32-byte public keys on the wire and PKCS#8
// DER at rest, the same way the identity's Ed25519 keys are kept.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** RFC 8410 SPKI header of an X25519 public key; the raw key follows it. */
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface X25519KeyPair {
  /** Raw 32-byte public key. */
  publicKey: Buffer;
  /** PKCS#8 DER private key. */
  privateKey: Buffer;
}

export function generateX25519KeyPair(): X25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: rawX25519PublicKey(publicKey), privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

export function x25519PublicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new RangeError('an X25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function x25519PrivateKey(pkcs8: Buffer | KeyObject): KeyObject {
  return Buffer.isBuffer(pkcs8) ? createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) : pkcs8;
}

export function rawX25519PublicKey(key: KeyObject): Buffer {
  const spki = key.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

/** The public half of a stored private key. */
export function x25519PublicOf(privateKey: Buffer | KeyObject): Buffer {
  return rawX25519PublicKey(createPublicKey(x25519PrivateKey(privateKey)));
}
