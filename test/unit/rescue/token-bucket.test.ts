import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DailyVolume, TokenBucket, utcDay } from '../../../native/proto/rescue/token-bucket.js';
import { seededRandom as prng } from '../../support/random.js';

interface Send { at: number; bytes: number }

/** `senders` loops, each booking a random chunk and sending it when told, as fast as allowed, on a fake clock. */
function simulate(bucket: TokenBucket, options: { senders: number; until: number; seed: number; maxChunk: number; onTick?: (t: number) => void }): Send[] {
  const random = prng(options.seed);
  const sends: Send[] = [];
  // Each sender's next booking time; the event loop always runs the earliest one.
  const next = Array.from({ length: options.senders }, () => 0);
  for (;;) {
    let i = 0;
    for (let j = 1; j < next.length; j++) if (next[j] < next[i]) i = j;
    const now = next[i];
    if (now >= options.until) break;
    options.onTick?.(now);
    const bytes = 1 + Math.floor(random() * options.maxChunk);
    const delay = bucket.reserve(bytes, now);
    assert.ok(delay >= 0);
    sends.push({ at: now + delay, bytes });
    next[i] = now + delay;
  }
  return sends.sort((a, b) => a.at - b.at);
}

/** The most bytes sent in any window [t, t + width), checked from every send. */
function maxWindow(sends: Send[], width: number, from = 0, to = Infinity): number {
  const s = sends.filter((x) => x.at >= from && x.at < to);
  let best = 0;
  let sum = 0;
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    while (j < s.length && s[j].at < s[i].at + width) sum += s[j++].bytes;
    best = Math.max(best, sum);
    sum -= s[i].bytes;
  }
  return best;
}

const RATE = 1_000_000;
const BURST = 64 * 1024;

describe('token bucket', () => {
  it('sends at once while there are tokens, then asks the sender to wait for the debt', () => {
    const b = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 500, now: 0 });
    assert.equal(b.reserve(500, 0), 0);
    assert.equal(b.available(0), 0);
    assert.equal(b.reserve(250, 0), 250);
    assert.equal(b.reserve(250, 0), 500, 'a second booking queues behind the first');
    assert.equal(b.available(0), -500);
    assert.equal(b.available(500), 0);
    assert.equal(b.available(10_000), 500, 'refills only up to the burst');
  });

  it('keeps every 10 s sliding window within 5% of rate x 10 s for one greedy sender', () => {
    const bucket = new TokenBucket({ bytesPerSecond: RATE, burstBytes: BURST, now: 0 });
    const sends = simulate(bucket, { senders: 1, until: 120_000, seed: 1, maxChunk: 64 * 1024 });
    assert.ok(sends.length > 1000);
    const worst = maxWindow(sends, 10_000);
    assert.ok(worst <= 1.05 * RATE * 10, `worst window ${worst}`);
    assert.ok(worst <= RATE * 10 + BURST + 64 * 1024, 'and within rate*10 + burst (+ one chunk booked at the edge)');
  });

  it('keeps the windows bounded when many senders book before any of them has sent', () => {
    const bucket = new TokenBucket({ bytesPerSecond: RATE, burstBytes: BURST, now: 0 });
    const sends = simulate(bucket, { senders: 20, until: 60_000, seed: 2, maxChunk: 16 * 1024 });
    assert.ok(maxWindow(sends, 10_000) <= 1.05 * RATE * 10);
  });

  it('holds the long-run rate within 1%', () => {
    const bucket = new TokenBucket({ bytesPerSecond: RATE, burstBytes: BURST, now: 0 });
    const sends = simulate(bucket, { senders: 3, until: 300_000, seed: 3, maxChunk: 64 * 1024 });
    const last = sends[sends.length - 1].at;
    const total = sends.reduce((s, x) => s + x.bytes, 0);
    const rate = ((total - BURST) / last) * 1000;
    assert.ok(Math.abs(rate - RATE) / RATE < 0.01, `rate ${rate}`);
  });

  it('follows a rate change: half the rate afterwards, debt already booked kept', () => {
    const bucket = new TokenBucket({ bytesPerSecond: RATE, burstBytes: BURST, now: 0 });
    let changed = false;
    const sends = simulate(bucket, {
      senders: 1,
      until: 200_000,
      seed: 4,
      maxChunk: 32 * 1024,
      onTick: (t) => {
        if (!changed && t >= 100_000) {
          bucket.setRate(RATE / 2, BURST / 2, t);
          changed = true;
        }
      },
    });
    const bytesIn = (from: number, to: number) => sends.filter((s) => s.at >= from && s.at < to).reduce((a, s) => a + s.bytes, 0);
    const before = (bytesIn(10_000, 90_000) / 80_000) * 1000;
    const after = (bytesIn(110_000, 190_000) / 80_000) * 1000;
    assert.ok(Math.abs(before - RATE) / RATE < 0.01, `before ${before}`);
    assert.ok(Math.abs(after - RATE / 2) / (RATE / 2) < 0.01, `after ${after}`);
    assert.ok(maxWindow(sends, 10_000, 100_000) <= 1.05 * (RATE / 2) * 10 + 32 * 1024);
  });

  it('caps stored tokens at a smaller new burst and keeps a debt across a rate change', () => {
    const b = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: 0 });
    b.setRate(1000, 100, 0);
    assert.equal(b.available(0), 100);
    assert.equal(b.reserve(1100, 0), 1000);
    b.setRate(500, 100, 0);
    assert.equal(b.available(0), -1000);
    assert.equal(b.reserve(0, 0), 2000, 'the debt is now paid at the new rate');
  });

  it('refuses a rate that could never pay a debt', () => {
    assert.throws(() => new TokenBucket({ bytesPerSecond: 0, burstBytes: 10, now: 0 }), RangeError);
    const b = new TokenBucket({ bytesPerSecond: 10, burstBytes: 10, now: 0 });
    assert.throws(() => b.setRate(-1, 10, 0), RangeError);
  });

  it('gives no tokens when the clock steps back', () => {
    const b = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: 10_000 });
    b.reserve(1000, 10_000);
    assert.equal(b.available(5_000), 0);
    assert.equal(b.available(10_500), 500);
  });
});

