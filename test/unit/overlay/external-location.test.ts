import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { fresherOutside, newestBindingSeq, withinGrace } from '../../../native/services/overlay/external-location.js';
import { signRecord, type UnsignedRecord } from '../../../native/wire/overlay/record.js';
import { FakeClock } from '../../support/fake-clock.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const owner = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');
const KEY = 'ab'.repeat(20);
const binding = (seq: number, expires: number, slot = 's'): UnsignedRecord => ({
  type: 'binding',
  key: KEY,
  owner,
  slot,
  seq,
  expires,
  value: { user: 'bob', overlay: 'peerdial', contact: 'sip:bob@192.0.2.1:5060' },
});
const answer = (seq: number, contacts = 1) => ({ seq, bindings: Array.from({ length: contacts }, () => ({ user: 'bob', overlay: 'peerdial', contact: 'sip:bob@203.0.113.9:5060' })) });

describe('the ring and the DHT: the freshest signed answer wins', () => {
  it('the DHT wins only with live bindings signed after the ring\'s newest', () => {
    assert.equal(fresherOutside(answer(2_000), 1_000), true, 'newer item');
    assert.equal(fresherOutside(answer(1_000), 2_000), false, 'newer ring binding');
    assert.equal(fresherOutside(answer(1_000), 1_000), false, 'a tie stays with the ring');
    assert.equal(fresherOutside(answer(1_000), 0), true, 'the ring has no binding');
    assert.equal(fresherOutside(answer(1_000), undefined), true, 'the ring was not asked, or failed');
    assert.equal(fresherOutside(answer(9_000, 0), 0), false, 'an item with no live binding says nothing');
  });

  it('the ring\'s newest seq counts only valid, live bindings of that key', () => {
    const now = 10_000;
    const records = [signRecord(binding(3_000, now + 1), privateKey), signRecord(binding(5_000, now - 1, 't'), privateKey), signRecord({ ...binding(7_000, now + 1, 'u'), key: 'cd'.repeat(20) }, privateKey)];
    const forged = { ...signRecord(binding(4_000, now + 1, 'v'), privateKey), seq: 9_000 };
    assert.equal(newestBindingSeq([...records, forged], KEY, now), 3_000);
    assert.equal(newestBindingSeq([], KEY, now), 0);
  });

  it('a lookup the ring answered waits for the DHT only so long', async () => {
    const clock = new FakeClock();
    const never = new Promise<number | undefined>(() => undefined);
    const waiting = withinGrace(never, 400, clock);
    clock.advance(400);
    assert.equal(await waiting, undefined);
    assert.equal(await withinGrace(Promise.resolve(7), 400, clock), 7);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });
});
