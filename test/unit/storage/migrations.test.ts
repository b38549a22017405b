import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { CallRepository } from '../../../native/storage/repositories/call-repository.js';
import { BuddyRepository } from '../../../native/storage/repositories/buddy-repository.js';
import { MessageRepository } from '../../../native/storage/repositories/message-repository.js';
import { PhoneRepository } from '../../../native/storage/repositories/phone-repository.js';
import { migrations } from '../../../native/storage/migrations/index.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function openAt(version: number): Promise<{ db: Database; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-mig-'));
  dirs.push(dir);
  const file = path.join(dir, 'db.sqlite3');
  return { db: await Database.open(file, migrations.filter((m) => m.version <= version)), file };
}

describe('migrations', () => {
  it('are numbered 1..n without gaps', () => {
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
  });

  it('001 identity: keeps exactly one identity', async () => {
    const { db } = await openAt(1);
    assert.equal(await db.schemaVersion(), 1);
    await db.run("INSERT INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (1, 'A', 'a', x'00', x'00', 0)");
    await assert.rejects(db.run("INSERT INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (2, 'B', 'b', x'00', x'00', 0)"), /CHECK constraint/);
    await db.close();
  });

  it('002 settings: one value per key', async () => {
    const { db } = await openAt(2);
    await db.run("INSERT INTO settings (key, value, updated_at) VALUES ('ui.port', '5080', 0)");
    await assert.rejects(db.run("INSERT INTO settings (key, value, updated_at) VALUES ('ui.port', '5081', 0)"), /UNIQUE/);
    await db.close();
  });

  it('003 messages: a retransmitted SIP MESSAGE is stored once, and direction is checked', async () => {
    const { db } = await openAt(3);
    const insert = "INSERT OR IGNORE INTO messages (peer, direction, body, status, sip_call_id, sip_cseq, created_at, updated_at) VALUES ('sip:a@h', ?, 'hi', 'received', 'c1', 1, 0, 0)";
    assert.equal((await db.run(insert, ['in'])).changes, 1);
    assert.equal((await db.run(insert, ['in'])).changes, 0);
    assert.equal((await db.run(insert, ['out'])).changes, 1);
    await assert.rejects(db.run(insert.replace('OR IGNORE ', ''), ['sideways']), /CHECK constraint/);
    await db.close();
  });

  it('005 calls: a call in progress when Peerdial stopped is in the history after the restart', async () => {
    const { db } = await openAt(5);
    const calls = new CallRepository(db);
    const answered = await calls.start({ direction: 'in', peer: 'sip:bob@peerdial', sipCallId: 'c1', at: 1000 });
    await calls.answered(answered, 2000);
    await calls.start({ direction: 'in', peer: 'sip:carol@peerdial', sipCallId: 'c2', at: 3000 });
    assert.equal((await calls.recent(10)).length, 0, 'calls in progress are not history yet');
    await calls.closeUnfinished('Peerdial stopped during the call');
    const history = await calls.recent(10);
    assert.deepEqual(
      history.map((c) => [c.peer, c.outcome]),
      [
        ['sip:carol@peerdial', 'missed'],
        ['sip:bob@peerdial', 'answered'],
      ],
    );
    await assert.rejects(db.run(`UPDATE calls SET outcome = 'lost' WHERE id = ?`, [answered]));
    await db.close();
  });

  it('016 missed-call count: calls from before count as one each', async () => {
    const { db, file } = await openAt(15);
    await db.run("INSERT INTO calls (direction, peer, sip_call_id, outcome, started_at, ended_at) VALUES ('in', 'sip:a@x', 'c1', 'missed', 1, 2)");
    await db.close();
    const upgraded = await Database.open(file, migrations.filter((m) => m.version <= 16));
    assert.deepEqual(await upgraded.get('SELECT repeat FROM calls'), { repeat: 1 });
    assert.equal((await new CallRepository(upgraded).recent(10))[0].count, undefined);
    await upgraded.close();
  });

  it('upgrade an older database in place and keep its rows', async () => {
    const { db, file } = await openAt(1);
    await db.run("INSERT INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (1, 'A', 'a', x'00', x'00', 0)");
    await db.close();
    const upgraded = await Database.open(file);
    assert.equal(await upgraded.schemaVersion(), migrations.length);
    assert.equal((await upgraded.get<{ n: number }>('SELECT COUNT(*) AS n FROM identity'))!.n, 1);
    assert.equal((await upgraded.get<{ journal_mode: string }>('PRAGMA journal_mode'))!.journal_mode, 'wal');
    await upgraded.close();
  });

  it('a failing migration leaves the database at the previous version', async () => {
    const { db, file } = await openAt(3);
    await db.close();
    const broken = [...migrations, { version: migrations.length + 1, name: 'broken', up: 'CREATE TABLE ok_part (x); CREATE TABLE oops (' }];
    await assert.rejects(Database.open(file, broken));
    const reopened = await Database.open(file);
    assert.equal(await reopened.schemaVersion(), migrations.length);
    assert.equal(await reopened.get("SELECT name FROM sqlite_master WHERE name = 'ok_part'"), undefined);
    await reopened.close();
  });
});

