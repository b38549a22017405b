// A node's record store stays bounded whatever one stranger sends: quotas per owner key, per
// source network and for the whole store, kept across a restart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OWNER_QUOTA, RecordStore, sourceNetwork } from '../../../native/proto/overlay/record-store.js';
import { mailboxKey, mailboxMessageSlot, signRecord, type OverlayRecord } from '../../../native/wire/overlay/record.js';
import { nameRecord, nameRecords, newOwner, type Owner } from '../../sim/records.js';

const OVERLAY = 'peerdial';
const HOUR = 3_600_000;

function mail(sender: Owner, user: string, i: number, size: number): OverlayRecord {
  return signRecord(
    { type: 'mailbox', key: mailboxKey(user, OVERLAY), owner: sender.owner, slot: mailboxMessageSlot(`flood-${i}`), seq: 1, expires: HOUR, value: { user, overlay: OVERLAY, to: newOwner().owner, sealed: 'A'.repeat(size) } },
    sender.privateKey,
  );
}

describe('record quotas', () => {
  it('refuse one owner key past its records, while other owners still write', () => {
    const s = new RecordStore({ overlay: OVERLAY, now: () => 0 });
    const mallory = newOwner();
    const outcomes = nameRecords(mallory, OWNER_QUOTA.records + 50, OVERLAY, HOUR, 'm').map((r) => s.put(r));
    assert.equal(outcomes.filter((o) => o.ok).length, OWNER_QUOTA.records);
    assert.deepEqual(outcomes.at(-1), { ok: false, reason: 'owner-quota' });
    assert.equal(s.refused['owner-quota'], 50);
    assert.deepEqual(s.put(nameRecord(newOwner(), 'alice', OVERLAY, HOUR)), { ok: true, changed: true });
    // Updating a record it holds is not a new record: still allowed at the quota.
    assert.equal(s.put(nameRecord(mallory, 'm-0', OVERLAY, HOUR, 2)).ok, true);
  });

  it('refuse one owner key past its bytes', () => {
    const s = new RecordStore({ overlay: OVERLAY, now: () => 0, ownerQuota: { records: 1_000, bytes: 100_000 } });
    const mallory = newOwner();
    // One mailbox holds 40 KiB of messages: spread them over many recipients' mailboxes.
    const outcomes = Array.from({ length: 20 }, (_, i) => s.put(mail(mallory, `user-${i}`, i, 15_000)));
    assert.ok(outcomes.filter((o) => o.ok).length <= 7);
    assert.deepEqual(outcomes.at(-1), { ok: false, reason: 'owner-quota' });
    assert.ok(s.ownerUsage(mallory.owner).bytes <= 100_000);
  });

  it('refuse one source network past its quota, whatever the keys, and forget what it held once dropped', () => {
    const s = new RecordStore({ overlay: OVERLAY, now: () => 0, sourceQuota: { records: 30, bytes: 1 << 20 } });
    const attacker = sourceNetwork('203.0.113.77');
    const outcomes = Array.from({ length: 10 }, (_, k) => nameRecords(newOwner(), 5, OVERLAY, HOUR, `k${k}`).map((r) => s.put(r, attacker))).flat();
    assert.equal(outcomes.filter((o) => o.ok).length, 30);
    assert.deepEqual(outcomes.at(-1), { ok: false, reason: 'source-quota' });
    assert.equal(s.put(nameRecord(newOwner(), 'alice', OVERLAY, HOUR), sourceNetwork('198.51.100.1')).ok, true, 'another network still writes');
    assert.equal(s.put(nameRecord(newOwner(), 'bob', OVERLAY, HOUR), sourceNetwork('203.0.113.9')).ok, false, 'the same /24 does not');
    // Expiry gives the network its room back.
    const later = new RecordStore({ overlay: OVERLAY, now: () => 2 * HOUR, sourceQuota: { records: 30, bytes: 1 << 20 } });
    later.restore(s.all());
    assert.equal(later.size, 0);
  });

  it('cap the whole store in bytes', () => {
    const s = new RecordStore({ overlay: OVERLAY, now: () => 0, maxBytes: 50_000 });
    const outcomes = Array.from({ length: 10 }, (_, i) => s.put(mail(newOwner(), `user-${i}`, i, 10_000)));
    assert.ok(s.bytes <= 50_000);
    assert.deepEqual(outcomes.at(-1), { ok: false, reason: 'full' });
  });

  it('restore within the quotas: a store filled before them does not fill memory again', () => {
    const mallory = newOwner();
    const flood = nameRecords(mallory, 1_000, OVERLAY, HOUR, 'm');
    const alice = nameRecord(newOwner(), 'alice', OVERLAY, HOUR);
    const s = new RecordStore({ overlay: OVERLAY, now: () => 0 });
    const left = s.restore([...flood, alice]);
    assert.equal(s.size, OWNER_QUOTA.records + 1);
    assert.equal(left.length, 1_000 - OWNER_QUOTA.records);
    assert.deepEqual(s.get(alice.key), [alice]);
  });

  it('name the /24 or /48 a write came from', () => {
    assert.equal(sourceNetwork('192.0.2.200'), '192.0.2.0/24');
    assert.equal(sourceNetwork('::ffff:192.0.2.200'), '192.0.2.0/24');
    assert.equal(sourceNetwork('2001:db8:85a3:1::7'), '2001:db8:85a3::/48');
    assert.equal(sourceNetwork('2001:0db8:0000::1'), '2001:db8:0::/48');
    assert.equal(sourceNetwork('::1'), '0:0:0::/48');
  });
});
