import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { openSealed, sealToRecipient, SEALED_OVERHEAD } from '../../../native/wire/crypto/sealed-box.js';
import { signEd25519, verifyEd25519 } from '../../../native/wire/crypto/signature.js';
import { generateX25519KeyPair, x25519PublicOf } from '../../../native/wire/crypto/x25519.js';

const secret = Buffer.from('meet me at the usual place, 7 pm ✓');

describe('sealed box (X25519 + HKDF-SHA256 + AES-256-GCM)', () => {
  it('opens for the recipient with the same context, and hides the text from anyone reading it', () => {
    const bob = generateX25519KeyPair();
    const sealed = sealToRecipient(secret, bob.publicKey, Buffer.from('ctx'));
    assert.equal(sealed.length, secret.length + SEALED_OVERHEAD);
    assert.ok(!sealed.includes(Buffer.from('usual place')), 'the text does not show in the box');
    assert.deepEqual(openSealed(sealed, bob.privateKey, Buffer.from('ctx')), secret);
  });

  it('two seals of the same text differ (fresh ephemeral key and nonce)', () => {
    const bob = generateX25519KeyPair();
    assert.notDeepEqual(sealToRecipient(secret, bob.publicKey), sealToRecipient(secret, bob.publicKey));
  });

  it('does not open with another key', () => {
    const bob = generateX25519KeyPair();
    const eve = generateX25519KeyPair();
    assert.equal(openSealed(sealToRecipient(secret, bob.publicKey), eve.privateKey), undefined);
  });

  it('does not open in another context (a box moved to a record signed by someone else)', () => {
    const bob = generateX25519KeyPair();
    const sealed = sealToRecipient(secret, bob.publicKey, Buffer.from('sender-a'));
    assert.equal(openSealed(sealed, bob.privateKey, Buffer.from('sender-b')), undefined);
  });

  it('detects a change to any part: version, ephemeral key, nonce, ciphertext, tag', () => {
    const bob = generateX25519KeyPair();
    const sealed = sealToRecipient(secret, bob.publicKey);
    for (const offset of [0, 1, 32, 33, 44, 45, 45 + secret.length - 1, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[offset] ^= 0x01;
      assert.equal(openSealed(tampered, bob.privateKey), undefined, `byte ${offset} flipped`);
    }
  });

  it('refuses truncated boxes, garbage and a low-order ephemeral key without throwing', () => {
    const bob = generateX25519KeyPair();
    const sealed = sealToRecipient(secret, bob.publicKey);
    assert.equal(openSealed(sealed.subarray(0, SEALED_OVERHEAD - 1), bob.privateKey), undefined);
    assert.equal(openSealed(Buffer.alloc(0), bob.privateKey), undefined);
    assert.equal(openSealed(Buffer.alloc(200, 7), bob.privateKey), undefined);
    const lowOrder = Buffer.from(sealed);
    lowOrder.fill(0, 1, 33);
    assert.equal(openSealed(lowOrder, bob.privateKey), undefined);
  });

  it('keeps the public key derivable from the stored private key', () => {
    const pair = generateX25519KeyPair();
    assert.deepEqual(x25519PublicOf(pair.privateKey), pair.publicKey);
    assert.equal(pair.publicKey.length, 32);
  });
});

describe('Ed25519 signatures by raw public key', () => {
  it('verify only the signed bytes by the signer', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');
    const sig = signEd25519(secret, privateKey);
    assert.ok(verifyEd25519(secret, sig, raw));
    assert.ok(!verifyEd25519(Buffer.concat([secret, Buffer.of(0)]), sig, raw));
    assert.ok(!verifyEd25519(secret, sig, other));
    assert.ok(!verifyEd25519(secret, 'not-a-signature', raw));
    assert.ok(!verifyEd25519(secret, sig, 'short'));
  });
});