describe('migration 004 overlay', () => {
  it('keeps one node key and one row per record slot', async () => {
    const { db } = await openAt(4);
    await db.run("INSERT INTO node_key (id, public_key, private_key, created_at) VALUES (1, x'00', x'00', 0)");
    await assert.rejects(db.run("INSERT INTO node_key (id, public_key, private_key, created_at) VALUES (2, x'00', x'00', 0)"), /CHECK constraint/);
    await db.run("INSERT INTO overlay_records (slot_id, record, expires) VALUES ('k/name/', '{}', 1)");
    await assert.rejects(db.run("INSERT INTO overlay_records (slot_id, record, expires) VALUES ('k/name/', '{}', 2)"), /UNIQUE/);
    await db.close();
  });
});

describe('migration 008 phones', () => {
  const phone = (id: string, username: string) => ({ id, name: `Desk ${id}`, username, ha1: { md5: 'a'.repeat(32), sha256: 'b'.repeat(64), sha512_256: 'c'.repeat(64) }, createdAt: 1000 });
  const binding = (contact: string, expiresAt: number) => ({ contact, expiresAt, callId: 'c1', cseq: 2, q: 0.5, instance: '<urn:uuid:1>', regId: 1, source: { protocol: 'udp' as const, address: '198.51.100.7', port: 40312 }, userAgent: 'baresip' });

  it('keeps each phone\'s user name unique, its registrations until they expire, and removes them with the phone', async () => {
    const { db } = await openAt(9);
    const phones = new PhoneRepository(db);
    await phones.add(phone('p1', 'alice-desk'));
    await assert.rejects(phones.add(phone('p2', 'alice-desk')), /UNIQUE/);
    await phones.add(phone('p2', 'alice-kitchen'));
    assert.deepEqual((await phones.byUsername('alice-desk'))?.ha1.sha256, 'b'.repeat(64));
    await phones.replaceBindings('p1', [binding('sip:alice@192.168.1.5:5062', 5000), binding('sip:alice@192.168.1.5:5064', 9000)]);
    assert.deepEqual(await phones.bindings('p1', 6000), [binding('sip:alice@192.168.1.5:5064', 9000)]);
    await phones.replaceBindings('p2', [{ contact: 'sip:alice@10.0.0.3', expiresAt: 9000, callId: 'c2', cseq: 1, source: { protocol: 'tcp', address: '203.0.113.4', port: 5555 } }]);
    assert.deepEqual((await phones.allBindings(6000)).map((b) => [b.phoneId, b.binding.contact]), [['p1', 'sip:alice@192.168.1.5:5064'], ['p2', 'sip:alice@10.0.0.3']]);
    assert.equal(await phones.pruneExpired(6000), 1);
    assert.equal(await phones.remove('p1'), true);
    assert.equal(await phones.remove('p1'), false);
    assert.deepEqual((await phones.allBindings(6000)).map((b) => b.phoneId), ['p2'], 'the removed phone\'s registrations went with it');
    assert.deepEqual((await phones.list()).map((p) => p.username), ['alice-kitchen']);
    await db.close();
  });
});

describe('migration 009 farm', () => {
  const account = (updatedAt: number, name = 'Desk') => ({ id: 'f1', name, username: 'dave-desk', ha1: { md5: 'a'.repeat(32), sha256: 'b'.repeat(64), sha512_256: 'c'.repeat(64) }, createdAt: 1000, farmUser: 'dave', updatedAt });

  it('a farm account is replaced by a newer copy without losing its registrations; removed, it is remembered', async () => {
    const { db } = await openAt(9);
    const phones = new PhoneRepository(db);
    await phones.putFarmAccount(account(1000));
    await phones.replaceBindings('f1', [{ contact: 'sip:dave@10.0.0.9:5062', expiresAt: 9000, callId: 'c', cseq: 1, source: { protocol: 'udp', address: '10.0.0.9', port: 5062 } }]);
    await phones.putFarmAccount(account(2000, 'Desk upstairs'));
    const [stored] = await phones.list();
    assert.equal(stored.name, 'Desk upstairs');
    assert.equal(stored.farmUser, 'dave');
    assert.equal(stored.updatedAt, 2000);
    assert.equal((await phones.bindings('f1', 0)).length, 1, 'registrations stay when the account is updated');
    await phones.removeFarmAccount('f1', 3000);
    await phones.removeFarmAccount('f1', 2500);
    assert.deepEqual(await phones.list(), []);
    assert.deepEqual(await phones.farmRemovals(), [{ id: 'f1', removedAt: 3000 }], 'the latest removal is kept');
    await phones.pruneFarmRemovals(4000);
    assert.deepEqual(await phones.farmRemovals(), []);
    await db.close();
  });
});

