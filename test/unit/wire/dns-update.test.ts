// DNS UPDATE (RFC 2136) with TSIG (RFC 8945): the bytes of an update, its signature, the
// server's answer read and checked, key flags and files read, and every failure said in words.
// The TSIG MAC is recomputed here from the RFC's layout, apart from the code under test; the
// netns test (rescue-dns) runs the same code against a real knot.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeName, encodeUpdate, explainUpdateFailure, parseTsigKey, parseTsigKeyFile, parseUpdateResponse, signTsig, type TsigKey } from '../../../native/wire/dns/update.js';

const KEY: TsigKey = { name: 'peerdial-origin', algorithm: 'hmac-sha256', secret: Buffer.from('0123456789abcdef0123456789abcdef') };
const NOW = 1_800_000_000;

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
function time48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}
/** RFC 8945 4.3.3's TSIG variables, written out here independently. */
function variables(key: TsigKey, time: number, error = 0): Buffer {
  return Buffer.concat([encodeName(key.name), u16(255), Buffer.alloc(4), encodeName(key.algorithm), time48(time), u16(300), u16(error), u16(0)]);
}

/** A server's answer: header, the zone section echoed, and a TSIG signed as RFC 8945 5.3 says (or unsigned with an error). */
function answer(id: number, rcode: number, requestMac: Buffer, options: { key?: TsigKey; tsigError?: number; unsigned?: boolean; tamper?: boolean } = {}): Buffer {
  const key = options.key ?? KEY;
  const zone = Buffer.concat([encodeName('example.test'), u16(6), u16(1)]);
  const head = Buffer.concat([u16(id), u16(0x8000 | (5 << 11) | rcode), u16(1), u16(0), u16(0), u16(0)]);
  const message = Buffer.concat([head, zone]);
  const mac = options.unsigned ? Buffer.alloc(0) : createHmac('sha256', key.secret).update(Buffer.concat([u16(requestMac.length), requestMac, message, variables(key, NOW + 1, options.tsigError ?? 0)])).digest();
  const rdata = Buffer.concat([encodeName(key.algorithm), time48(NOW + 1), u16(300), u16(mac.length), mac, u16(id), u16(options.tsigError ?? 0), u16(0)]);
  const tsig = Buffer.concat([encodeName(key.name), u16(250), u16(255), Buffer.alloc(4), u16(rdata.length), rdata]);
  const out = Buffer.concat([message, tsig]);
  out.writeUInt16BE(1, 10);
  if (options.tamper) out[13] ^= 1;
  return out;
}

