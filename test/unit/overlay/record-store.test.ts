import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import { idToHex, keyForAor } from '../../../native/wire/overlay/node-id.js';
import { parseRecord, SERVICE_LIMITS, serviceKey, serviceSlot, signRecord, verifyRecord, type OverlayRecord } from '../../../native/wire/overlay/record.js';
import { nameRecord, newOwner, type Owner } from '../../sim/records.js';
import { contactOf } from '../../../native/services/overlay/overlay-service.js';

const OVERLAY = 'peerdial';
const HOUR = 3_600_000;

function store(now = { t: 1_000 }) {
  return { now, store: new RecordStore({ overlay: OVERLAY, now: () => now.t }) };
}

function binding(owner: Owner, user: string, seq: number, contact: string, slot = 'a'.repeat(40)): OverlayRecord {
  return signRecord(
    { type: 'binding', key: idToHex(keyForAor(user, OVERLAY)), owner: owner.owner, slot, seq, expires: 2 * HOUR, value: { user, overlay: OVERLAY, contact } },
    owner.privateKey,
  );
}

describe('signed records', () => {
  it('verify only with every signed field intact', () => {
    const alice = newOwner();
    const r = nameRecord(alice, 'alice', OVERLAY, HOUR);
    assert.ok(verifyRecord(r));
    assert.ok(verifyRecord(JSON.parse(JSON.stringify(r)) as OverlayRecord), 'survives a trip through JSON');
    assert.ok(!verifyRecord({ ...r, seq: 2 }));
    assert.ok(!verifyRecord({ ...r, expires: r.expires + 1 }));
    assert.ok(!verifyRecord({ ...r, value: { ...r.value, user: 'mallory' } }));
    assert.ok(!verifyRecord({ ...r, owner: newOwner().owner }));
  });

  it('parse rejects malformed records from the network with a reason', () => {
    const r = nameRecord(newOwner(), 'alice', OVERLAY, HOUR);
    assert.equal(parseRecord({ ...r, type: 'presence' }), 'unknown record type');
    assert.equal(parseRecord({ ...r, key: 'abc' }), 'bad key');
    assert.equal(parseRecord({ ...r, sig: '' }), 'bad signature encoding');
    assert.equal(parseRecord({ ...r, seq: -1 }), 'bad seq');
    assert.equal(typeof parseRecord(r), 'object');
  });

  it('a binding\'s TLS listener is a port and a SHA-256 fingerprint, and callers reach it over TLS, pinned', () => {
    const alice = newOwner();
    const certificate = 'n_tmX-3EdZFM0QtNZ0rz62UNIkk8d0QbHsJuzNGloHI';
    const binding = (value: Record<string, unknown>): OverlayRecord =>
      signRecord({ type: 'binding', key: idToHex(keyForAor('alice', OVERLAY)), owner: alice.owner, slot: 'a'.repeat(40), seq: 1, expires: HOUR, value: { user: 'alice', overlay: OVERLAY, contact: 'sip:alice@192.0.2.10:5060', ...value } as never }, alice.privateKey);
    assert.equal(typeof parseRecord(binding({ tls: { port: 5061, certificate } })), 'object');
    assert.equal(parseRecord(binding({ tls: { port: 70000, certificate } })), 'bad binding tls');
    assert.equal(parseRecord(binding({ tls: { port: 5061, certificate: 'AB:CD' } })), 'bad binding tls');
    assert.equal(parseRecord(binding({ tls: 'yes' })), 'bad binding tls');
    assert.equal(contactOf({ user: 'alice', overlay: OVERLAY, contact: 'sip:alice@192.0.2.10:5060', tls: { port: 5061, certificate } }), `sip:alice@192.0.2.10:5061;transport=tls;pdcert=${certificate}`);
    assert.equal(contactOf({ user: 'alice', overlay: OVERLAY, contact: 'sip:alice@192.0.2.10:5060;pdphone=p1', tls: { port: 5061, certificate } }), `sip:alice@192.0.2.10:5061;pdphone=p1;transport=tls;pdcert=${certificate}`);
    // A client carried by a member is reached through the member's flow, never at its own TLS port.
    assert.equal(contactOf({ user: 'alice', overlay: OVERLAY, contact: 'sip:alice@192.0.2.1:5060;pdflow=x', via: '192.0.2.1:5060', tls: { port: 5061, certificate } }), 'sip:alice@192.0.2.1:5060;pdflow=x');
    assert.equal(contactOf({ user: 'alice', overlay: OVERLAY, contact: 'sip:alice@192.0.2.10:5060' }), 'sip:alice@192.0.2.10:5060');
  });
});

