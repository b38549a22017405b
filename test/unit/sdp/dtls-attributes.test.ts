import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answer, createOffer, offeredMediaKey, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { answerSetup, fingerprintOf, parseFingerprint, type DtlsFingerprint } from '../../../native/wire/sdp/dtls-attributes.js';
import { looksLikeDtls } from '../../../native/wire/rtp/demultiplex.js';
import { looksLikeRtcp } from '../../../native/wire/rtp/rtp-packet.js';

const ours: DtlsFingerprint = fingerprintOf(Buffer.from('our certificate'));
const theirs: DtlsFingerprint = fingerprintOf(Buffer.from('their certificate'));
const node: LocalMedia = { address: '127.0.0.1', port: 40000, codecs: ['PCMU', 'PCMA'], telephoneEvent: true, direction: 'sendrecv' };

/** An offer shaped like baresip's: setup and fingerprint at session level, SAVPF, no rtcp-mux. */
function phoneOffer(extra: { sessionLevel?: boolean; mux?: boolean; setup?: string; hash?: string } = {}): string {
  const dtls = [`a=setup:${extra.setup ?? 'actpass'}`, `a=fingerprint:${extra.hash ?? 'SHA-256'} ${theirs.value}`];
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.2', 's=-', 'c=IN IP4 127.0.0.2', 't=0 0', ...(extra.sessionLevel ? dtls : []), 'm=audio 42000 UDP/TLS/RTP/SAVPF 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...(extra.sessionLevel ? [] : dtls), ...(extra.mux ? ['a=rtcp-mux'] : []), 'a=sendrecv', ''].join('\r\n');
}

describe('DTLS-SRTP in SDP (RFC 5763, RFC 8122)', () => {
  it('writes and reads fingerprints as RFC 8122 does, sha-256 only', () => {
    assert.match(ours.value, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.deepEqual(parseFingerprint('SHA-256', theirs.value.toLowerCase()), theirs);
    assert.match(parseFingerprint('sha-1', '00:11') as string, /sha-256 only/);
    assert.match(parseFingerprint('sha-256', '00:11') as string, /32 hex pairs/);
  });

  it('answers actpass with active (we start the handshake), and active with passive', () => {
    assert.equal(answerSetup('actpass'), 'active');
    assert.equal(answerSetup('passive'), 'active');
    assert.equal(answerSetup('active'), 'passive');
    assert.equal(answerSetup(undefined), 'passive', 'RFC 4145 4: no setup means active');
  });

  for (const sessionLevel of [false, true]) {
    it(`takes a phone's offer with setup and fingerprint at ${sessionLevel ? 'session' : 'media'} level, echoing its profile`, () => {
      const offer = phoneOffer({ sessionLevel, mux: true });
      const offered = offeredMediaKey(offer);
      assert.equal(offered.kind, 'dtls');
      assert.deepEqual((offered as { offered: unknown }).offered, { setup: 'actpass', fingerprint: theirs });
      const result = answer(offer, { ...node, dtls: { setup: 'active', fingerprint: ours } });
      assert.ok(result.ok);
      assert.deepEqual(result.dtls, { setup: 'active', peerFingerprint: theirs });
      assert.equal(result.rtcpMux, true);
      assert.match(result.sdp, /m=audio 40000 UDP\/TLS\/RTP\/SAVPF 0 101/);
      assert.match(result.sdp, /a=setup:active/);
      assert.match(result.sdp, new RegExp(`a=fingerprint:sha-256 ${ours.value}`));
      assert.match(result.sdp, /a=rtcp-mux/);
    });
  }

  it('does not answer rtcp-mux the phone did not offer', () => {
    const result = answer(phoneOffer(), { ...node, dtls: { setup: 'active', fingerprint: ours } });
    assert.ok(result.ok);
    assert.equal(result.rtcpMux, false);
    assert.doesNotMatch(result.sdp, /rtcp-mux/);
  });

  it('refuses what it cannot check: a sha-1 fingerprint, a holdconn setup', () => {
    assert.match(JSON.stringify(offeredMediaKey(phoneOffer({ hash: 'sha-1' }))), /sha-256 only/);
    assert.match(JSON.stringify(offeredMediaKey(phoneOffer({ setup: 'holdconn' }))), /not a role/);
  });

  it('offers actpass with rtcp-mux, and reads the role the answer leaves us', () => {
    const local: LocalMedia = { ...node, dtls: { setup: 'actpass', fingerprint: ours } };
    const offer = createOffer(local);
    assert.match(offer, /m=audio 40000 UDP\/TLS\/RTP\/SAVP 0 8 101/);
    assert.match(offer, /a=setup:actpass/);
    assert.match(offer, /a=rtcp-mux/);
    const phoneAnswer = phoneOffer({ setup: 'active', mux: true });
    const read = readAnswer(phoneAnswer, local);
    assert.ok(read.ok);
    assert.deepEqual(read.dtls, { setup: 'passive', peerFingerprint: theirs });
    assert.equal(read.rtcpMux, true);
    const actpass = readAnswer(phoneOffer({ setup: 'actpass' }), local);
    assert.equal(actpass.ok, false, 'an answer must choose a role');
    const plain = readAnswer(phoneOffer().replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP'), local);
    assert.equal(plain.ok === false && plain.code, 'not-secured', 'a plain answer to a DTLS-SRTP offer is not secured');
  });
});

describe('media port demultiplexing (RFC 7983)', () => {
  it('tells a DTLS record from RTP and RTCP', () => {
    const clientHello = Buffer.from('16fefd000000000000000000ce010000c2', 'hex');
    assert.equal(looksLikeDtls(clientHello), true);
    assert.equal(looksLikeRtcp(clientHello), false, 'not taken for RTCP');
    const rtp = Buffer.from('8000000100000000deadbeef00000000', 'hex');
    assert.equal(looksLikeDtls(rtp), false);
    assert.equal(looksLikeDtls(Buffer.from('0001000c2112a442', 'hex')), false, 'STUN is not DTLS');
  });
});