describe('daily volume', () => {
  const NOON = Date.UTC(2024, 2, 10, 12, 0, 0);
  const MIDNIGHT = Date.UTC(2024, 2, 11, 0, 0, 0);

  it('counts bytes against the cap and says when it is exceeded', () => {
    const v = new DailyVolume({ capBytes: 1000 });
    v.add(400, NOON);
    assert.equal(v.used(NOON), 400);
    assert.equal(v.remaining(NOON), 600);
    assert.equal(v.exceeded(NOON), false);
    v.add(600, NOON + 1);
    assert.equal(v.exceeded(NOON + 1), true);
    v.add(50, NOON + 2);
    assert.equal(v.remaining(NOON + 2), 0);
    v.setCap(2000);
    assert.equal(v.exceeded(NOON + 3), false);
  });

  it('resets when the UTC date changes at midnight', () => {
    const v = new DailyVolume({ capBytes: 1000 });
    v.add(999, MIDNIGHT - 1);
    assert.equal(v.used(MIDNIGHT - 1), 999);
    assert.equal(v.used(MIDNIGHT), 0);
    assert.equal(v.remaining(MIDNIGHT), 1000);
    assert.deepEqual(v.snapshot(MIDNIGHT + 5), { day: '2024-03-11', used: 0 });
  });

  it('restores a snapshot of the same day and drops one of an earlier day', () => {
    const same = new DailyVolume({ capBytes: 1000, used: 700, day: '2024-03-10' });
    assert.equal(same.used(NOON), 700);
    assert.deepEqual(same.snapshot(NOON), { day: '2024-03-10', used: 700 });
    const old = new DailyVolume({ capBytes: 1000, used: 700, day: '2024-03-09' });
    assert.equal(old.used(NOON), 0);
  });

  it('names days by their UTC date', () => {
    assert.equal(utcDay(MIDNIGHT - 1), '2024-03-10');
    assert.equal(utcDay(MIDNIGHT), '2024-03-11');
  });

  it('is exceeded at once with a cap of zero', () => {
    assert.equal(new DailyVolume({ capBytes: 0 }).exceeded(NOON), true);
  });
});
