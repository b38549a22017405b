import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateX25519KeyPair } from '../../../native/wire/crypto/x25519.js';
import { openSealedMessage, sealMessage, type SealedMessage } from '../../../native/wire/im/sealed-message.js';

function signer() {
  const pair = generateKeyPairSync('ed25519');
  return { publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url'), privateKey: pair.privateKey };
}

const ann = signer();
const mallory = signer();
const ben = generateX25519KeyPair();
const message: SealedMessage = { from: 'sip:ann@peerdial', to: 'sip:ben@peerdial', toKey: 'b'.repeat(43), callId: 'c1@host', at: 1700000000000, type: 'text/plain;charset=UTF-8', body: 'meet at 6' };

describe('sealed messages (application/vnd.peerdial.sealed)', () => {
  it('opens for the recipient under the sender\'s key, with every field as sealed', () => {
    const body = sealMessage(message, ann, ben.publicKey);
    assert.match(body, /^[A-Za-z0-9_-]+$/);
    assert.ok(!Buffer.from(body, 'base64url').toString('latin1').includes('meet at 6'), 'the text is not in the clear');
    assert.deepEqual(openSealedMessage(body, ben.privateKey, ann.publicKey), { ok: true, message });
  });

  it('does not open for someone else, under another sender\'s key, or altered; says why', () => {
    const body = sealMessage(message, ann, ben.publicKey);
    assert.deepEqual(openSealedMessage(body, generateX25519KeyPair().privateKey, ann.publicKey), { ok: false, reason: 'undecryptable' });
    assert.deepEqual(openSealedMessage(body, ben.privateKey, mallory.publicKey), { ok: false, reason: 'undecryptable' }, 'the sender key is in the sealing context');
    const bytes = Buffer.from(body, 'base64url');
    bytes[bytes.length - 20] ^= 1;
    assert.deepEqual(openSealedMessage(bytes.toString('base64url'), ben.privateKey, ann.publicKey), { ok: false, reason: 'undecryptable' });
    assert.deepEqual(openSealedMessage('not base64 at all!', ben.privateKey, ann.publicKey), { ok: false, reason: 'malformed' });
    assert.deepEqual(openSealedMessage('A'.repeat(200_000), ben.privateKey, ann.publicKey), { ok: false, reason: 'malformed' });
  });

  it('a box mallory seals as if from ann, naming ann\'s key in the context, fails the signature', async () => {
    const { signThenSeal } = await import('../../../native/wire/im/signed-envelope.js');
    const forged = signThenSeal('peerdial-message-v1', JSON.stringify({ v: 1, ...message }), { publicKey: ann.publicKey, privateKey: mallory.privateKey }, ben.publicKey);
    assert.deepEqual(openSealedMessage(forged.toString('base64url'), ben.privateKey, ann.publicKey), { ok: false, reason: 'bad-signature' });
  });
});
