import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DigestNonces } from '../../../native/proto/sip/digest-nonces.js';
import { challengeHeader, digestHa1, digestResponse, readCredentials } from '../../../native/wire/sip/digest.js';

describe('digest responses (RFC 2617, RFC 7616, RFC 8760)', () => {
  it('matches RFC 2617\'s example with qop=auth (MD5)', () => {
    const ha1 = digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const response = digestResponse({ algorithm: 'MD5', ha1, method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', nc: '00000001', cnonce: '0a4f113b' });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  it('matches RFC 2069\'s example without qop (MD5)', () => {
    const ha1 = digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife');
    assert.equal(digestResponse({ algorithm: 'MD5', ha1, method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' }), '1949323746fe6a43ef61f9606e7febea');
  });

  it('matches curl\'s SHA-256 digest without qop', () => {
    const ha1 = digestHa1('SHA-256', 'testuser', 'testrealm', 'testpass');
    assert.equal(digestResponse({ algorithm: 'SHA-256', ha1, method: 'GET', uri: '/2061', nonce: '1053604145' }), '9dc55255f1a2537b838311674b621d45346b862a81631bb20e4ce356ef25062d');
  });
});

describe('digest headers', () => {
  it('writes a challenge with quoted realm and nonce, qop auth, and stale when asked', () => {
    assert.deepEqual(challengeHeader({ realm: 'peerdial', nonce: 'abc', algorithm: 'SHA-256', stale: true }), {
      scheme: 'Digest',
      realm: '"peerdial"',
      nonce: '"abc"',
      algorithm: 'SHA-256',
      qop: '"auth"',
      stale: 'true',
    });
  });

  it('reads credentials as the codec parses them, MD5 when no algorithm is named', () => {
    const read = readCredentials({ scheme: 'Digest', username: '"alice"', realm: '"peerdial"', nonce: '"n1"', uri: '"sip:peerdial"', response: '"6629fae49393a05397450978507c4ef1"', qop: 'auth', nc: '00000001', cnonce: '"c1"' });
    assert.deepEqual(read, { ok: true, credentials: { username: 'alice', realm: 'peerdial', nonce: 'n1', uri: 'sip:peerdial', response: '6629fae49393a05397450978507c4ef1', algorithm: 'MD5', qop: 'auth', cnonce: 'c1', nc: '00000001' } });
  });

  it('refuses credentials it cannot check, with the reason', () => {
    const base = { scheme: 'Digest', username: '"alice"', realm: '"peerdial"', nonce: '"n1"', uri: '"sip:peerdial"', response: '"6629fae49393a05397450978507c4ef1"' };
    assert.deepEqual(readCredentials({ ...base, scheme: 'Basic' }), { ok: false, reason: 'not Digest credentials' });
    assert.equal(readCredentials({ ...base, username: undefined }).ok, false);
    assert.match((readCredentials({ ...base, algorithm: 'SHA-1' }) as { reason: string }).reason, /SHA-1 is not supported/);
    // A SHA-256 response is 64 hex digits: an MD5-length one is refused.
    assert.match((readCredentials({ ...base, algorithm: 'SHA-256' }) as { reason: string }).reason, /not a digest of that algorithm/);
    assert.match((readCredentials({ ...base, qop: 'auth-int', nc: '00000001', cnonce: '"c"' }) as { reason: string }).reason, /auth-int is not supported/);
    assert.match((readCredentials({ ...base, qop: 'auth' }) as { reason: string }).reason, /cnonce and an 8-digit nc/);
  });
});

describe('digest nonces', () => {
  const clock = () => {
    let t = 1_800_000_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('takes a nonce from the address it was given to, with growing nonce counts; refuses a repeated count as a replay', () => {
    const c = clock();
    const nonces = new DigestNonces({ now: c.now });
    const nonce = nonces.issue('198.51.100.7');
    assert.equal(nonces.check(nonce, '198.51.100.7', '00000001'), 'fresh');
    assert.equal(nonces.check(nonce, '198.51.100.7', '00000002'), 'fresh');
    assert.equal(nonces.check(nonce, '198.51.100.7', '00000002'), 'replayed');
    assert.equal(nonces.check(nonce, '198.51.100.7', '00000001'), 'replayed');
    assert.equal(nonces.check(nonce, '203.0.113.9', '00000003'), 'invalid', 'from another address');
    assert.deepEqual(nonces.counters, { issued: 1, stale: 0, invalid: 1, replayed: 2 });
  });

  it('takes a nonce once without qop', () => {
    const nonces = new DigestNonces({ now: clock().now });
    const nonce = nonces.issue('198.51.100.7');
    assert.equal(nonces.check(nonce, '198.51.100.7'), 'fresh');
    assert.equal(nonces.check(nonce, '198.51.100.7'), 'replayed');
  });

  it('calls an expired nonce stale (the client asks again), and refuses a changed or foreign one', () => {
    const c = clock();
    const nonces = new DigestNonces({ now: c.now, lifetimeS: 60 });
    const nonce = nonces.issue('198.51.100.7');
    c.advance(61_000);
    assert.equal(nonces.check(nonce, '198.51.100.7', '00000001'), 'stale');
    const fresh = nonces.issue('198.51.100.7');
    const tampered = (fresh[0] === 'A' ? 'B' : 'A') + fresh.slice(1);
    assert.equal(nonces.check(tampered, '198.51.100.7', '00000001'), 'invalid');
    assert.equal(nonces.check(new DigestNonces({ now: c.now }).issue('198.51.100.7'), '198.51.100.7', '00000001'), 'invalid', 'another secret');
    assert.equal(nonces.check('not a nonce', '198.51.100.7', '00000001'), 'invalid');
  });

  it('keeps fixed memory: a nonce whose slot went to a newer one turns stale', () => {
    const nonces = new DigestNonces({ now: clock().now, slots: 4 });
    const first = nonces.issue('198.51.100.7');
    for (let i = 0; i < 4; i++) nonces.issue('198.51.100.7');
    assert.equal(nonces.check(first, '198.51.100.7', '00000001'), 'stale');
  });
});
