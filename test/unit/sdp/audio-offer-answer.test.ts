import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answer, createOffer, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { answerDirection } from '../../../native/wire/sdp/direction.js';

const alice: LocalMedia = { address: '127.0.0.1', port: 40000, codecs: ['PCMU', 'PCMA'], telephoneEvent: true, direction: 'sendrecv', sessionId: '42', sessionVersion: 1 };
const bob: LocalMedia = { address: '127.0.0.2', port: 42000, codecs: ['PCMA', 'PCMU'], telephoneEvent: true, direction: 'sendrecv' };

/** A typical offer from another SIP phone, with CRLF line ends. */
function foreignOffer(lines: string[]): string {
  return ['v=0', 'o=bob 1 1 IN IP4 192.0.2.5', 's=call', 't=0 0', ...lines].join('\r\n') + '\r\n';
}

function mediaLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith('m='));
}

describe('SDP offer', () => {
  it('offers-pcmu-pcma-and-telephone-event-at-20-ms', () => {
    const sdp = createOffer(alice);
    assert.match(sdp, /^v=0\r\n/);
    assert.match(sdp, /^o=- 42 1 IN IP4 127\.0\.0\.1$/m);
    assert.match(sdp, /^c=IN IP4 127\.0\.0\.1$/m);
    assert.deepEqual(mediaLines(sdp), ['m=audio 40000 RTP/AVP 0 8 101']);
    assert.match(sdp, /^a=rtpmap:101 telephone-event\/8000$/m);
    assert.match(sdp, /^a=fmtp:101 0-16$/m);
    assert.match(sdp, /^a=ptime:20$/m);
    assert.match(sdp, /^a=sendrecv$/m);
  });

  it('writes-ip6-connection-lines-for-ipv6-addresses', () => {
    const sdp = createOffer({ ...alice, address: '::1' });
    assert.match(sdp, /^c=IN IP6 ::1$/m);
  });

  it('marks-a-hold-offer-sendonly', () => {
    assert.match(createOffer({ ...alice, direction: 'sendonly' }), /^a=sendonly$/m);
  });
});

describe('SDP with wideband codecs', () => {
  const wide: LocalMedia = { ...alice, codecs: ['opus', 'G722', 'PCMU', 'PCMA'] };

  it('offers-opus-first-then-g722-pcmu-pcma-with-an-event-type-on-each-clock', () => {
    const sdp = createOffer(wide);
    assert.deepEqual(mediaLines(sdp), ['m=audio 40000 RTP/AVP 111 9 0 8 101 110']);
    // RFC 7587 7: opus/48000/2 whatever is sent; RFC 3551 4.5.2: G.722's RTP clock is 8000.
    assert.match(sdp, /^a=rtpmap:111 opus\/48000\/2$/m);
    assert.match(sdp, /^a=fmtp:111 .*useinbandfec=1/m);
    assert.match(sdp, /^a=fmtp:111 .*usedtx=1/m);
    assert.match(sdp, /^a=rtpmap:9 G722\/8000$/m);
    assert.match(sdp, /^a=rtpmap:101 telephone-event\/8000$/m);
    assert.match(sdp, /^a=rtpmap:110 telephone-event\/48000$/m);
  });

  it('answers-opus-with-the-telephone-event-on-its-48-khz-clock', () => {
    const result = answer(createOffer(wide), { ...bob, codecs: ['opus', 'PCMU'] });
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'opus', payloadType: 111 });
    assert.equal(result.telephoneEventPayloadType, 110);
    assert.deepEqual(mediaLines(result.sdp), ['m=audio 42000 RTP/AVP 111 110']);
    assert.equal(result.peerTakesDtx, true, 'our own offer asks for DTX');
    const back = readAnswer(result.sdp, wide);
    assert.ok(back.ok);
    assert.deepEqual([back.codec.name, back.telephoneEventPayloadType, back.peerTakesDtx], ['opus', 110, true]);
  });

  it('takes-a-phones-opus-on-its-own-payload-type-and-its-only-event-type', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 96 9 0 101', 'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 stereo=1;sprop-stereo=1', 'a=rtpmap:101 telephone-event/8000']);
    const result = answer(offer, { ...bob, codecs: ['opus', 'G722', 'PCMU'] });
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'opus', payloadType: 96 });
    assert.equal(result.telephoneEventPayloadType, 101);
    assert.equal(result.peerTakesDtx, undefined, 'no usedtx=1: no DTX toward this phone (RFC 7587 6.1)');
  });

  it('does-not-take-opus-that-is-not-48000-2-nor-g722-at-16000', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 96 97 0', 'a=rtpmap:96 opus/48000', 'a=rtpmap:97 G722/16000']);
    const result = answer(offer, { ...bob, codecs: ['opus', 'G722', 'PCMU'] });
    assert.ok(result.ok);
    assert.equal(result.codec.name, 'PCMU');
  });

  it('takes-g722-on-its-static-type-without-an-rtpmap', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 9 0']);
    const result = answer(offer, { ...bob, codecs: ['G722', 'PCMU'] });
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'G722', payloadType: 9 });
    assert.match(result.sdp, /^a=rtpmap:9 G722\/8000$/m);
  });
});

