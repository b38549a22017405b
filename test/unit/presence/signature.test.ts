import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { firstContactUri } from '../../../native/wire/presence/contact-header.js';
import { signPayload, subscribeSigningText, verifyPayload } from '../../../native/wire/presence/signature.js';

function keyPair(): { privateKey: Buffer; raw: string } {
  const pair = generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    raw: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64url'),
  };
}

describe('Peerdial-Signature', () => {
  const alice = keyPair();
  const mallory = keyPair();
  const body = Buffer.from('<presence entity="sip:alice@peerdial"/>');

  it('verifies under the signer\'s key, in the same context, over the same bytes', () => {
    const header = signPayload('peerdial-presence-v1', body, alice.privateKey);
    assert.match(header, /^ed25519 [A-Za-z0-9_-]{86}$/);
    assert.equal(verifyPayload('peerdial-presence-v1', body, header, alice.raw), true);
  });

  it('refuses another key, another context, changed bytes and malformed headers', () => {
    const header = signPayload('peerdial-presence-v1', body, alice.privateKey);
    assert.equal(verifyPayload('peerdial-presence-v1', body, header, mallory.raw), false);
    assert.equal(verifyPayload('peerdial-buddy-v1', body, header, alice.raw), false, 'a presence signature is not a buddy message signature');
    assert.equal(verifyPayload('peerdial-presence-v1', Buffer.concat([body, Buffer.from(' ')]), header, alice.raw), false);
    assert.equal(verifyPayload('peerdial-presence-v1', body, undefined, alice.raw), false);
    assert.equal(verifyPayload('peerdial-presence-v1', body, 'rsa ' + header.slice(8), alice.raw), false);
    assert.equal(verifyPayload('peerdial-presence-v1', body, header, 'short'), false);
  });

  it('a SUBSCRIBE signature binds its Contact: it cannot send presence elsewhere', () => {
    const fields = { from: 'sip:bob@peerdial', to: 'sip:alice@peerdial', callId: 'c1', cseq: 1, expires: 120, contact: 'sip:bob@192.0.2.1:5060' };
    const header = signPayload('peerdial-subscribe-v1', subscribeSigningText(fields), alice.privateKey);
    assert.equal(verifyPayload('peerdial-subscribe-v1', subscribeSigningText(fields), header, alice.raw), true);
    assert.equal(verifyPayload('peerdial-subscribe-v1', subscribeSigningText({ ...fields, contact: 'sip:eve@192.0.2.66:5060' }), header, alice.raw), false);
    assert.equal(verifyPayload('peerdial-subscribe-v1', subscribeSigningText({ ...fields, cseq: 2 }), header, alice.raw), false);
  });
});

describe('Contact header URI', () => {
  it('takes the first entry, parsed or as text', () => {
    assert.equal(firstContactUri([{ uri: 'sip:a@192.0.2.1:5060', params: {} }, { uri: 'sip:b@h' }]), 'sip:a@192.0.2.1:5060');
    assert.equal(firstContactUri('"A" <sip:a@h;transport=tcp>;expires=60'), 'sip:a@h;transport=tcp');
    assert.equal(firstContactUri(undefined), undefined);
    assert.equal(firstContactUri([]), undefined);
  });
});
