// The batched scheduler must change only how fast a simulation runs, never what happens in it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EventScheduler } from './event-scheduler.js';
import { ringIsCorrect, seededRandom, SimNetwork } from './sim-network.js';

/** Grows a ring one join at a time and digests every node's final routing state and counters. */
async function run(batch: number): Promise<{ digest: string; events: number; now: number; bytes: number; correct: boolean }> {
  const random = seededRandom(100);
  const net = new SimNetwork({ random, schedulerBatch: batch });
  const first = net.addNode();
  first.create();
  for (let i = 1; i < 100; i++) {
    await net.scheduler.until(net.addNode().join(first.self));
    await net.scheduler.runFor(200);
  }
  await net.scheduler.runFor(20_000);
  const hash = createHash('sha1');
  for (const n of net.live()) {
    hash.update(JSON.stringify([n.self.id, n.table.predecessor?.id, n.table.successors.map((s) => s.id), n.table.fingers.map((f) => f?.id), n.stats]));
  }
  return { digest: hash.digest('hex'), events: net.scheduler.events, now: net.scheduler.now, bytes: net.totalBytes, correct: ringIsCorrect(net.live()).correct };
}

describe('event scheduler', () => {
  it('gives a 100-node seeded run the same outcome batched as one event per turn of the event loop', async () => {
    const reference = await run(1);
    const batched = await run(256);
    assert.ok(reference.correct);
    assert.deepEqual(batched, reference);
  });

  it('fires events in time order, ties in the order they were set, and skips cleared ones', async () => {
    const scheduler = new EventScheduler({ batch: 4 });
    const fired: string[] = [];
    scheduler.set(30, () => fired.push('c'));
    scheduler.set(10, () => fired.push('a'));
    const cleared = scheduler.set(20, () => fired.push('cleared'));
    scheduler.set(10, () => fired.push('b'));
    scheduler.clear(cleared);
    await scheduler.runFor(100);
    assert.deepEqual(fired, ['a', 'b', 'c']);
    assert.equal(scheduler.now, 100);
  });

  it('runs the continuations an event sets off before the next event, at that event\'s time', async () => {
    const scheduler = new EventScheduler();
    const seen: Array<[string, number]> = [];
    const sleep = (ms: number) => new Promise<void>((resolve) => scheduler.set(ms, resolve));
    const chain = async () => {
      await sleep(5);
      for (let i = 0; i < 50; i++) await Promise.resolve();
      seen.push(['chain after 50 awaits', scheduler.now]);
      await sleep(5);
      seen.push(['chain second sleep', scheduler.now]);
    };
    void chain();
    scheduler.set(7, () => seen.push(['timer at 7', scheduler.now]));
    await scheduler.runFor(20);
    assert.deepEqual(seen, [
      ['chain after 50 awaits', 5],
      ['timer at 7', 7],
      ['chain second sleep', 10],
    ]);
  });

  it('stops at the instant the awaited promise settles', async () => {
    const scheduler = new EventScheduler();
    let late = false;
    scheduler.set(500, () => (late = true));
    const value = await scheduler.until(new Promise<number>((resolve) => scheduler.set(100, () => resolve(42))));
    assert.equal(value, 42);
    assert.equal(scheduler.now, 100);
    assert.equal(late, false);
  });
});
