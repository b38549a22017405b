// MESSAGE-INTEGRITY and FINGERPRINT against the test vectors of RFC 5769 (2.1 sample request,
// 2.2 sample IPv4 response, both short-term; 2.4 request with long-term credentials), and what
// a changed byte or a wrong password does to them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { longTermKey, shortTermKey, verifyIntegrity } from '../../../native/wire/stun/integrity.js';
import { ATTR, attribute, decodeXorAddress, parseStun, serializeStun } from '../../../native/wire/stun/message.js';

/** The RFC's hex dumps, as printed there (comments and spaces ignored). */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/#[^\n]*/g, '').replace(/\s+/g, ''), 'hex');
}

// RFC 5769 2.1: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME "evtj:h6vY" (padded with spaces), MESSAGE-INTEGRITY, FINGERPRINT.
const SAMPLE_REQUEST = hex(`
  00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74   # SOFTWARE "STUN test client"
  00 24 00 04  6e 00 01 ff                                          # PRIORITY
  80 29 00 08  93 2f f9 b1  51 26 3b 36                             # ICE-CONTROLLED
  00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20                # USERNAME
  00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
  80 28 00 04  e5 7a 3b cf
`);
const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

// RFC 5769 2.2: SOFTWARE "test vector", XOR-MAPPED-ADDRESS 192.0.2.1:32853, MESSAGE-INTEGRITY, FINGERPRINT.
const SAMPLE_IPV4_RESPONSE = hex(`
  01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 08  00 01 a1 47  e1 12 a6 43
  00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
  80 28 00 04  c0 7d 4c 96
`);

// RFC 5769 2.4: USERNAME (UTF-8, six katakana), NONCE, REALM "example.org", MESSAGE-INTEGRITY; no FINGERPRINT.
const LONG_TERM_REQUEST = hex(`
  00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
  00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
  00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46  53 54 76 79  36 34 73 41
  00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
  00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66
`);
const LONG_TERM_USERNAME = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
/** The RFC's password after SASLprep (it maps the soft hyphen away and the ordinal and Roman numeral to letters). */
const LONG_TERM_PASSWORD = 'TheMatrIX';
const REALM = 'example.org';

function parsed(bytes: Buffer) {
  const outcome = parseStun(bytes);
  assert.ok(outcome.ok, `parses: ${outcome.ok ? '' : outcome.reason}`);
  return outcome.message;
}

describe('STUN integrity: RFC 5769 test vectors', () => {
  it('2.1 sample request: the fingerprint holds and MESSAGE-INTEGRITY verifies with the short-term password', () => {
    const message = parsed(SAMPLE_REQUEST);
    assert.equal(attribute(message, ATTR.USERNAME)!.toString(), 'evtj:h6vY');
    assert.equal(attribute(message, ATTR.SOFTWARE)!.toString(), 'STUN test client');
    assert.equal(verifyIntegrity(SAMPLE_REQUEST, shortTermKey(SHORT_TERM_PASSWORD)), 'ok');
  });

  it('2.2 sample IPv4 response: integrity verifies and the XOR-MAPPED-ADDRESS is 192.0.2.1:32853', () => {
    const message = parsed(SAMPLE_IPV4_RESPONSE);
    assert.equal(message.klass, 'success');
    assert.deepEqual(decodeXorAddress(attribute(message, ATTR.XOR_MAPPED_ADDRESS)!, message.transactionId), { address: '192.0.2.1', port: 32853 });
    assert.equal(verifyIntegrity(SAMPLE_IPV4_RESPONSE, shortTermKey(SHORT_TERM_PASSWORD)), 'ok');
  });

  it('2.4 long-term request: the key from the UTF-8 username, realm and SASLprepped password verifies it', () => {
    const message = parsed(LONG_TERM_REQUEST);
    assert.equal(attribute(message, ATTR.USERNAME)!.toString('utf8'), LONG_TERM_USERNAME);
    assert.equal(attribute(message, ATTR.NONCE)!.toString(), 'f//499k954d6OL34oL9FSTvy64sA');
    assert.equal(attribute(message, ATTR.REALM)!.toString(), REALM);
    assert.equal(verifyIntegrity(LONG_TERM_REQUEST, longTermKey(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD)), 'ok');
  });

  it('2.4 long-term request: serializing its attributes with the key gives the RFC bytes back exactly', () => {
    const message = parsed(LONG_TERM_REQUEST);
    const withoutIntegrity = { ...message, attributes: message.attributes.filter((a) => a.type !== ATTR.MESSAGE_INTEGRITY) };
    const again = serializeStun(withoutIntegrity, { integrityKey: longTermKey(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD) });
    assert.equal(again.toString('hex'), LONG_TERM_REQUEST.toString('hex'));
  });

  it('a serialized message verifies with its key, and its fingerprint is accepted by the parser', () => {
    const key = longTermKey('alice', 'peerdial.test', 'secret');
    const bytes = serializeStun(
      { method: 0x003, klass: 'request', transactionId: Buffer.alloc(12, 7), attributes: [{ type: ATTR.USERNAME, value: Buffer.from('alice') }] },
      { integrityKey: key, fingerprint: true },
    );
    parsed(bytes);
    assert.equal(verifyIntegrity(bytes, key), 'ok');
  });
});

describe('STUN integrity: tampering', () => {
  it('a changed USERNAME byte fails the HMAC (and, where present, the fingerprint)', () => {
    const tampered = Buffer.from(LONG_TERM_REQUEST);
    tampered[24] ^= 0x01; // first byte of the USERNAME value
    parsed(tampered);
    assert.equal(verifyIntegrity(tampered, longTermKey(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD)), 'bad');

    const withFingerprint = Buffer.from(SAMPLE_REQUEST);
    withFingerprint[SAMPLE_REQUEST.indexOf('evtj') + 1] ^= 0x01;
    const outcome = parseStun(withFingerprint);
    assert.deepEqual(outcome, { ok: false, reason: 'bad-fingerprint' });
    assert.equal(verifyIntegrity(withFingerprint, shortTermKey(SHORT_TERM_PASSWORD)), 'bad');
  });

  it('a changed header (transaction ID) fails the HMAC', () => {
    const tampered = Buffer.from(LONG_TERM_REQUEST);
    tampered[10] ^= 0x80;
    assert.equal(verifyIntegrity(tampered, longTermKey(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD)), 'bad');
  });

  it('a changed HMAC byte, the wrong password, or the unprepared password are refused', () => {
    const tampered = Buffer.from(LONG_TERM_REQUEST);
    tampered[tampered.length - 1] ^= 0xff;
    assert.equal(verifyIntegrity(tampered, longTermKey(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD)), 'bad');
    assert.equal(verifyIntegrity(LONG_TERM_REQUEST, longTermKey(LONG_TERM_USERNAME, REALM, 'TheMatrix')), 'bad');
    assert.equal(verifyIntegrity(LONG_TERM_REQUEST, longTermKey(LONG_TERM_USERNAME, REALM, 'The\u00adM\u00aatr\u2168')), 'bad');
    assert.equal(verifyIntegrity(SAMPLE_REQUEST, shortTermKey('VOkJxbRl1RmTxUk/WvJxBT')), 'bad');
  });

  it('a message without MESSAGE-INTEGRITY says so', () => {
    const message = parsed(SAMPLE_REQUEST);
    const bare = serializeStun({ ...message, attributes: message.attributes.filter((a) => a.type === ATTR.USERNAME) });
    assert.equal(verifyIntegrity(bare, shortTermKey(SHORT_TERM_PASSWORD)), 'missing');
  });
});
