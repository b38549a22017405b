// Name claims carry their own proof of work: a storing node refuses a claim without it (or with
// work done for another name or key) with the reason `name-work`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import { solveNameRange } from '../../../native/wire/overlay/id-puzzle.js';
import { idToHex, keyForAor } from '../../../native/wire/overlay/node-id.js';
import { signRecord, type OverlayRecord } from '../../../native/wire/overlay/record.js';
import { newOwner, type Owner } from '../../sim/records.js';

const OVERLAY = 'peerdial';
const D = 8;
const now = 1_000;

function claim(owner: Owner, user: string, work?: number): OverlayRecord {
  return signRecord(
    { type: 'name', key: idToHex(keyForAor(user, OVERLAY)), owner: owner.owner, slot: '', seq: 1, expires: now + 3_600_000, value: { user, overlay: OVERLAY, ...(work !== undefined ? { work } : {}) } },
    owner.privateKey,
  );
}

function workFor(owner: Owner, user: string, bits = D): number {
  return solveNameRange(Buffer.from(owner.owner, 'base64url'), user, OVERLAY, bits, 0, 1 << 24)!.nonce;
}

describe('name claims and their proof of work', () => {
  it('a claim without work is refused with the reason name-work, and counted', () => {
    const store = new RecordStore({ overlay: OVERLAY, now: () => now, nameDifficulty: D });
    assert.deepEqual(store.put(claim(newOwner(), 'alice')), { ok: false, reason: 'name-work' });
    assert.equal(store.refused['name-work'], 1);
    assert.equal(store.size, 0);
  });

  it('a claim with its work is stored', () => {
    const store = new RecordStore({ overlay: OVERLAY, now: () => now, nameDifficulty: D });
    const alice = newOwner();
    assert.deepEqual(store.put(claim(alice, 'alice', workFor(alice, 'alice'))), { ok: true, changed: true });
    assert.equal(store.size, 1);
  });

  it("work done for another name or another key does not count (at 16 bits, a chance of 1 in 65,536)", () => {
    const store = new RecordStore({ overlay: OVERLAY, now: () => now, nameDifficulty: 16 });
    const alice = newOwner();
    const forAlice = workFor(alice, 'alice', 16);
    assert.deepEqual(store.put(claim(alice, 'alicia', forAlice)), { ok: false, reason: 'name-work' });
    const mallory = newOwner();
    assert.deepEqual(store.put(claim(mallory, 'alice', forAlice)), { ok: false, reason: 'name-work' });
    assert.deepEqual(store.put(claim(alice, 'alice', forAlice)), { ok: true, changed: true });
  });

  it('claims kept on disk without the work the overlay now asks are not loaded again', () => {
    const store = new RecordStore({ overlay: OVERLAY, now: () => now, nameDifficulty: D });
    const alice = newOwner();
    const bob = newOwner();
    const left = store.restore([claim(alice, 'alice'), claim(bob, 'bob', workFor(bob, 'bob'))]);
    assert.deepEqual(left.map((r) => r.value.user), ['alice']);
    assert.equal(store.size, 1);
  });

  it('an overlay that asks no work (difficulty 0, the store\'s default) takes claims without it', () => {
    assert.equal(new RecordStore({ overlay: OVERLAY, now: () => now }).put(claim(newOwner(), 'alice')).ok, true);
  });
});