describe('SDP answer', () => {
  it('accepts-our-own-offer-with-the-offerers-first-codec-and-its-event-type', () => {
    const result = answer(createOffer(alice), bob);
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'PCMU', payloadType: 0 });
    assert.equal(result.telephoneEventPayloadType, 101);
    assert.equal(result.remoteAddress, '127.0.0.1');
    assert.equal(result.remotePort, 40000);
    assert.equal(result.direction, 'sendrecv');
    assert.deepEqual(mediaLines(result.sdp), ['m=audio 42000 RTP/AVP 0 101']);
    const back = readAnswer(result.sdp, alice);
    assert.ok(back.ok);
    assert.deepEqual([back.codec.name, back.telephoneEventPayloadType, back.remoteAddress, back.remotePort, back.direction], ['PCMU', 101, '127.0.0.2', 42000, 'sendrecv']);
  });

  it('skips-offered-codecs-it-does-not-speak', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 9 18 8 96', 'a=rtpmap:96 telephone-event/8000']);
    const result = answer(offer, bob);
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'PCMA', payloadType: 8 });
    assert.equal(result.telephoneEventPayloadType, 96, 'the dynamic type is the offerer\'s');
    assert.deepEqual(mediaLines(result.sdp), ['m=audio 42000 RTP/AVP 8 96']);
  });

  it('recognises-g711-on-a-dynamic-payload-type-by-its-rtpmap', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 97', 'a=rtpmap:97 pcmu/8000']);
    const result = answer(offer, bob);
    assert.ok(result.ok);
    assert.deepEqual(result.codec, { name: 'PCMU', payloadType: 97 });
    assert.equal(result.telephoneEventPayloadType, undefined);
    assert.doesNotMatch(result.sdp, /telephone-event/);
  });

  it('refuses-an-offer-with-no-common-codec-so-the-caller-can-send-488', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 9 111', 'a=rtpmap:111 opus/48000/2']);
    const result = answer(offer, bob);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, 'no-common-codec');
  });

  it('takes-the-media-level-connection-over-the-session-level-one', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 0', 'c=IN IP4 198.51.100.7']);
    const result = answer(offer, bob);
    assert.ok(result.ok);
    assert.equal(result.remoteAddress, '198.51.100.7');
  });

  it('uses-a-session-level-connection-when-the-media-has-none', () => {
    const result = answer(foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/AVP 0']), bob);
    assert.ok(result.ok);
    assert.equal(result.remoteAddress, '192.0.2.5');
    assert.equal(result.remotePort, 5004);
  });

  it('keeps-one-m-line-per-offered-stream-and-refuses-video-with-port-0', () => {
    const offer = foreignOffer(['c=IN IP4 192.0.2.5', 'm=video 5006 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 5004 RTP/AVP 0']);
    const result = answer(offer, bob);
    assert.ok(result.ok);
    assert.deepEqual(mediaLines(result.sdp), ['m=video 0 RTP/AVP 96', 'm=audio 42000 RTP/AVP 0']);
  });

  it('refuses-an-offer-whose-only-audio-stream-is-already-rejected', () => {
    const result = answer(foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 0 RTP/AVP 0']), bob);
    assert.equal(!result.ok && result.code, 'no-audio-stream');
  });

  it('refuses-secure-rtp-profiles-it-cannot-do', () => {
    const result = answer(foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 5004 RTP/SAVP 0']), bob);
    assert.equal(!result.ok && result.code, 'no-audio-stream');
  });

  it('answers-a-hold-offer-recvonly', () => {
    const result = answer(createOffer({ ...alice, direction: 'sendonly' }), bob);
    assert.ok(result.ok);
    assert.equal(result.direction, 'recvonly');
    assert.match(result.sdp, /^a=recvonly$/m);
    const back = readAnswer(result.sdp, { ...alice, direction: 'sendonly' });
    assert.ok(back.ok);
    assert.equal(back.direction, 'sendonly');
  });

  it('honours-a-session-level-direction-attribute', () => {
    const result = answer(foreignOffer(['c=IN IP4 192.0.2.5', 'a=inactive', 'm=audio 5004 RTP/AVP 0']), bob);
    assert.ok(result.ok);
    assert.equal(result.direction, 'inactive');
  });

  it('treats-connection-address-0-0-0-0-as-legacy-hold', () => {
    const result = answer(foreignOffer(['c=IN IP4 0.0.0.0', 'm=audio 5004 RTP/AVP 0']), bob);
    assert.ok(result.ok);
    assert.equal(result.direction, 'recvonly');
  });

  it('puts-its-own-hold-into-the-answer', () => {
    const result = answer(createOffer(alice), { ...bob, direction: 'sendonly' });
    assert.ok(result.ok);
    assert.equal(result.direction, 'sendonly');
  });

  it('returns-a-typed-refusal-for-junk-instead-of-throwing', () => {
    for (const junk of ['', 'hello', '\u0000\u0001\u0002', 'v=0\r\nm=audio notaport RTP/AVP\r\n', 'v=0\nm=\n', 'v=0\r\nc=IN IP4\r\nm=audio 1 RTP/AVP 0\r\n']) {
      const result = answer(junk, bob);
      assert.equal(result.ok, false, JSON.stringify(junk));
      assert.equal(readAnswer(junk, alice).ok, false);
    }
  });

  it('reads-a-refused-answer-as-no-audio', () => {
    const refused = foreignOffer(['c=IN IP4 192.0.2.5', 'm=audio 0 RTP/AVP 0']);
    const result = readAnswer(refused, alice);
    assert.equal(!result.ok && result.code, 'no-audio-stream');
  });
});

describe('RFC 3264 6.1 direction rules', () => {
  it('answers-each-offered-direction-within-what-the-rfc-allows', () => {
    assert.equal(answerDirection('sendonly', 'sendrecv'), 'recvonly');
    assert.equal(answerDirection('recvonly', 'sendrecv'), 'sendonly');
    assert.equal(answerDirection('inactive', 'sendrecv'), 'inactive');
    assert.equal(answerDirection('sendrecv', 'sendrecv'), 'sendrecv');
    assert.equal(answerDirection('sendrecv', 'recvonly'), 'recvonly');
    assert.equal(answerDirection('sendonly', 'sendonly'), 'inactive');
  });
});