describe('record store', () => {
  it('keeps a record signed by its owner and hands it back by key', () => {
    const { store: s } = store();
    const r = nameRecord(newOwner(), 'alice', OVERLAY, HOUR);
    assert.deepEqual(s.put(r), { ok: true, changed: true });
    assert.deepEqual(s.get(r.key), [r]);
    // The same record again (as replication sends it) changes nothing.
    assert.deepEqual(s.put(r), { ok: true, changed: false });
  });

  it('refuses a forged record (fields changed after signing)', () => {
    const { store: s } = store();
    const r = nameRecord(newOwner(), 'alice', OVERLAY, HOUR);
    assert.deepEqual(s.put({ ...r, expires: r.expires + HOUR }), { ok: false, reason: 'bad-signature' });
    assert.equal(s.size, 0);
  });

  it('refuses an unsigned record and one signed by someone else\'s key', () => {
    const { store: s } = store();
    const alice = newOwner();
    const r = nameRecord(alice, 'alice', OVERLAY, HOUR);
    assert.deepEqual(s.put({ ...r, sig: 'A'.repeat(86) }), { ok: false, reason: 'bad-signature' });
    const mallory = newOwner();
    const signedByMallory = signRecord({ ...r, owner: alice.owner }, mallory.privateKey);
    assert.deepEqual(s.put(signedByMallory), { ok: false, reason: 'bad-signature' });
  });

  it('refuses a replay of an older sequence number, and a different record with the same one', () => {
    const { store: s } = store();
    const alice = newOwner();
    assert.ok(s.put(binding(alice, 'alice', 1, 'sip:alice@192.0.2.1:5060')).ok);
    assert.ok(s.put(binding(alice, 'alice', 3, 'sip:alice@192.0.2.3:5060')).ok);
    assert.deepEqual(s.put(binding(alice, 'alice', 2, 'sip:alice@192.0.2.2:5060')), { ok: false, reason: 'replay' });
    assert.deepEqual(s.put(binding(alice, 'alice', 3, 'sip:alice@192.0.2.9:5060')), { ok: false, reason: 'replay' });
    assert.equal((s.get(idToHex(keyForAor('alice', OVERLAY)), 'binding')[0].value as { contact: string }).contact, 'sip:alice@192.0.2.3:5060');
  });

  it('gives a name to whoever claims it first and refuses a squatter', () => {
    const { store: s } = store();
    const alice = newOwner();
    const mallory = newOwner();
    assert.ok(s.put(nameRecord(alice, 'alice', OVERLAY, HOUR)).ok);
    assert.deepEqual(s.put(nameRecord(mallory, 'alice', OVERLAY, HOUR, 99)), { ok: false, reason: 'name-taken' });
    // Nor may the squatter bind a contact to the name.
    assert.deepEqual(s.put(binding(mallory, 'alice', 1, 'sip:mallory@192.0.2.66:5060')), { ok: false, reason: 'not-name-owner' });
    assert.ok(s.put(binding(alice, 'alice', 1, 'sip:alice@192.0.2.1:5060')).ok);
  });

  it('lets a name go to someone else once the claim expired', () => {
    const { now, store: s } = store();
    assert.ok(s.put(nameRecord(newOwner(), 'alice', OVERLAY, 10_000)).ok);
    now.t = 10_001;
    assert.deepEqual(s.get(idToHex(keyForAor('alice', OVERLAY))), []);
    assert.ok(s.put(nameRecord(newOwner(), 'alice', OVERLAY, HOUR)).ok);
    assert.equal(s.expire(), 0);
  });

  it('refuses records that are expired, live too long, sit at the wrong key or belong to another overlay', () => {
    const { store: s } = store();
    const alice = newOwner();
    assert.deepEqual(s.put(nameRecord(alice, 'alice', OVERLAY, 500)), { ok: false, reason: 'expired' });
    assert.deepEqual(s.put(nameRecord(alice, 'alice', OVERLAY, 30 * 24 * HOUR)), { ok: false, reason: 'too-far-ahead' });
    assert.deepEqual(s.put(nameRecord(alice, 'alice', 'elsewhere', HOUR)), { ok: false, reason: 'wrong-overlay' });
    const misplaced = signRecord({ ...nameRecord(alice, 'alice', OVERLAY, HOUR), key: idToHex(keyForAor('bob', OVERLAY)) }, alice.privateKey);
    assert.deepEqual(s.put(misplaced), { ok: false, reason: 'wrong-key' });
  });

  it('drops expired records when asked and reports them', () => {
    const now = { t: 0 };
    const dropped: string[] = [];
    const s = new RecordStore({ overlay: OVERLAY, now: () => now.t, onDropped: (r) => dropped.push(r.value.user) });
    assert.ok(s.put(nameRecord(newOwner(), 'short', OVERLAY, 1_000)).ok);
    assert.ok(s.put(nameRecord(newOwner(), 'long', OVERLAY, HOUR)).ok);
    now.t = 2_000;
    assert.equal(s.expire(), 1);
    assert.deepEqual(dropped, ['short']);
    assert.equal(s.size, 1);
  });
});

