// The relay credential request: signed by the user's key for one member, refused when changed,
// replayed late, or signed by someone else.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeCredentialGrant, decodeCredentialRequest, RELAY_MAX_SKEW_MS, signCredentialRequest } from '../../../native/wire/relay/credential.js';

function keys() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { raw: spki.subarray(spki.length - 32), pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

describe('relay credential requests', () => {
  const alice = keys();
  const now = 1_800_000_000_000;
  const request = signCredentialRequest({ aor: 'sip:alice@peerdial', member: '198.51.100.11:3478', at: now }, alice.raw, alice.pkcs8);

  it('a signed request decodes with its fields', () => {
    const decoded = decodeCredentialRequest(JSON.stringify(request), now + 1000);
    assert.ok(decoded.ok);
    assert.equal(decoded.request.aor, 'sip:alice@peerdial');
    assert.equal(decoded.request.key, alice.raw.toString('base64url'));
  });

  it('refuses a request sent to another member, a late replay, another signer, and garbage', () => {
    const moved = { ...request, member: '198.51.100.10:3478' };
    assert.deepEqual(decodeCredentialRequest(JSON.stringify(moved), now), { ok: false, reason: 'bad signature' });
    assert.deepEqual(decodeCredentialRequest(JSON.stringify(request), now + RELAY_MAX_SKEW_MS + 1), { ok: false, reason: 'stale or future timestamp' });
    const mallory = keys();
    const stolen = { ...request, key: mallory.raw.toString('base64url') };
    assert.deepEqual(decodeCredentialRequest(JSON.stringify(stolen), now), { ok: false, reason: 'bad signature' });
    assert.equal(decodeCredentialRequest('{"relay":1', now).ok, false);
    assert.equal(decodeCredentialRequest('[]', now).ok, false);
  });

  it('reads a grant, and nothing that is not one', () => {
    const grant = { relay: 1, type: 'credential', username: '1800000600:abcd', password: 'x', realm: 'peerdial', expires: now + 600_000, address: '198.51.100.11', port: 3478, transports: ['udp', 'tcp', 'sctp'] };
    assert.deepEqual(decodeCredentialGrant(JSON.stringify(grant))?.transports, ['udp', 'tcp']);
    assert.equal(decodeCredentialGrant(JSON.stringify({ ...grant, port: 70000 })), undefined);
    assert.equal(decodeCredentialGrant('nonsense'), undefined);
  });
});
