import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { safetyDigits, safetyNumber } from '../../../native/wire/crypto/safety-number.js';

const raw = () => generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');

describe('safety numbers', () => {
  const alice = { publicKey: raw(), aor: 'sip:alice@peerdial' };
  const bob = { publicKey: raw(), aor: 'sip:bob@peerdial' };

  it('are 60 digits in twelve groups of five, the same on both sides', () => {
    const atAlice = safetyNumber(alice, bob);
    assert.match(atAlice, /^(\d{5} ){11}\d{5}$/);
    assert.equal(safetyNumber(bob, alice), atAlice);
    assert.ok(atAlice.replace(/ /g, '').includes(safetyDigits(alice.publicKey, alice.aor)));
  });

  it('change when either key changes, or the name it speaks for', () => {
    const before = safetyNumber(alice, bob);
    assert.notEqual(safetyNumber(alice, { ...bob, publicKey: raw() }), before);
    assert.notEqual(safetyNumber({ ...alice, publicKey: raw() }, bob), before);
    assert.notEqual(safetyNumber(alice, { ...bob, aor: 'sip:mallory@peerdial' }), before);
    assert.equal(safetyNumber(alice, { ...bob, aor: 'SIP:BOB@PEERDIAL' }), before, 'the AOR is compared in lower case');
  });
});
