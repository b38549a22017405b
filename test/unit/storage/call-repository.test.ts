// The call history keeps the newest CALL_HISTORY_LIMIT finished calls, whatever a flood leaves.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { CALL_HISTORY_LIMIT, CallRepository, MISSED_CALL_FOLD_MS } from '../../../native/storage/repositories/call-repository.js';

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
      // A new From each time (anyone can write any From), so no two calls fold into one row.
      const id = await calls.start({ direction: 'in', peer: `sip:caller${i}@x`, sipCallId: `c${i}`, at: 1_000 + i });
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

describe('repeated missed calls', () => {
  const missed = async (calls: CallRepository, peer: string, at: number) => calls.finish(await calls.start({ direction: 'in', peer, sipCallId: `${peer}-${at}`, at }), 'missed', at + 500);

  it('from one caller within ten minutes are one row with a count, the newest; the row folded in is named', async () => {
    const db = await open();
    const calls = new CallRepository(db);
    const first = await missed(calls, 'sip:flood@x', 1_000);
    assert.equal(first?.count, undefined);
    const second = await missed(calls, 'sip:flood@x', 2_000);
    assert.equal(second?.count, 2);
    assert.equal(second?.replaces, first?.id);
    for (let i = 0; i < 498; i++) await missed(calls, 'sip:flood@x', 3_000 + i);
    const history = await calls.recent(10);
    assert.equal(history.length, 1);
    assert.equal(history[0].count, 500);
    assert.equal(await calls.count(), 1);
    await db.close();
  });

  it('stay apart across callers, after ten minutes, around an answered call, and for outgoing calls', async () => {
    const db = await open();
    const calls = new CallRepository(db);
    await missed(calls, 'sip:a@x', 1_000);
    await missed(calls, 'sip:b@x', 2_000);
    await missed(calls, 'sip:a@x', 1_000 + MISSED_CALL_FOLD_MS + 10_000);
    const answered = await calls.start({ direction: 'in', peer: 'sip:b@x', sipCallId: 'ans', at: 3_000 });
    await calls.finish(answered, 'answered', 4_000);
    await missed(calls, 'sip:b@x', 5_000);
    const out = await calls.start({ direction: 'out', peer: 'sip:c@x', sipCallId: 'o1', at: 6_000 });
    await calls.finish(out, 'missed', 6_500);
    const out2 = await calls.start({ direction: 'out', peer: 'sip:c@x', sipCallId: 'o2', at: 7_000 });
    await calls.finish(out2, 'missed', 7_500);
    assert.equal(await calls.count(), 7);
    assert.ok((await calls.recent(10)).every((c) => c.count === undefined));
    await db.close();
  });
});