describe('service advertisements', () => {
  const MINUTE = 60_000;
  function advert(owner: Owner, seq: number, expires: number, overrides: Partial<OverlayRecord> = {}): OverlayRecord {
    return signRecord(
      {
        type: 'service',
        key: serviceKey('rescue', OVERLAY),
        owner: owner.owner,
        slot: serviceSlot(owner.owner),
        seq,
        expires,
        value: { user: 'rescue', overlay: OVERLAY, contact: 'sip:rescue@192.0.2.1:5060', url: 'http://192.0.2.1:8099', headroom: 10 },
        ...overrides,
      },
      owner.privateKey,
    );
  }

  it('keeps one per node key under the service key, replaced by a newer one', () => {
    const { store: s, now } = store();
    const a = newOwner();
    const b = newOwner();
    assert.deepEqual(s.put(advert(a, 1, now.t + MINUTE)), { ok: true, changed: true });
    assert.deepEqual(s.put(advert(b, 1, now.t + MINUTE)), { ok: true, changed: true });
    assert.deepEqual(s.put(advert(a, 2, now.t + 2 * MINUTE)), { ok: true, changed: true });
    const found = s.get(serviceKey('rescue', OVERLAY), 'service');
    assert.equal(found.length, 2);
    assert.equal(found.find((r) => r.owner === a.owner)?.seq, 2);
    assert.deepEqual(s.put(advert(a, 1, now.t + MINUTE)), { ok: false, reason: 'replay' });
  });

  it('refuses one in another node\'s slot, under another key, or living too long', () => {
    const { store: s, now } = store();
    const a = newOwner();
    const b = newOwner();
    assert.deepEqual(s.put(advert(a, 1, now.t + MINUTE, { slot: serviceSlot(b.owner) })), { ok: false, reason: 'wrong-key' });
    assert.deepEqual(s.put(advert(a, 1, now.t + MINUTE, { key: serviceKey('other', OVERLAY) })), { ok: false, reason: 'wrong-key' });
    assert.deepEqual(s.put(advert(a, 1, now.t + 20 * MINUTE)), { ok: false, reason: 'too-far-ahead' });
    assert.deepEqual(s.put({ ...advert(a, 1, now.t + MINUTE), seq: 9 }), { ok: false, reason: 'bad-signature' });
    assert.equal(typeof parseRecord({ ...advert(a, 1, now.t + MINUTE), value: { user: 'rescue', overlay: OVERLAY, contact: 'x', url: 'y', headroom: -1 } }), 'string');
  });

  it('holds a bounded number under one service key', () => {
    const { store: s, now } = store();
    for (let i = 0; i < SERVICE_LIMITS.maxRecords; i++) assert.ok(s.put(advert(newOwner(), 1, now.t + MINUTE)).ok);
    assert.deepEqual(s.put(advert(newOwner(), 1, now.t + MINUTE)), { ok: false, reason: 'full' });
  });
});