describe('migration 010 sealed messages', () => {
  it('marks every older message as sent in the clear, and keeps the mark of a sealed one through its status changes', async () => {
    const { db, file } = await openAt(9);
    await db.run("INSERT INTO messages (peer, direction, body, status, sip_call_id, sip_cseq, created_at, updated_at) VALUES ('sip:bob@peerdial', 'in', 'old', 'received', 'c1', 1, 1, 1)");
    await db.close();
    // Up to today's schema: the repository is today's.
    const upgraded = await Database.open(file, migrations);
    const messages = new MessageRepository(upgraded);
    const [old] = await messages.history('sip:bob@peerdial', 10);
    assert.equal(old.encrypted, false);
    const sent = await messages.add({ peer: 'sip:bob@peerdial', direction: 'out', text: 'new', status: 'sending', sipCallId: 'c2', sipCseq: 1, at: 2 });
    await messages.markEncrypted(sent!.id);
    const settled = await messages.settle(sent!.id, 'delivered', undefined, 3);
    assert.equal(settled?.encrypted, true);
    assert.equal(settled?.status, 'delivered');
    await upgraded.close();
  });
});

describe('migration 011 verified buddies', () => {
  it('keeps the verified key with the buddy, and every older buddy starts unverified', async () => {
    const { db, file } = await openAt(10);
    await db.run("INSERT INTO buddies (aor, state, public_key, created_at, updated_at) VALUES ('sip:bob@peerdial', 'accepted', 'KEY', 1, 1)");
    await db.close();
    const upgraded = await Database.open(file, migrations.filter((m) => m.version <= 11));
    const buddies = new BuddyRepository(upgraded);
    const bob = (await buddies.get('sip:bob@peerdial'))!;
    assert.equal(bob.verifiedKey, undefined);
    await buddies.save({ ...bob, verifiedKey: 'KEY', updatedAt: 2 });
    assert.equal((await buddies.get('sip:bob@peerdial'))!.verifiedKey, 'KEY');
    await upgraded.close();
  });
});

describe('migration 012 identity protection', () => {
  it('an existing identity reads as kept in the clear; the column takes only the known ways', async () => {
    const { db, file } = await openAt(11);
    await db.run("INSERT INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (1, 'A', 'a', x'00', x'01', 0)");
    await db.close();
    const upgraded = await Database.open(file, migrations.filter((m) => m.version <= 12));
    assert.equal((await upgraded.get<{ key_protection: string }>('SELECT key_protection FROM identity'))?.key_protection, 'none');
    await assert.rejects(upgraded.run("UPDATE identity SET key_protection = 'rot13'"), /CHECK constraint/);
    await upgraded.close();
  });
});

describe('migration 014 voice messages', () => {
  it('keeps older messages as texts, stores a voice message with its audio at once, and counts it unheard until listened', async () => {
    const { db, file } = await openAt(13);
    await db.run("INSERT INTO messages (peer, direction, body, status, sip_call_id, sip_cseq, created_at, updated_at) VALUES ('sip:bob@peerdial', 'in', 'old', 'received', 'c1', 1, 1, 1)");
    await db.close();
    const upgraded = await Database.open(file, migrations.filter((m) => m.version <= 14));
    const messages = new MessageRepository(upgraded);
    const [old] = await messages.history('sip:bob@peerdial', 10);
    assert.equal(old.voice, undefined);
    const audio = Buffer.from([0, 3, 1, 2, 3]);
    const voice = await messages.add({ peer: 'sip:bob@peerdial', direction: 'in', text: 'Voice message', status: 'received', sipCallId: 'v1', sipCseq: 1, at: 2, encrypted: true, voice: { codec: 'opus/48000', durationMs: 20, audio } });
    assert.deepEqual(voice?.voice, { durationMs: 20, listened: false });
    assert.deepEqual(await messages.voiceAudio(voice!.id), { codec: 'opus/48000', audio });
    assert.deepEqual(await messages.voiceCounts(), { unheard: 1, heard: 0 });
    // Opening the conversation sends a read receipt for the text only: the voice message is not heard yet.
    assert.deepEqual(await messages.markRead('sip:bob@peerdial', 3), ['c1']);
    assert.equal(await messages.markListened(voice!.id, 4), 'v1');
    assert.equal(await messages.markListened(voice!.id, 5), undefined, 'listened once');
    assert.deepEqual(await messages.voiceCounts(), { unheard: 0, heard: 1 });
    assert.equal((await messages.byId(voice!.id))?.voice?.listened, true);
    await upgraded.close();
  });
});
