// ICE in offers and answers (RFC 8839): our candidates go out and come back intact, an answer to
// an offer without ICE carries none, and what a peer writes badly is left out, not believed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answer, createOffer, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { offeredIceUfrag, offersIce, withIce, type IceDescription } from '../../../native/wire/sdp/ice-attributes.js';

const ice: IceDescription = {
  ufrag: 'abcd1234',
  pwd: 'p4ssw0rd-of-at-least-22-chars',
  candidates: [
    { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '192.168.1.2', port: 40000, type: 'host' },
    { foundation: '2', component: 1, transport: 'udp', priority: 1694498815, address: '203.0.113.7', port: 41000, type: 'srflx', related: { address: '192.168.1.2', port: 40000 } },
    { foundation: '3', component: 1, transport: 'udp', priority: 16777215, address: '198.51.100.11', port: 50000, type: 'relay', related: { address: '203.0.113.7', port: 41000 } },
  ],
  defaultCandidate: { address: '203.0.113.7', port: 41000 },
};
const plain: LocalMedia = { address: '192.168.1.2', port: 40000, codecs: ['PCMU', 'PCMA'], telephoneEvent: true, direction: 'sendrecv' };

describe('ICE attributes in SDP', () => {
  it('puts candidates, credentials and rtcp-mux in the offer, and c=/m= on the default candidate', () => {
    const offer = createOffer(withIce(plain, ice));
    assert.match(offer, /^a=ice-ufrag:abcd1234\r$/m);
    assert.match(offer, /^a=ice-pwd:p4ssw0rd-of-at-least-22-chars\r$/m);
    assert.match(offer, /^a=rtcp-mux\r$/m);
    assert.match(offer, /^a=candidate:2 1 udp 1694498815 203\.0\.113\.7 41000 typ srflx raddr 192\.168\.1\.2 rport 40000\r$/m);
    assert.match(offer, /^c=IN IP4 203\.0\.113\.7\r$/m);
    assert.match(offer, /^m=audio 41000 RTP\/AVP/m);
    assert.equal(offeredIceUfrag(offer), 'abcd1234');
  });

  it('reads the peer\'s ICE from an answer, candidates intact', () => {
    const answerer = { ...withIce(plain, { ...ice, ufrag: 'zzzz9999' }), address: '10.0.0.5' };
    const result = answer(createOffer(withIce(plain, ice)), answerer);
    assert.ok(result.ok);
    assert.equal(result.ice?.ufrag, 'abcd1234');
    assert.deepEqual(result.ice?.candidates, ice.candidates);
    assert.equal(result.ice?.rtcpMux, true);
    const read = readAnswer(result.sdp, withIce(plain, ice));
    assert.ok(read.ok);
    assert.equal(read.ice?.ufrag, 'zzzz9999');
  });

  it('answers an offer without ICE without ICE (RFC 8839 4.2.1), so a plain phone gets plain SDP', () => {
    const result = answer(createOffer(plain), withIce(plain, ice));
    assert.ok(result.ok);
    assert.equal(result.ice, undefined);
    assert.doesNotMatch(result.sdp, /ice-ufrag|candidate/);
    assert.equal(offersIce(createOffer(plain)), false);
  });

  it('leaves out candidates it cannot use, and ICE with credentials too short to be real', () => {
    const offer = createOffer(withIce(plain, ice))
      .replace('a=candidate:1 1 udp', 'a=candidate:1 2 udp') // RTCP component: we multiplex
      .replace('typ relay', 'typ relay\r\na=candidate:9 1 tcp 5 192.0.2.9 9 typ host\r\na=candidate:8 1 udp 5 peer.local 9 typ host');
    const result = answer(offer, withIce(plain, ice));
    assert.ok(result.ok);
    assert.deepEqual(result.ice?.candidates.map((c) => c.foundation), ['2', '3']);
    const weak = createOffer(withIce(plain, { ...ice, pwd: 'short' }));
    assert.equal(offersIce(weak), false);
  });
});
