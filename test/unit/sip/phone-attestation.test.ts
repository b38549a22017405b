import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseSipMessage, type SipRequest, type SipResponse } from '../../../native/wire/sip/message.js';
import { attestPhoneRequest, checkPhoneAttestation, PHONE_ATTESTATION_HEADER, plainOfferForPhone } from '../../../native/wire/sip/phone-attestation.js';

const alice = generateKeyPairSync('ed25519');
const aliceKey = alice.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');
const mallory = generateKeyPairSync('ed25519');

function parse(text: string): SipRequest | SipResponse {
  const parsed = parseSipMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  assert.ok(parsed.kind === 'request' || parsed.kind === 'response');
  return parsed.message;
}

const body = 'Hello bob';
const message = () =>
  parse(
    `MESSAGE sip:bob@192.0.2.7:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\nMax-Forwards: 69\nFrom: <sip:alice@peerdial>;tag=p1\nTo: <sip:bob@peerdial>\nCall-ID: c1@phone\nCSeq: 3 MESSAGE\nContent-Type: text/plain\nContent-Length: ${body.length}\n\n${body}`,
  ) as SipRequest;

describe('a node vouching for its user\'s phone (Peerdial-Phone)', () => {
  it('a request signed by the user\'s key checks out at the far end after the trip, and nothing else does', () => {
    const signed = message();
    signed.headers[PHONE_ATTESTATION_HEADER] = attestPhoneRequest(signed, 1_000_000, alice.privateKey);
    // Serialised and parsed again, as the far end receives it.
    const text = `MESSAGE sip:bob@192.0.2.7:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\nMax-Forwards: 69\nFrom: <sip:alice@peerdial>;tag=p1\nTo: <sip:bob@peerdial>\nCall-ID: c1@phone\nCSeq: 3 MESSAGE\nPeerdial-Phone: ${signed.headers[PHONE_ATTESTATION_HEADER]}\nContent-Type: text/plain\nContent-Length: ${body.length}\n\n${body}`;
    const received = parse(text) as SipRequest;
    assert.equal(checkPhoneAttestation(received, aliceKey, 1_000_000 + 60_000), 'valid');
    assert.equal(checkPhoneAttestation(received, mallory.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url'), 1_000_000), 'invalid', 'another user\'s key');
    assert.equal(checkPhoneAttestation(received, aliceKey, 1_000_000 + 6 * 60_000), 'stale');
    assert.equal(checkPhoneAttestation(message(), aliceKey, 1_000_000), 'absent');
    const changedText = parse(text.replace('Hello bob', 'Hello rob')) as SipRequest;
    assert.equal(checkPhoneAttestation(changedText, aliceKey, 1_000_000), 'invalid', 'the body is covered');
    const otherCall = parse(text.replace('Call-ID: c1@phone', 'Call-ID: c2@phone')) as SipRequest;
    assert.equal(checkPhoneAttestation(otherCall, aliceKey, 1_000_000), 'invalid', 'so is the Call-ID');
    const garbled = parse(text.replace(/sig=\S+/, 'sig=xyz')) as SipRequest;
    assert.equal(checkPhoneAttestation(garbled, aliceKey, 1_000_000), 'invalid');
  });

  it('a phone\'s answer is vouched for over its status, tags and SDP', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    const answer = parse(`SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK2\nFrom: <sip:bob@peerdial>;tag=b1\nTo: <sip:alice@peerdial>;tag=ph\nCall-ID: c9@bob\nCSeq: 1 INVITE\nContent-Type: application/sdp\nContent-Length: ${sdp.length}\n\n${sdp}`) as SipResponse;
    answer.headers[PHONE_ATTESTATION_HEADER] = attestPhoneRequest(answer, 5_000, alice.privateKey);
    assert.equal(checkPhoneAttestation(answer, aliceKey, 5_000), 'valid');
    answer.content = String(answer.content).replace('192.0.2.20', '203.0.113.66');
    assert.equal(checkPhoneAttestation(answer, aliceKey, 5_000), 'invalid', 'media cannot be sent elsewhere');
  });

  it('the offer forked to a phone is the same call in plain RTP/AVP, without the key', () => {
    const offer = 'v=0\r\nm=audio 4000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=peerdial-srtp:1 AES_CM_128_HMAC_SHA1_80 a b c\r\na=sendrecv\r\n';
    assert.equal(plainOfferForPhone(offer), 'v=0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n');
  });
});
