// STUN messages (RFC 8489) and the RFC 5780 attributes: a Binding answer captured from coturn
// 4.6.1, round trips, FINGERPRINT, and bytes that are not STUN.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ATTR,
  BINDING,
  attribute,
  decodeAddress,
  decodeChangeRequest,
  decodeErrorCode,
  decodeXorAddress,
  encodeChangeRequest,
  encodeErrorCode,
  encodeXorAddress,
  looksLikeStun,
  parseStun,
  serializeStun,
  unknownRequiredAttributes,
} from '../../../native/wire/stun/message.js';

// coturn 4.6.1 answering a Binding request with transaction ID 0102..0c from 127.0.0.1:40111
// (listening on 127.0.0.1:3478 and 127.0.0.2, so it names its other address).
const COTURN_ANSWER = Buffer.from(
  '010100482112a4420102030405060708090a0b0c002000080001bdbd5e12a4430001000800019caf7f000001802b000800010d967f000001802c000800010d977f00000280220014436f7475726e2d342e362e312027476f72737427',
  'hex',
);

describe('STUN messages', () => {
  it("reads coturn's Binding answer: mapped, origin and other address, software", () => {
    const parsed = parseStun(COTURN_ANSWER);
    assert.ok(parsed.ok);
    const m = parsed.message;
    assert.equal(m.method, BINDING);
    assert.equal(m.klass, 'success');
    assert.deepEqual(decodeXorAddress(attribute(m, ATTR.XOR_MAPPED_ADDRESS)!, m.transactionId), { address: '127.0.0.1', port: 40111 });
    assert.deepEqual(decodeAddress(attribute(m, ATTR.MAPPED_ADDRESS)!), { address: '127.0.0.1', port: 40111 });
    assert.deepEqual(decodeAddress(attribute(m, ATTR.RESPONSE_ORIGIN)!), { address: '127.0.0.1', port: 3478 });
    assert.deepEqual(decodeAddress(attribute(m, ATTR.OTHER_ADDRESS)!), { address: '127.0.0.2', port: 3479 });
    assert.equal(attribute(m, ATTR.SOFTWARE)!.toString(), "Coturn-4.6.1 'Gorst'");
    assert.deepEqual(serializeStun(m), COTURN_ANSWER, 'serialising gives the same bytes back');
  });

  it('round-trips a request with CHANGE-REQUEST and FINGERPRINT, for IPv4 and IPv6 XOR addresses', () => {
    const transactionId = Buffer.from('00112233445566778899aabb', 'hex');
    const bytes = serializeStun(
      {
        method: BINDING,
        klass: 'request',
        transactionId,
        attributes: [
          { type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest({ changeIp: true, changePort: false }) },
          { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress({ address: '2001:db8::1:0:2', port: 5060 }, transactionId) },
          { type: ATTR.SOFTWARE, value: Buffer.from('odd') },
        ],
      },
      { fingerprint: true },
    );
    assert.ok(looksLikeStun(bytes));
    const parsed = parseStun(bytes);
    assert.ok(parsed.ok);
    assert.deepEqual(decodeChangeRequest(attribute(parsed.message, ATTR.CHANGE_REQUEST)!), { changeIp: true, changePort: false });
    assert.deepEqual(decodeXorAddress(attribute(parsed.message, ATTR.XOR_MAPPED_ADDRESS)!, transactionId), { address: '2001:db8::1:0:2', port: 5060 });
    assert.equal(attribute(parsed.message, ATTR.SOFTWARE)!.toString(), 'odd', 'padding is not part of the value');
    assert.equal(parsed.message.attributes.at(-1)!.type, ATTR.FINGERPRINT);
  });

  it('refuses a changed bit under FINGERPRINT, an attribute added after it, bad lengths and truncation', () => {
    const transactionId = Buffer.alloc(12, 7);
    const good = serializeStun({ method: BINDING, klass: 'request', transactionId, attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('abcd') }] }, { fingerprint: true });
    const flipped = Buffer.from(good);
    flipped[25] ^= 1;
    assert.deepEqual(parseStun(flipped), { ok: false, reason: 'bad-fingerprint' });
    // An attribute appended after FINGERPRINT changes the length the CRC covered.
    const after = Buffer.concat([good, Buffer.from('8022000461626364', 'hex')]);
    after.writeUInt16BE(after.length - 20, 2);
    assert.deepEqual(parseStun(after), { ok: false, reason: 'bad-fingerprint' });
    assert.deepEqual(parseStun(good.subarray(0, 10)), { ok: false, reason: 'too-short' });
    assert.deepEqual(parseStun(good.subarray(0, good.length - 4)), { ok: false, reason: 'bad-length' });
    const truncated = Buffer.from('000100082112a442' + '00'.repeat(12) + '80220010' + '61626364', 'hex');
    assert.deepEqual(parseStun(truncated), { ok: false, reason: 'truncated-attribute' });
  });

  it('tells STUN from SIP and RTP by the first bits and the magic cookie (RFC 7983)', () => {
    assert.equal(looksLikeStun(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n')), false);
    assert.equal(looksLikeStun(Buffer.from('80000001000000000000000000000000000000000000', 'hex')), false);
    assert.equal(looksLikeStun(Buffer.from('00010000deadbeef000000000000000000000000', 'hex')), false, 'no magic cookie: an RFC 3489 message or noise');
    assert.equal(looksLikeStun(COTURN_ANSWER), true);
  });

  it('error codes and comprehension-required attributes', () => {
    assert.deepEqual(decodeErrorCode(encodeErrorCode(420, 'Unknown Attribute')), { code: 420, reason: 'Unknown Attribute' });
    const m = { method: BINDING, klass: 'request' as const, transactionId: Buffer.alloc(12), attributes: [{ type: 0x0042, value: Buffer.alloc(0) }, { type: 0x8042, value: Buffer.alloc(0) }] };
    assert.deepEqual(unknownRequiredAttributes(m, []), [0x0042], 'only types below 0x8000 must be understood');
  });
});