describe('DNS UPDATE with TSIG', () => {
  it('an update names the zone, deletes one address with class NONE and adds one with its TTL', () => {
    const m = encodeUpdate({ id: 0x1234, zone: 'Example.Test.', add: [{ name: 'www.example.test', address: '10.0.0.7', ttl: 30 }], remove: [{ name: 'www.example.test', address: '2001:db8::1', ttl: 30 }] });
    assert.equal(m.readUInt16BE(0), 0x1234);
    assert.equal((m.readUInt16BE(2) >> 11) & 0xf, 5, 'opcode UPDATE');
    assert.deepEqual([m.readUInt16BE(4), m.readUInt16BE(6), m.readUInt16BE(8), m.readUInt16BE(10)], [1, 0, 2, 0], 'one zone, no prerequisites, two updates');
    const zone = encodeName('example.test');
    assert.deepEqual(m.subarray(12, 12 + zone.length), zone, 'names are lower-cased, without the trailing dot twice');
    assert.equal(m.readUInt16BE(12 + zone.length), 6, 'the zone section asks SOA');
    let o = 12 + zone.length + 4;
    const www = encodeName('www.example.test');
    o += www.length;
    assert.deepEqual([m.readUInt16BE(o), m.readUInt16BE(o + 2), m.readUInt32BE(o + 4), m.readUInt16BE(o + 8)], [28, 254, 0, 16], 'delete: AAAA, class NONE, TTL 0');
    assert.equal(m.subarray(o + 10, o + 26).toString('hex'), '20010db8000000000000000000000001');
    o += 26 + www.length;
    assert.deepEqual([m.readUInt16BE(o), m.readUInt16BE(o + 2), m.readUInt32BE(o + 4), m.readUInt16BE(o + 8)], [1, 1, 30, 4], 'add: A, class IN, TTL 30');
    assert.deepEqual([...m.subarray(o + 10, o + 14)], [10, 0, 0, 7]);
    assert.equal(m.length, o + 14);
  });

  it('an IPv4-mapped IPv6 address and a zone index are written as sixteen bytes', () => {
    const m = encodeUpdate({ id: 1, zone: 'example.test', add: [{ name: 'a.example.test', address: '::ffff:192.0.2.1', ttl: 5 }, { name: 'a.example.test', address: 'fe80::1%eth0', ttl: 5 }], remove: [] });
    const hex = m.toString('hex');
    assert.ok(hex.includes('00000000000000000000ffffc0000201'));
    assert.ok(hex.includes('fe800000000000000000000000000001'));
  });

  it('refuses names and addresses that are not ones', () => {
    assert.throws(() => encodeUpdate({ id: 1, zone: 'example.test', add: [{ name: 'a.example.test', address: 'not-an-address', ttl: 5 }], remove: [] }), /not an IP address/);
    assert.throws(() => encodeName(`${'a'.repeat(64)}.example`), /1 to 63 characters/);
    assert.throws(() => encodeName('a..example'), /1 to 63 characters/);
  });

  it('the TSIG record covers the message and the RFC 8945 variables with the key\'s HMAC', () => {
    const unsigned = encodeUpdate({ id: 77, zone: 'example.test', add: [{ name: 'www.example.test', address: '10.0.0.7', ttl: 30 }], remove: [] });
    const { message, mac } = signTsig(unsigned, KEY, NOW);
    assert.equal(message.readUInt16BE(10), 1, 'ARCOUNT counts the TSIG');
    assert.deepEqual(message.subarray(12, unsigned.length), unsigned.subarray(12), 'the message itself is unchanged');
    const expected = createHmac('sha256', KEY.secret).update(Buffer.concat([unsigned, variables(KEY, NOW)])).digest();
    assert.deepEqual(mac, expected);
    assert.ok(message.subarray(unsigned.length).includes(expected), 'the MAC is in the TSIG record');
    const name = encodeName(KEY.name);
    const rr = message.subarray(unsigned.length);
    assert.deepEqual(rr.subarray(0, name.length), name);
    assert.deepEqual([rr.readUInt16BE(name.length), rr.readUInt16BE(name.length + 2)], [250, 255], 'type TSIG, class ANY');
  });

  it('reads a signed NOERROR answer and checks its MAC over the request MAC', () => {
    const { mac } = signTsig(encodeUpdate({ id: 9, zone: 'example.test', add: [], remove: [] }), KEY, NOW);
    const parsed = parseUpdateResponse(answer(9, 0, mac), KEY, mac);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.response, { id: 9, rcode: 0, tsigError: 0, signed: 'verified', serverTime: NOW + 1 });
    assert.equal(explainUpdateFailure(parsed.response, KEY, 'example.test', NOW), undefined);
  });

  it('an answer altered on the way, or signed for another request, does not verify', () => {
    const { mac } = signTsig(encodeUpdate({ id: 9, zone: 'example.test', add: [], remove: [] }), KEY, NOW);
    const altered = parseUpdateResponse(answer(9, 0, mac, { tamper: true }), KEY, mac);
    assert.ok(altered.ok);
    assert.equal(altered.response.signed, 'bad');
    assert.match(explainUpdateFailure(altered.response, KEY, 'example.test', NOW)!, /does not verify/);
    const other = parseUpdateResponse(answer(9, 0, Buffer.alloc(32, 1)), KEY, mac);
    assert.ok(other.ok);
    assert.equal(other.response.signed, 'bad');
  });

  it('says what a refused update means: bad secret, unknown key, clock, ACL, zone', () => {
    const { mac } = signTsig(encodeUpdate({ id: 3, zone: 'example.test', add: [], remove: [] }), KEY, NOW);
    const explain = (rcode: number, tsigError = 0) => {
      const parsed = parseUpdateResponse(answer(3, rcode, mac, { tsigError, unsigned: tsigError !== 0 }), KEY, mac);
      assert.ok(parsed.ok);
      return explainUpdateFailure(parsed.response, KEY, 'example.test', NOW);
    };
    assert.match(explain(9, 16)!, /BADSIG.*secret of key "peerdial-origin" differs/);
    assert.match(explain(9, 17)!, /does not accept TSIG key "peerdial-origin" \(hmac-sha256\) for zone example\.test \(BADKEY\)/);
    assert.match(explain(9, 18)!, /clock.*BADTIME, server \+1 s/);
    assert.match(explain(5)!, /REFUSED.*may not update zone example\.test/);
    assert.match(explain(9)!, /not authoritative for zone example\.test/);
    assert.match(explain(10)!, /NOTZONE/);
  });

  it('junk is a reason, never a throw', () => {
    const mac = Buffer.alloc(32);
    for (const bytes of [Buffer.alloc(3), Buffer.from('0009' + '8000' + '0000000000000000', 'hex'), Buffer.from('0009a800000100000000000003666f6f', 'hex')]) {
      const parsed = parseUpdateResponse(bytes, KEY, mac);
      assert.equal(parsed.ok, false);
    }
    // A compression pointer that points at itself.
    const looping = Buffer.concat([Buffer.from('0009a80000010000000000010000', 'hex').subarray(0, 12), Buffer.from([0xc0, 12, 0, 6, 0, 1]), Buffer.from([0xc0, 0x12])]);
    assert.doesNotThrow(() => parseUpdateResponse(looping, KEY, mac));
  });

  it('reads keys from the command line and from tsig-keygen and keymgr files, and says what is wrong with a bad one', () => {
    const secret = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
    assert.deepEqual(parseTsigKey(`Peerdial-Origin:HMAC-SHA256:${secret}`), { name: 'peerdial-origin', algorithm: 'hmac-sha256', secret: Buffer.from(secret, 'base64') });
    assert.equal(parseTsigKey(`hmac-sha512:peerdial-origin:${secret}`).algorithm, 'hmac-sha512', 'nsupdate -y order');
    assert.equal(parseTsigKeyFile(`key "peerdial-origin" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`).name, 'peerdial-origin');
    assert.equal(parseTsigKeyFile(`# hmac-sha256:peerdial-origin:...\nkey:\n  - id: peerdial-origin\n    algorithm: hmac-sha256\n    secret: ${secret}\n`).algorithm, 'hmac-sha256');
    assert.throws(() => parseTsigKey('peerdial-origin'), /NAME:ALGORITHM:SECRET/);
    assert.throws(() => parseTsigKey(`peerdial-origin:hmac-md5:${secret}`), /unknown TSIG algorithm "hmac-md5"/);
    assert.throws(() => parseTsigKey('peerdial-origin:hmac-sha256:c2hvcnQ='), /5 bytes: use at least 16/);
    assert.throws(() => parseTsigKey('peerdial-origin:hmac-sha256:not base64!'), /must be base64/);
    assert.throws(() => parseTsigKeyFile('hello\nworld\n'), /not a TSIG key file/);
  });
});
