import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { answer, createOffer, offeredMediaKey, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { generateX25519KeyPair } from '../../../native/wire/crypto/x25519.js';
import { checkMediaKey, deriveCallSrtpKeys, formatMediaKey, parseMediaKey, signMediaKey, type MediaKeyContext } from '../../../native/wire/sdp/media-key.js';

function user() {
  const pair = generateKeyPairSync('ed25519');
  return {
    identity: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url'),
    identityPrivateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

const ann = user();
const ben = user();
const context: MediaKeyContext = { callId: 'abc@host', callerAor: 'sip:ann@peerdial', calleeAor: 'sip:ben@peerdial' };

function agreement() {
  const annEphemeral = generateX25519KeyPair();
  const benEphemeral = generateX25519KeyPair();
  const offerKey = signMediaKey('caller', context, { ephemeral: annEphemeral.publicKey.toString('base64url'), ...ann });
  const answerKey = signMediaKey('callee', context, { ephemeral: benEphemeral.publicKey.toString('base64url'), ...ben }, offerKey.ephemeral);
  return { annEphemeral, benEphemeral, offerKey, answerKey };
}

describe('signed end-to-end media keys (a=peerdial-srtp)', () => {
  it('round-trips through its attribute text, and refuses text that is not one', () => {
    const { offerKey } = agreement();
    const text = formatMediaKey(offerKey);
    assert.match(text, /^peerdial-srtp:1 AES_CM_128_HMAC_SHA1_80 [\w-]{43} [\w-]{43} [\w-]{86}$/);
    assert.deepEqual(parseMediaKey(text), offerKey);
    for (const bad of ['peerdial-srtp:1 AES_CM_128_HMAC_SHA1_80 short x y', text.replace(/ [\w-]{86}$/, ' ' + 'A'.repeat(85)), 'crypto:1 AES_CM_128_HMAC_SHA1_80 inline:xyz']) {
      assert.equal(parseMediaKey(bad), undefined, bad);
    }
  });

  it('each side checks the other\'s signature over this call; the answer is bound to the offer', () => {
    const { offerKey, answerKey } = agreement();
    assert.deepEqual(checkMediaKey(offerKey, 'caller', context, ann.identity), { ok: true });
    assert.deepEqual(checkMediaKey(answerKey, 'callee', context, ben.identity, offerKey.ephemeral), { ok: true });
    assert.equal((checkMediaKey(offerKey, 'caller', context, ben.identity) as { problem: string }).problem, 'wrong-key');
    assert.equal((checkMediaKey(offerKey, 'caller', { ...context, callId: 'other@host' }, ann.identity) as { problem: string }).problem, 'signature');
    assert.equal((checkMediaKey(offerKey, 'caller', { ...context, calleeAor: 'sip:cat@peerdial' }, ann.identity) as { problem: string }).problem, 'signature');
    assert.equal((checkMediaKey(offerKey, 'callee', context, ann.identity, offerKey.ephemeral) as { problem: string }).problem, 'signature', 'a caller key does not pass as an answer');
    const otherOffer = agreement().offerKey;
    assert.equal((checkMediaKey(answerKey, 'callee', context, ben.identity, otherOffer.ephemeral) as { problem: string }).problem, 'signature', 'an answer to another offer');
    assert.equal((checkMediaKey({ ...offerKey, suite: 'AEAD_AES_256_GCM' }, 'caller', context, ann.identity) as { problem: string }).problem, 'suite');
    assert.equal((checkMediaKey({ ...offerKey, version: 2 }, 'caller', context, ann.identity) as { problem: string }).problem, 'version');
  });

  it('both ends derive the same keys, a different one each way and for each call', () => {
    const { annEphemeral, benEphemeral, offerKey, answerKey } = agreement();
    const atAnn = deriveCallSrtpKeys('caller', annEphemeral.privateKey, offerKey.ephemeral, answerKey.ephemeral, context.callId);
    const atBen = deriveCallSrtpKeys('callee', benEphemeral.privateKey, offerKey.ephemeral, answerKey.ephemeral, context.callId);
    assert.deepEqual(atAnn.send, atBen.receive);
    assert.deepEqual(atAnn.receive, atBen.send);
    assert.notDeepEqual(atAnn.send.key, atAnn.receive.key);
    assert.equal(atAnn.send.key.length, 16);
    assert.equal(atAnn.send.salt.length, 14);
    const again = deriveCallSrtpKeys('caller', annEphemeral.privateKey, offerKey.ephemeral, answerKey.ephemeral, 'another@host');
    assert.notDeepEqual(again.send.key, atAnn.send.key);
    // A small-order point (all zeros) would give an all-zero secret: refused.
    assert.throws(() => deriveCallSrtpKeys('caller', annEphemeral.privateKey, offerKey.ephemeral, Buffer.alloc(32).toString('base64url'), context.callId), /not a usable/);
  });
});

describe('an encrypted stream in offer and answer (RTP/SAVP)', () => {
  const local: LocalMedia = { address: '127.0.0.1', port: 40000, codecs: ['PCMU', 'PCMA'], telephoneEvent: true, direction: 'sendrecv' };

  it('offers RTP/SAVP with the key; the answer keeps both, and each side reads the other\'s key', () => {
    const { offerKey, answerKey } = agreement();
    const offer = createOffer({ ...local, mediaKey: offerKey });
    assert.match(offer, /^m=audio 40000 RTP\/SAVP 0 8 101$/m);
    assert.ok(offer.includes(`a=${formatMediaKey(offerKey)}\r\n`));
    assert.deepEqual(offeredMediaKey(offer), { kind: 'key', key: offerKey });
    const answered = answer(offer, { ...local, port: 42000, mediaKey: answerKey });
    assert.ok(answered.ok);
    assert.deepEqual(answered.peerMediaKey, offerKey);
    assert.match(answered.sdp, /^m=audio 42000 RTP\/SAVP 0 101$/m);
    const read = readAnswer(answered.sdp, { ...local, mediaKey: offerKey });
    assert.ok(read.ok);
    assert.deepEqual(read.peerMediaKey, answerKey);
  });

  it('a plain answer to an encrypted offer is refused, and so are half-encrypted offers', () => {
    const { offerKey } = agreement();
    const plainAnswer = answer(createOffer(local), { ...local, port: 42000 });
    assert.ok(plainAnswer.ok);
    const read = readAnswer(plainAnswer.sdp, { ...local, mediaKey: offerKey });
    assert.equal(read.ok, false);
    assert.equal((read as { code: string }).code, 'not-secured');
    assert.deepEqual(offeredMediaKey(createOffer(local)), { kind: 'none' });
    const keyOnPlainStream = createOffer({ ...local, mediaKey: offerKey }).replace('RTP/SAVP', 'RTP/AVP');
    assert.deepEqual(offeredMediaKey(keyOnPlainStream), { kind: 'malformed' });
    const savpWithoutKey = createOffer(local).replace('RTP/AVP', 'RTP/SAVP');
    assert.deepEqual(offeredMediaKey(savpWithoutKey), { kind: 'malformed' });
    // Without a key of ours (a phone's SDES offer, say), an RTP/SAVP stream is refused, not answered in the clear.
    assert.equal(answer(savpWithoutKey, local).ok, false);
  });
});
