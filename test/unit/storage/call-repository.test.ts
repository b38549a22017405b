// The call history keeps the newest CALL_HISTORY_LIMIT finished calls, whatever a flood leaves.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { CALL_HISTORY_LIMIT, CallRepository } from '../../../native/storage/repositories/call-repository.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function open(): Promise<Database> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'peerdial-calls-'));
  dirs.push(d);
  return Database.open(path.join(d, 'db.sqlite3'));
}

describe('call history', () => {
  it('keeps the newest 1,000 calls by default', () => {
    assert.equal(CALL_HISTORY_LIMIT, 1_000);
  });

  it('drops the oldest finished calls beyond the limit, newest kept in order', async () => {
    const db = await open();
    const calls = new CallRepository(db, 20);
    for (let i = 0; i < 50; i++) {
      const id = await calls.start({ direction: 'in', peer: 'sip:flood@x', sipCallId: `c${i}`, at: 1_000 + i });
      await calls.finish(id, 'missed', 1_000 + i);
    }
    assert.equal(await calls.count(), 20);
    const recent = await calls.recent(100);
    assert.deepEqual(recent.map((c) => c.startedAt), Array.from({ length: 20 }, (_, i) => 1_049 - i));
    await db.close();
  });

  it('never drops a call in progress, however old', async () => {
    const db = await open();
    const calls = new CallRepository(db, 5);
    const ongoing = await calls.start({ direction: 'out', peer: 'sip:friend@x', sipCallId: 'long', at: 1 });
    for (let i = 0; i < 10; i++) {
      const id = await calls.start({ direction: 'in', peer: 'sip:flood@x', sipCallId: `c${i}`, at: 100 + i });
      await calls.finish(id, 'missed', 100 + i);
    }
    const finished = await calls.finish(ongoing, 'answered', 500);
    assert.equal(finished?.peer, 'sip:friend@x');
    await db.close();
  });
});
