// The rules a node applies to mailbox records it is asked to store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import { MAILBOX_LIMITS, mailboxAckSlot, mailboxKey, mailboxMessageSlot, parseRecord, signRecord, type OverlayRecord } from '../../../native/wire/overlay/record.js';
import { newOwner, type Owner } from '../../sim/records.js';

const OVERLAY = 'peerdial';
const DAY = 24 * 3_600_000;

function store(): RecordStore {
  return new RecordStore({ overlay: OVERLAY, now: () => 1_000 });
}

function message(sender: Owner, recipient: Owner, callId: string, size = 100, user = 'carol'): OverlayRecord {
  return signRecord(
    { type: 'mailbox', key: mailboxKey(user, OVERLAY), owner: sender.owner, slot: mailboxMessageSlot(callId), seq: 1, expires: DAY, value: { user, overlay: OVERLAY, to: recipient.owner, sealed: 'A'.repeat(size) } },
    sender.privateKey,
  );
}

function ack(recipient: Owner, acked: string[], seq = 2, user = 'carol'): OverlayRecord {
  return signRecord(
    { type: 'mailbox', key: mailboxKey(user, OVERLAY), owner: recipient.owner, slot: mailboxAckSlot(recipient.owner), seq, expires: DAY, value: { user, overlay: OVERLAY, to: recipient.owner, acked } },
    recipient.privateKey,
  );
}

const messages = (s: RecordStore) => s.get(mailboxKey('carol', OVERLAY)).filter((r) => 'sealed' in r.value);

describe('mailbox records', () => {
  const bob = newOwner();
  const carol = newOwner();

  it('keep a message under the recipient mailbox key, once per slot', () => {
    const s = store();
    const m = message(bob, carol, 'c1');
    assert.deepEqual(s.put(m), { ok: true, changed: true });
    assert.deepEqual(s.put(m), { ok: true, changed: false });
    assert.deepEqual(s.put(message(bob, carol, 'c1', 120)), { ok: false, reason: 'replay' }, 'a slot is written once');
    assert.equal(messages(s).length, 1);
  });

  it('refuse a message under some other key, or with a forged signature', () => {
    const s = store();
    const m = message(bob, carol, 'c1');
    assert.deepEqual(s.put({ ...m, key: mailboxKey('dave', OVERLAY) }), { ok: false, reason: 'wrong-key' });
    assert.deepEqual(s.put({ ...m, value: { ...m.value, sealed: 'B'.repeat(100) } }), { ok: false, reason: 'bad-signature' });
    assert.equal(s.size, 0);
  });

  it('are dropped by the recipient acknowledgement, and a stale copy is not taken back', () => {
    const s = store();
    const m1 = message(bob, carol, 'c1');
    const m2 = message(bob, carol, 'c2');
    s.put(m1);
    s.put(m2);
    assert.deepEqual(s.put(ack(carol, [m1.slot])), { ok: true, changed: true });
    assert.deepEqual(messages(s).map((r) => r.slot), [m2.slot]);
    assert.deepEqual(s.put(m1), { ok: false, reason: 'acknowledged' });
    assert.deepEqual(s.put(ack(carol, [m1.slot, m2.slot], 3)), { ok: true, changed: true });
    assert.equal(messages(s).length, 0);
    assert.deepEqual(s.put(ack(carol, [m1.slot], 2)), { ok: false, reason: 'replay' }, 'an older acknowledgement');
  });

  it('cannot be acknowledged away by anyone but the key they were sealed for', () => {
    const s = store();
    const mallory = newOwner();
    const m = message(bob, carol, 'c1');
    s.put(m);
    assert.deepEqual(s.put(ack(mallory, [m.slot])), { ok: false, reason: 'nothing-to-acknowledge' });
    // An acknowledgement in the recipient's slot but signed by another key.
    const stolen = signRecord({ ...ack(carol, [m.slot]), owner: mallory.owner }, mallory.privateKey);
    assert.equal(typeof parseRecord(stolen), 'string');
    assert.deepEqual(s.put(stolen), { ok: false, reason: 'malformed' });
    assert.equal(messages(s).length, 1);
  });

  it('are capped per recipient in count and bytes, so nobody can fill the overlay', () => {
    const s = store();
    for (let i = 0; i < MAILBOX_LIMITS.maxRecords; i++) assert.ok(s.put(message(bob, carol, `small-${i}`, 50)).ok, `message ${i}`);
    assert.deepEqual(s.put(message(bob, carol, 'one-too-many', 50)), { ok: false, reason: 'mailbox-full' });
    assert.ok(s.put(message(bob, carol, 'for-dave', 50, 'dave')).ok, 'another recipient is not affected');

    const big = store();
    const size = 12 * 1024;
    let stored = 0;
    while (big.put(message(bob, carol, `big-${stored}`, size)).ok) stored++;
    assert.equal(stored, Math.floor(MAILBOX_LIMITS.maxMessageBytes / (size + 600)));
    assert.equal(typeof parseRecord(message(bob, carol, 'huge', MAILBOX_LIMITS.maxRecordBytes)), 'string', 'one record over the size limit is malformed');
  });
});
