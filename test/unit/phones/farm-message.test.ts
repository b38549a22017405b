import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateX25519KeyPair } from '../../../native/wire/crypto/x25519.js';
import { deriveFarmKeys } from '../../../native/wire/farm/farm-keys.js';
import { encodeFarmMessage, openFarmSecret, openFarmSync, readFarmMessage, sealFarmSecret, sealFarmSync, type FarmSync } from '../../../native/wire/farm/farm-message.js';
import { signRecord, verifyRecord } from '../../../native/wire/overlay/record.js';

const NODE = 'a'.repeat(40);
const sync: FarmSync = {
  sentAt: 1_000,
  accounts: [{ id: '0123456789ab', user: 'dave', name: 'Desk', username: 'dave-desk', ha1: { md5: 'a'.repeat(32), sha256: 'b'.repeat(64), sha512_256: 'c'.repeat(64) }, createdAt: 1, updatedAt: 2 }],
  removed: [{ id: 'ba9876543210', removedAt: 3 }],
};

describe('farm keys and messages', () => {
  it('every key derives from the secret: the same secret gives the same farm, another secret another', () => {
    const secret = randomBytes(32);
    const a = deriveFarmKeys(secret);
    const b = deriveFarmKeys(Buffer.from(secret));
    assert.equal(a.id, b.id);
    assert.equal(a.publicKey, b.publicKey);
    assert.match(a.id, /^[0-9a-f]{16}$/);
    assert.notEqual(deriveFarmKeys(randomBytes(32)).id, a.id);
    // Any member signs the farm users' records, and the overlay verifies them under the farm's key.
    const record = signRecord({ type: 'name', key: 'f'.repeat(40), owner: a.publicKey, slot: '', seq: 1, expires: 2, value: { user: 'dave', overlay: 'farm.test' } }, b.signingKey);
    assert.ok(verifyRecord(record));
    assert.throws(() => deriveFarmKeys(randomBytes(16)));
  });

  it('the secret handed to a joining server opens only with its one-time key', () => {
    const secret = randomBytes(32);
    const joiner = generateX25519KeyPair();
    const sealed = sealFarmSecret(secret, joiner.publicKey.toString('base64url'));
    assert.ok(!sealed.includes(secret.toString('base64url')));
    assert.deepEqual(openFarmSecret(sealed, joiner.privateKey), secret);
    assert.equal(openFarmSecret(sealed, generateX25519KeyPair().privateKey), undefined);
  });

  it('a sync opens with the farm key, for the sender it names; altered, or sealed by another farm, it does not', () => {
    const keys = deriveFarmKeys(randomBytes(32));
    const sealed = sealFarmSync(sync, keys.syncKey, keys.id, NODE);
    assert.deepEqual(openFarmSync(sealed, keys.syncKey, keys.id, NODE), sync);
    assert.equal(typeof openFarmSync(sealed, keys.syncKey, keys.id, 'b'.repeat(40)), 'string', 'another sender named');
    assert.equal(typeof openFarmSync(sealed, deriveFarmKeys(randomBytes(32)).syncKey, keys.id, NODE), 'string', 'another farm');
    const bytes = Buffer.from(sealed, 'base64url');
    bytes[20] ^= 1;
    assert.equal(typeof openFarmSync(bytes.toString('base64url'), keys.syncKey, keys.id, NODE), 'string', 'altered');
  });

  it('a sync whose accounts are malformed is refused whole', () => {
    const keys = deriveFarmKeys(randomBytes(32));
    const bad = { ...sync, accounts: [{ ...sync.accounts[0], ha1: { ...sync.accounts[0].ha1, md5: 'not hex' } }] };
    assert.equal(openFarmSync(sealFarmSync(bad, keys.syncKey, keys.id, NODE), keys.syncKey, keys.id, NODE), 'a malformed account');
    const badUser = { ...sync, accounts: [{ ...sync.accounts[0], user: 'Bad User' }] };
    assert.equal(openFarmSync(sealFarmSync(badUser, keys.syncKey, keys.id, NODE), keys.syncKey, keys.id, NODE), 'a malformed account');
  });

  it('messages are read strictly: unknown operations, bad keys and foreign JSON are refused with a reason', () => {
    const join = encodeFarmMessage({ op: 'join', node: NODE, x25519: generateX25519KeyPair().publicKey.toString('base64url') });
    assert.equal((readFarmMessage(join) as { op: string }).op, 'join');
    assert.equal(readFarmMessage('{"type":"peerdial-farm","op":"steal"}'), 'unknown operation');
    assert.equal(readFarmMessage('{"type":"peerdial-farm","op":"join","node":"x","x25519":"y"}'), 'a join names a node and an X25519 key');
    assert.equal(readFarmMessage('{"op":"join"}'), 'not a farm message');
    assert.equal(readFarmMessage('nonsense'), 'not JSON');
    assert.equal(readFarmMessage('x'.repeat(60_000)), 'too large');
  });
});
