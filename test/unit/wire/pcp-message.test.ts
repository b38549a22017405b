// PCP MAP (RFC 6887 11) as the router sees it: the request's bytes, and every kind of answer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeMapRequest, parseMapResponse } from '../../../native/wire/pcp/message.js';

const nonce = Buffer.from('0102030405060708090a0b0c', 'hex');

/** A response as a router writes it: header (RFC 6887 7.2) then the MAP data (11.1). */
function response(result: number, external = '198.51.100.7', port = 40000): Buffer {
  const out = Buffer.alloc(60);
  out[0] = 2;
  out[1] = 0x81;
  out[3] = result;
  out.writeUInt32BE(3600, 4);
  out.writeUInt32BE(99, 8);
  nonce.copy(out, 24);
  out[36] = 17;
  out.writeUInt16BE(5060, 40);
  out.writeUInt16BE(port, 42);
  out.writeUInt16BE(0xffff, 54);
  external.split('.').forEach((p, i) => (out[56 + i] = Number(p)));
  return out;
}

describe('PCP MAP messages', () => {
  it('a request carries version 2, MAP, the lifetime, our address as IPv4-mapped IPv6, the nonce, UDP, the ports and no suggested address', () => {
    const bytes = encodeMapRequest({ nonce, protocol: 'udp', internalPort: 5060, suggestedPort: 5061, lifetime: 7200, clientAddress: '192.168.1.20' });
    assert.equal(bytes.length, 60);
    assert.equal(bytes[0], 2);
    assert.equal(bytes[1], 1);
    assert.equal(bytes.readUInt32BE(4), 7200);
    assert.equal(bytes.subarray(8, 24).toString('hex'), '00000000000000000000ffffc0a80114');
    assert.ok(bytes.subarray(24, 36).equals(nonce));
    assert.equal(bytes[36], 17);
    assert.equal(bytes.readUInt16BE(40), 5060);
    assert.equal(bytes.readUInt16BE(42), 5061);
    assert.equal(bytes.subarray(44, 60).toString('hex'), '00000000000000000000ffff00000000');
    assert.equal(encodeMapRequest({ nonce, protocol: 'tcp', internalPort: 1, suggestedPort: 0, lifetime: 0, clientAddress: '10.0.0.1' })[36], 6);
  });

  it('refuses to write an IPv6 client address (IPv4 only here)', () => {
    assert.throws(() => encodeMapRequest({ nonce, protocol: 'udp', internalPort: 1, suggestedPort: 1, lifetime: 1, clientAddress: '::1' }), /IPv4/);
  });

  it('reads a success: the external address and port, the lifetime and the nonce', () => {
    const answer = parseMapResponse(response(0));
    assert.ok(answer.ok);
    assert.equal(answer.externalAddress, '198.51.100.7');
    assert.equal(answer.externalPort, 40000);
    assert.equal(answer.internalPort, 5060);
    assert.equal(answer.lifetime, 3600);
    assert.ok(answer.nonce.equals(nonce));
  });

  it('reads a refusal by its RFC 6887 name', () => {
    const answer = parseMapResponse(response(8));
    assert.ok(!answer.ok && 'resultName' in answer);
    assert.equal(answer.resultName, 'NO_RESOURCES');
  });

  it('tells a NAT-PMP-only router (version 0 answer) from a malformed answer', () => {
    assert.deepEqual(parseMapResponse(Buffer.from([0, 0x81, 0, 1, 0, 0, 0, 0])), { ok: false, natPmpOnly: true });
    for (const bad of [Buffer.alloc(3, 2), Buffer.concat([Buffer.from([2, 0x01]), Buffer.alloc(58)]), Buffer.concat([Buffer.from([2, 0x82]), Buffer.alloc(58)]), response(0).subarray(0, 40)]) {
      const answer = parseMapResponse(bad);
      assert.ok(!answer.ok && 'malformed' in answer, JSON.stringify(answer));
    }
    const v6 = response(0);
    v6.writeUInt16BE(0, 54);
    assert.ok(!parseMapResponse(v6).ok);
  });
});
