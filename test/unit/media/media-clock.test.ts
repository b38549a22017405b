// The shared 20 ms ticker, driven by a fake time source: ticks stay on the schedule set by the
// start time, lateness is measured per listener call, and a long stall is skipped, not burst.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaClock, type ClockTimeSource, type MediaTick } from '../../../native/transport/media-clock.js';

class FakeTime implements ClockTimeSource {
  current = 1000;
  private timers: { at: number; fire: () => void; id: number }[] = [];
  private ids = 0;

  now(): number {
    return this.current;
  }
  setTimer(fire: () => void, delayMs: number): unknown {
    const timer = { at: this.current + delayMs, fire, id: ++this.ids };
    this.timers.push(timer);
    return timer.id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  get pending(): number {
    return this.timers.length;
  }
  get nextAt(): number | undefined {
    return this.timers.map((t) => t.at).sort((a, b) => a - b)[0];
  }
  /** Runs due timers up to `until`; `lateBy` makes each fire that much after its due time. */
  advanceTo(until: number, lateBy = 0): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at + lateBy > until) break;
      this.timers.shift();
      this.current = next.at + lateBy;
      next.fire();
    }
    this.current = until;
  }
}

describe('media clock', () => {
  it('ticks-every-period-from-the-start-time-without-drift', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time });
    const ticks: MediaTick[] = [];
    clock.join((tick) => ticks.push(tick));
    // Every timer fires 3 ms late; the schedule must still be start + n * 20.
    time.advanceTo(1000 + 20 * 50 + 3, 3);
    assert.equal(ticks.length, 50);
    assert.deepEqual(ticks.slice(0, 3).map((t) => t.scheduledMs), [1020, 1040, 1060]);
    assert.equal(ticks[49].scheduledMs, 1000 + 20 * 50);
    assert.ok(ticks.every((t) => t.lateMs === 3));
    assert.equal(clock.stats.lateListenerCalls, 0);
    // After a late fire the next timer aims at the schedule, not at "now + 20".
    assert.equal(time.nextAt, 1000 + 20 * 51);
  });

  it('counts-a-listener-call-late-when-earlier-listeners-took-more-than-5ms', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time });
    const seen: number[] = [];
    clock.join(() => {
      seen.push(-1);
      time.current += 7; // slow work in the first listener
    }, 0);
    clock.join((tick) => seen.push(tick.lateMs), 1);
    time.advanceTo(1020);
    assert.deepEqual(seen, [-1, 7]);
    assert.equal(clock.stats.listenerCalls, 2);
    assert.equal(clock.stats.lateListenerCalls, 1);
    assert.equal(clock.stats.maxLateMs, 7);
  });

  it('runs-listeners-in-order-whatever-order-they-joined', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time });
    const order: string[] = [];
    clock.join(() => order.push('playout'), 1);
    clock.join(() => order.push('send'), 0);
    time.advanceTo(1020);
    assert.deepEqual(order, ['send', 'playout']);
  });

  it('catches-up-a-short-stall-and-skips-a-long-one', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time, maxCatchUpTicks: 5 });
    const indexes: number[] = [];
    clock.join((tick) => indexes.push(tick.index));
    time.advanceTo(1020);
    assert.deepEqual(indexes, [1]);
    // Stalled 60 ms: ticks 2, 3, 4 all run at once (each counted late).
    time.advanceTo(1080, 60 - 20);
    assert.deepEqual(indexes, [1, 2, 3, 4]);
    // Stalled one second: only the last few ticks run.
    indexes.length = 0;
    time.advanceTo(2080, 1000 - 20);
    assert.equal(indexes.at(-1), 54);
    assert.ok(indexes.length <= 6, `ran ${indexes.length} ticks`);
    assert.ok(clock.stats.skippedTicks >= 44);
  });

  it('stops-its-timer-when-the-last-listener-leaves', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time });
    const leaveA = clock.join(() => {});
    const leaveB = clock.join(() => {});
    assert.equal(time.pending, 1);
    leaveA();
    assert.equal(time.pending, 1);
    leaveB();
    assert.equal(time.pending, 0);
    assert.equal(clock.stats.listeners, 0);
  });

  it('keeps-ticking-the-others-when-a-listener-throws', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time });
    let calls = 0;
    clock.join(() => {
      throw new Error('broken session');
    });
    clock.join(() => calls++);
    time.advanceTo(1060);
    assert.equal(calls, 3);
  });

  it('with lanes, runs each listener once per period at its own phase', () => {
    const time = new FakeTime();
    const clock = new MediaClock({ time, lanes: 4 });
    const seen: Array<[number, number, number]> = [];
    const lanes = [clock.nextLane(), clock.nextLane(), clock.nextLane(), clock.nextLane(), clock.nextLane()];
    assert.deepEqual(lanes, [0, 1, 2, 3, 0], 'lanes are handed out in turn');
    clock.join((tick) => seen.push([0, tick.index, tick.scheduledMs]), 0, 0);
    clock.join((tick) => seen.push([2, tick.index, tick.scheduledMs]), 0, 2);
    time.advanceTo(1000 + 20 * 3);
    const lane0 = seen.filter(([l]) => l === 0).map(([, , at]) => at);
    const lane2 = seen.filter(([l]) => l === 2).map(([, , at]) => at);
    // Lane 0 from the first step after the start, lane 2 half a period later; 20 ms apart each.
    assert.deepEqual(lane2, [1010, 1030, 1050]);
    assert.deepEqual(lane0, [1020, 1040, 1060]);
    assert.ok(seen.filter(([l]) => l === 2).every(([, index], k, all) => k === 0 || index === all[k - 1][1] + 1), 'one tick index per period');
  });
});
