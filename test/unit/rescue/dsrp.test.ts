// DSRP bodies: signed by their sender, refused when forged, replayed, stale or misshapen.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeDsrp, encodeDsrp, hostOnly, originIdOf, rescueUrl, signDsrp, type AcceptMessage, type LoadMessage, type SosMessage } from '../../../native/wire/rescue/dsrp.js';
import { parseRescuePath } from '../../../native/services/rescue/rescue-proxy.js';

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { raw: spki.subarray(spki.length - 32), pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

const NOW = 1_800_000_000_000;
const origin = keyPair();
const rescuer = keyPair();
const originId = originIdOf(origin.raw);

function sos(overrides: Partial<SosMessage> = {}): SosMessage {
  return signDsrp<SosMessage>(
    { type: 'sos', origin: originId, at: NOW, site: 'http://example.org/', upstream: 'http://192.0.2.10:80/', sip: 'sip:origin@192.0.2.10:5060', wantRps: 120, meanBytes: 40_000, ...overrides },
    origin.raw,
    origin.pkcs8,
  );
}

describe('DSRP', () => {
  it('an SOS signed by the origin decodes with every field', () => {
    const decoded = decodeDsrp(encodeDsrp(sos()), NOW + 1000);
    assert.ok(decoded.ok);
    assert.equal(decoded.message.type, 'sos');
    assert.equal((decoded.message as SosMessage).wantRps, 120);
    assert.equal(decoded.message.key, origin.raw.toString('base64url'));
  });

  it('an SOS may name the rescue servers already helping', () => {
    const withPeers = sos({ peers: ['http://198.51.100.7:8099', 'http://198.51.100.8:8099'] });
    const decoded = decodeDsrp(encodeDsrp(withPeers), NOW);
    assert.ok(decoded.ok);
    assert.deepEqual((decoded.message as SosMessage).peers, ['http://198.51.100.7:8099', 'http://198.51.100.8:8099']);
  });

  it('refuses a message whose fields were changed after signing', () => {
    const forged = { ...sos(), upstream: 'http://203.0.113.66/' };
    const decoded = decodeDsrp(JSON.stringify(forged), NOW);
    assert.deepEqual(decoded, { ok: false, reason: 'bad signature' });
  });

  it('refuses an SOS for an origin ID that is not its signer\'s key: nobody asks on behalf of another site', () => {
    const other = keyPair();
    const impostor = signDsrp<SosMessage>({ ...sos(), origin: originId, key: undefined, sig: undefined, dsrp: undefined } as never, other.raw, other.pkcs8);
    const decoded = decodeDsrp(encodeDsrp(impostor), NOW);
    assert.deepEqual(decoded, { ok: false, reason: 'origin ID does not match the signing key' });
  });

  it('refuses stale and future messages (replays)', () => {
    assert.deepEqual(decodeDsrp(encodeDsrp(sos()), NOW + 10 * 60_000), { ok: false, reason: 'stale or future timestamp' });
    assert.deepEqual(decodeDsrp(encodeDsrp(sos()), NOW - 10 * 60_000), { ok: false, reason: 'stale or future timestamp' });
  });

  it('an accept is the rescuer\'s, with the rate it allows', () => {
    const accept = signDsrp<AcceptMessage>({ type: 'accept', origin: originId, at: NOW, http: 'http://198.51.100.7:8099', allowedRps: 55.5 }, rescuer.raw, rescuer.pkcs8);
    const decoded = decodeDsrp(encodeDsrp(accept), NOW);
    assert.ok(decoded.ok && decoded.message.type === 'accept');
    assert.equal(decoded.message.allowedRps, 55.5);
    assert.equal(decoded.message.key, rescuer.raw.toString('base64url'));
  });

  it('an accept and a load report may say the most the donation carries, never less than the rate allowed', () => {
    const accept = (extra: Record<string, unknown>) =>
      signDsrp<AcceptMessage>({ type: 'accept', origin: originId, at: NOW, http: 'http://198.51.100.7:8099', allowedRps: 40, ...extra } as never, rescuer.raw, rescuer.pkcs8);
    const decoded = decodeDsrp(encodeDsrp(accept({ maxRps: 50.5 })), NOW);
    assert.ok(decoded.ok && decoded.message.type === 'accept');
    assert.equal(decoded.message.maxRps, 50.5);
    assert.deepEqual(decodeDsrp(encodeDsrp(accept({ maxRps: 39 })), NOW), { ok: false, reason: 'bad maxRps' });
    assert.deepEqual(decodeDsrp(encodeDsrp(accept({ maxRps: 'lots' })), NOW), { ok: false, reason: 'bad maxRps' });
    const load = (extra: Record<string, unknown>) =>
      signDsrp<LoadMessage>({ type: 'load', origin: originId, at: NOW, allowedRps: 10, load: 0.5, served: 20, hits: 18, ...extra } as never, rescuer.raw, rescuer.pkcs8);
    const report = decodeDsrp(encodeDsrp(load({ maxRps: 12.5 })), NOW);
    assert.ok(report.ok);
    assert.equal((report.message as LoadMessage).maxRps, 12.5);
    assert.deepEqual(decodeDsrp(encodeDsrp(load({ maxRps: 9 })), NOW), { ok: false, reason: 'bad maxRps' });
    assert.deepEqual(decodeDsrp(encodeDsrp(load({ maxRps: Infinity })), NOW), { ok: false, reason: 'bad maxRps' });
  });

  it('drops junk with a reason instead of throwing', () => {
    for (const [body, reason] of [
      ['', 'not JSON'],
      ['[]', 'not an object'],
      ['{"dsrp":2}', 'unsupported DSRP version 2'],
      [JSON.stringify({ ...sos(), type: 'teleport' }), 'unknown DSRP message type teleport'],
      [JSON.stringify({ ...sos(), meanBytes: -1 }), 'bad meanBytes'],
      [JSON.stringify({ ...sos(), upstream: 'file:///etc/passwd' }), 'bad upstream URL'],
      [JSON.stringify({ ...sos(), origin: 'xyz' }), 'bad origin ID'],
      [JSON.stringify({ ...sos(), peers: ['ftp://x'] }), 'bad peers'],
      [JSON.stringify({ ...sos(), peers: Array.from({ length: 17 }, (_, i) => `http://192.0.2.${i}:80`) }), 'bad peers'],
    ] as const) {
      assert.deepEqual(decodeDsrp(body, NOW), { ok: false, reason }, body.slice(0, 40));
    }
  });

  it('rescue URLs carry the origin ID and map back to the origin\'s path, and nothing else parses', () => {
    const url = rescueUrl('http://198.51.100.7:8099/', originId, '/img/a.png?v=2');
    assert.equal(url, `http://198.51.100.7:8099/r/${originId}/img/a.png?v=2`);
    assert.deepEqual(parseRescuePath(new URL(url).pathname + new URL(url).search), { originId, path: '/img/a.png?v=2' });
    assert.deepEqual(parseRescuePath(`/r/${originId}`), { originId, path: '/' });
    for (const bad of ['/', '/r/', `/r/${originId.replace(/^./, 'F').toUpperCase()}/a`, '/r/123/a', `/r/${originId}/../etc/passwd`, `/r/${originId}//evil.example/x`, 'http://evil.example/']) {
      assert.equal(parseRescuePath(bad), undefined, bad);
    }
  });

  it('an SOS may give the site\'s host names for DNS round robin; addresses, bare labels and junk are refused', () => {
    const decoded = decodeDsrp(encodeDsrp(sos({ hosts: ['www.example.org'] })), NOW);
    assert.ok(decoded.ok);
    assert.deepEqual((decoded.message as SosMessage).hosts, ['www.example.org']);
    for (const hosts of [['10.0.0.1'], ['localhost'], ['WWW.example.org'], ['www.example.org:80'], ['a'.repeat(64) + '.org'], Array(9).fill('www.example.org')]) {
      const bad = decodeDsrp(encodeDsrp(sos({ hosts })), NOW);
      assert.deepEqual(bad, { ok: false, reason: 'bad hosts' }, JSON.stringify(hosts));
    }
  });

  it('a load report may say what came by name and which host names were refused', () => {
    const load = (extra: Record<string, unknown>) =>
      signDsrp<LoadMessage>({ type: 'load', origin: originId, at: NOW, allowedRps: 10, load: 0.5, served: 20, hits: 18, ...extra } as never, rescuer.raw, rescuer.pkcs8);
    const decoded = decodeDsrp(encodeDsrp(load({ byName: 12, refusedHosts: 3 })), NOW);
    assert.ok(decoded.ok);
    assert.equal((decoded.message as LoadMessage).byName, 12);
    assert.equal((decoded.message as LoadMessage).refusedHosts, 3);
    assert.deepEqual(decodeDsrp(encodeDsrp(load({ refusedHosts: -1 })), NOW), { ok: false, reason: 'bad load figures' });
    assert.deepEqual(decodeDsrp(encodeDsrp(load({ byName: 'many' })), NOW), { ok: false, reason: 'bad load figures' });
  });

  it('a Host header reads as its name alone', () => {
    assert.equal(hostOnly('WWW.Example.org:80'), 'www.example.org');
    assert.equal(hostOnly('www.example.org.'), 'www.example.org');
    assert.equal(hostOnly('[2001:db8::1]:80'), '[2001:db8::1]');
  });
});
