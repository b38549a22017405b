import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answer, createOffer, offeredMediaKey, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { formatCrypto, newCrypto, parseCrypto, sdesCallKeys, SDES_SUITES, type CryptoAttribute } from '../../../native/wire/sdp/sdes.js';
import { SrtpReceiver, SrtpSender } from '../../../native/wire/srtp/srtp.js';

const node: LocalMedia = { address: '127.0.0.1', port: 40000, codecs: ['PCMU', 'PCMA'], telephoneEvent: true, direction: 'sendrecv' };
// RFC 4568 9.1's own example key: 30 bytes of AES_CM_128_HMAC_SHA1_80 master key and salt.
const RFC_KEY = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';

function phoneOffer(cryptoLines: string[], profile = 'RTP/SAVP'): string {
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.2', 's=-', 'c=IN IP4 127.0.0.2', 't=0 0', `m=audio 42000 ${profile} 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...cryptoLines.map((l) => `a=${l}`), 'a=sendrecv', ''].join('\r\n');
}

describe('SDES crypto attributes (RFC 4568)', () => {
  it('reads the RFC\'s example line and writes it back', () => {
    const parsed = parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20`) as CryptoAttribute;
    assert.equal(parsed.tag, 1);
    assert.equal(parsed.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(parsed.key.length, 16);
    assert.equal(parsed.salt.length, 14);
    assert.equal(formatCrypto(parsed), `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`);
  });

  it('refuses, with a reason, what it cannot take: other suites, short keys, MKIs, several keys, session parameters', () => {
    assert.match(parseCrypto(`1 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY}`) as string, /not one Peerdial speaks/);
    assert.match(parseCrypto('1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=') as string, /30 bytes/);
    assert.match(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20|1:4`) as string, /MKI/);
    assert.match(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY};inline:${RFC_KEY}`) as string, /several/);
    assert.match(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY} UNENCRYPTED_SRTP`) as string, /session parameters/);
    assert.equal(typeof parseCrypto('x AES_CM_128_HMAC_SHA1_80'), 'string');
    // RFC 7714 12: AEAD_AES_128_GCM keys are 16 bytes of key and 12 of salt.
    const gcm = newCrypto(7, 'AEAD_AES_128_GCM');
    assert.deepEqual(parseCrypto(formatCrypto(gcm).slice('crypto:'.length)), gcm);
  });

  it('a phone\'s offer: the lines we can take, in its order; SAVP with none at all is unreadable', () => {
    const offer = phoneOffer([`crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY}`, `crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]);
    const offered = offeredMediaKey(offer);
    assert.equal(offered.kind, 'sdes');
    assert.deepEqual(offered.kind === 'sdes' && offered.offered.map((c) => c.tag), [2]);
    assert.deepEqual(offeredMediaKey(phoneOffer([`crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${RFC_KEY}`])), { kind: 'sdes', offered: [] });
    assert.deepEqual(offeredMediaKey(phoneOffer([])), { kind: 'malformed' });
  });

  it('answers the line it takes by its tag and suite, with a key of its own; the keys protect both ways', () => {
    const offer = phoneOffer([`crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]);
    const own = newCrypto(2, 'AES_CM_128_HMAC_SHA1_80');
    const result = answer(offer, { ...node, sdes: [own] });
    assert.ok(result.ok);
    assert.match(result.sdp, /m=audio 40000 RTP\/SAVP 0 101/);
    assert.ok(result.sdp.includes(`a=${formatCrypto(own)}`));
    assert.equal(result.sdes?.peer.tag, 2);
    // The phone's side reads the answer: it sends under its key, we under ours.
    const phone = { ...node, address: '127.0.0.2', sdes: [result.sdes!.peer] };
    const read = readAnswer(result.sdp, phone);
    assert.ok(read.ok && read.sdes);
    const ours = sdesCallKeys(result.sdes!.own, result.sdes!.peer);
    const theirs = sdesCallKeys(read.sdes.own, read.sdes.peer);
    const rtp = Buffer.concat([Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]), Buffer.alloc(160, 0x55)]);
    const sent = new SrtpSender(ours.send.key, ours.send.salt, ours.suite).protect(rtp);
    const got = new SrtpReceiver(theirs.receive.key, theirs.receive.salt, theirs.suite).unprotect(sent);
    assert.ok(got.ok && got.rtp.equals(rtp));
  });

  it('an answer must take one of our lines: a plain answer or an unknown tag is "not secured"', () => {
    const offered = SDES_SUITES.map((suite, i) => newCrypto(i + 1, suite));
    const offer = createOffer({ ...node, sdes: offered });
    assert.match(offer, /RTP\/SAVP/);
    assert.equal((offer.match(/a=crypto:/g) ?? []).length, 2);
    const plainAnswer = answer(offer.replace('RTP/SAVP', 'RTP/AVP'), { ...node, port: 41000 });
    assert.ok(plainAnswer.ok);
    const plain = readAnswer(plainAnswer.sdp, { ...node, sdes: offered });
    assert.deepEqual(plain.ok ? 'ok' : plain.code, 'not-secured');
    const wrongTag = answer(offer, { ...node, port: 41000, sdes: [newCrypto(9, 'AES_CM_128_HMAC_SHA1_80')] });
    assert.equal(wrongTag.ok, false, 'an answerer cannot take a tag the offer does not have');
    const gcm = answer(offer, { ...node, port: 41000, sdes: [newCrypto(2, 'AEAD_AES_128_GCM')] });
    assert.ok(gcm.ok);
    const read = readAnswer(gcm.sdp, { ...node, sdes: offered });
    assert.ok(read.ok);
    assert.equal(read.sdes?.own.suite, 'AEAD_AES_128_GCM');
  });
});
