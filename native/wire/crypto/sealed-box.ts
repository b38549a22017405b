// Sealing bytes to a recipient's X25519 public key, so only the holder of its private key can
// read them (an ECIES-style construction from node:crypto primitives):
//
//   e, E     = a fresh X25519 key pair for this one message
//   shared   = X25519(e, R)                           (RFC 7748 6.1; R = recipient's public key)
//   key      = HKDF-SHA256(ikm = shared, salt = E || R, info = "peerdial-sealed-box-v1", 32)  (RFC 5869)
//   aad      = version || E || R || context
//   sealed   = version (1 byte, 1) || E (32) || nonce (12, random) || AES-256-GCM(key, nonce, aad, plaintext) || tag (16)
//
// A fresh key per message means a nonce is never reused under one key; it is random anyway.
// `context` binds the box to what surrounds it (e.g. the sender's signing key), so a box cut
// out of one record and pasted into another does not open.
import { createCipheriv, createDecipheriv, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { rawX25519PublicKey, x25519PrivateKey, x25519PublicKeyFromRaw, x25519PublicOf } from './x25519.js';

const VERSION = 1;
const INFO = Buffer.from('peerdial-sealed-box-v1');
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_OVERHEAD = 1 + 32 + NONCE_BYTES + TAG_BYTES;

export function sealToRecipient(plaintext: Buffer, recipientPublicKey: Buffer, context: Buffer = Buffer.alloc(0)): Buffer {
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = rawX25519PublicKey(ephemeral.publicKey);
  const key = deriveKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519PublicKeyFromRaw(recipientPublicKey) }), ephemeralPublic, recipientPublicKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(ephemeralPublic, recipientPublicKey, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), ephemeralPublic, nonce, body, cipher.getAuthTag()]);
}

/** The plaintext, or undefined when the box is not for this key, was altered, or is not a box at all. */
export function openSealed(sealed: Buffer, recipientPrivateKey: Buffer | KeyObject, context: Buffer = Buffer.alloc(0)): Buffer | undefined {
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== VERSION) return undefined;
  try {
    const privateKey = x25519PrivateKey(recipientPrivateKey);
    const recipientPublic = x25519PublicOf(privateKey);
    const ephemeralPublic = sealed.subarray(1, 33);
    const nonce = sealed.subarray(33, 33 + NONCE_BYTES);
    const body = sealed.subarray(33 + NONCE_BYTES, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    // OpenSSL refuses a low-order ephemeral key (an all-zero shared secret): that throws here.
    const key = deriveKey(diffieHellman({ privateKey, publicKey: x25519PublicKeyFromRaw(ephemeralPublic) }), ephemeralPublic, recipientPublic);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(associatedData(ephemeralPublic, recipientPublic, context));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}

function deriveKey(shared: Buffer, ephemeralPublic: Buffer, recipientPublic: Buffer): Buffer {
  if (shared.every((b) => b === 0)) throw new Error('low-order X25519 key');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeralPublic, recipientPublic]), INFO, KEY_BYTES));
}

function associatedData(ephemeralPublic: Buffer, recipientPublic: Buffer, context: Buffer): Buffer {
  return Buffer.concat([Buffer.of(VERSION), ephemeralPublic, recipientPublic, context]);
}
