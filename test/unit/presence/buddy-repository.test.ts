import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { migrations } from '../../../native/storage/migrations/index.js';
import { BuddyRepository } from '../../../native/storage/repositories/buddy-repository.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** The repository is today's: it runs on the schema of every migration (006 made the table, 011 added a column). */
async function open(version = migrations.length): Promise<Database> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-buddies-'));
  dirs.push(dir);
  return Database.open(path.join(dir, 'db.sqlite3'), migrations.filter((m) => m.version <= version));
}

describe('006 buddies and the buddy repository', () => {
  it('keep a buddy across a reopen, update it in place, and forget it', async () => {
    const db = await open();
    const repo = new BuddyRepository(db);
    await repo.save({ aor: 'sip:bob@peerdial', state: 'requested', requestNote: 'hi', outbox: 'request', publicKey: 'K'.repeat(43), createdAt: 1, updatedAt: 1 });
    await repo.save({ aor: 'sip:bob@peerdial', state: 'accepted', publicKey: 'K'.repeat(43), lastSeen: 5, presenceAt: 4, createdAt: 1, updatedAt: 6 });
    assert.deepEqual(await repo.list(), [{ aor: 'sip:bob@peerdial', state: 'accepted', publicKey: 'K'.repeat(43), lastSeen: 5, presenceAt: 4, createdAt: 1, updatedAt: 6 }]);
    assert.equal(await repo.remove('sip:bob@peerdial'), true);
    assert.equal(await repo.get('sip:bob@peerdial'), undefined);
    await db.close();
  });

  it('refuse a state or an outbox entry that does not exist; keep a removed buddy with the notice still owed', async () => {
    const db = await open();
    await assert.rejects(db.run("INSERT INTO buddies (aor, state, created_at, updated_at) VALUES ('sip:x@p', 'friend', 0, 0)"), /CHECK constraint/);
    await assert.rejects(db.run("INSERT INTO buddies (aor, state, outbox, created_at, updated_at) VALUES ('sip:x@p', 'accepted', 'hello', 0, 0)"), /CHECK constraint/);
    await db.run("INSERT INTO buddies (aor, state, outbox, created_at, updated_at) VALUES ('sip:y@p', 'removed', 'remove', 0, 0)");
    await db.run("INSERT INTO buddies (aor, state, created_at, updated_at) VALUES ('sip:x@p', 'blocked', 0, 0)");
    await assert.rejects(db.run("INSERT INTO buddies (aor, state, created_at, updated_at) VALUES ('sip:x@p', 'blocked', 0, 0)"), /UNIQUE|PRIMARY/);
    await db.close();
  });
});
