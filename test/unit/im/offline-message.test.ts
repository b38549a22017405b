import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sealToRecipient } from '../../../native/wire/crypto/sealed-box.js';
import { generateX25519KeyPair } from '../../../native/wire/crypto/x25519.js';
import { openOfflineMessage, sealOfflineMessage, type OfflineMessage } from '../../../native/wire/im/offline-message.js';
import { newOwner } from '../../sim/records.js';

const bob = newOwner();
const carol = newOwner();
const carolX = generateX25519KeyPair();
const message: OfflineMessage = { from: 'sip:bob@peerdial', to: 'sip:carol@peerdial', toKey: carol.owner, callId: 'c1@127.0.0.1', seq: 7, at: 1_700_000_000_000, text: 'are you there? ✓' };

describe('offline messages (signed by the sender, sealed to the recipient)', () => {
  it('open for the recipient, with every field as the sender wrote it', () => {
    const sealed = sealOfflineMessage(message, { publicKey: bob.owner, privateKey: bob.privateKey }, carolX.publicKey);
    assert.match(sealed, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(openOfflineMessage(sealed, carolX.privateKey, bob.owner), { ok: true, message });
  });

  it('do not open for anyone else', () => {
    const sealed = sealOfflineMessage(message, { publicKey: bob.owner, privateKey: bob.privateKey }, carolX.publicKey);
    assert.deepEqual(openOfflineMessage(sealed, generateX25519KeyPair().privateKey, bob.owner), { ok: false, reason: 'undecryptable' });
  });

  it('do not open when presented as written by another key (the record re-signed by someone else)', () => {
    const sealed = sealOfflineMessage(message, { publicKey: bob.owner, privateKey: bob.privateKey }, carolX.publicKey);
    assert.deepEqual(openOfflineMessage(sealed, carolX.privateKey, newOwner().owner), { ok: false, reason: 'undecryptable' });
  });

  it('are refused when the signature inside is not the named sender key', () => {
    // Mallory seals a message under Bob's key as context but signs it with her own key.
    const mallory = newOwner();
    const forged = sealOfflineMessage(message, { publicKey: bob.owner, privateKey: mallory.privateKey }, carolX.publicKey);
    assert.deepEqual(openOfflineMessage(forged, carolX.privateKey, bob.owner), { ok: false, reason: 'bad-signature' });
  });

  it('are refused when what opens is not a signed envelope', () => {
    const context = Buffer.concat([Buffer.from('peerdial-offline-message-v1'), Buffer.from(bob.owner, 'base64url')]);
    const junk = sealToRecipient(Buffer.from('not json'), carolX.publicKey, context).toString('base64url');
    assert.deepEqual(openOfflineMessage(junk, carolX.privateKey, bob.owner), { ok: false, reason: 'malformed' });
    assert.deepEqual(openOfflineMessage('!!', carolX.privateKey, bob.owner), { ok: false, reason: 'undecryptable' });
  });
});
