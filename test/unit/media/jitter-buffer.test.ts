import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JitterBuffer, type PlayoutFrame } from '../../../native/proto/media/jitter-buffer.js';

const FRAME_MS = 20;

function packet(seq: number) {
  return { seq: seq & 0xffff, timestamp: (seq * 160) >>> 0, payload: Uint8Array.of(seq & 0xff) };
}

/** bufferedMs after each pop of the last simulate() run. */
const buffered: number[] = [];

/**
 * Plays a sender that emits frame n at n*20 ms, arriving after transitMs(n) (undefined = lost),
 * against a receiver that pops every 20 ms starting at 5 ms; returns what was popped.
 */
function simulate(
  buffer: JitterBuffer,
  frames: number,
  transitMs: (n: number) => number | undefined,
  ticks: number,
  firstSeq = 0,
): PlayoutFrame[] {
  const events: { at: number; order: number; run: () => void }[] = [];
  const out: PlayoutFrame[] = [];
  buffered.length = 0;
  for (let n = 0; n < frames; n++) {
    const transit = transitMs(n);
    if (transit === undefined) continue;
    const at = n * FRAME_MS + transit;
    events.push({ at, order: 0, run: () => buffer.push(packet(firstSeq + n), at) });
  }
  for (let k = 0; k < ticks; k++) {
    const at = k * FRAME_MS + 5;
    events.push({ at, order: 1, run: () => {
      out.push(buffer.pop(at));
      buffered.push(buffer.stats.bufferedMs);
    } });
  }
  events.sort((a, b) => a.at - b.at || a.order - b.order);
  for (const e of events) e.run();
  return out;
}

const playedSeqs = (frames: PlayoutFrame[]) => frames.flatMap((f) => (f.concealed ? [] : [f.seq]));

describe('jitter buffer', () => {
  it('plays-a-steady-stream-in-order-without-concealment-once-started', () => {
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    const out = simulate(buffer, 100, () => 10, 90);
    const firstPlayed = out.findIndex((f) => !f.concealed);
    assert.ok(firstPlayed > 0 && firstPlayed <= 3, `started after ${firstPlayed} ticks`);
    assert.ok(out.slice(firstPlayed).every((f) => !f.concealed));
    assert.deepEqual(playedSeqs(out), Array.from({ length: out.length - firstPlayed }, (_, i) => i));
    assert.equal(buffer.stats.jitterMs, 0);
  });

  it('puts-reordered-packets-back-in-sequence', () => {
    const buffer = new JitterBuffer({ minDelayMs: 60 });
    // Frame pairs (1,2), (5,6), (9,10)... arrive swapped.
    const out = simulate(buffer, 40, (n) => (n % 4 === 1 ? 25 : n % 4 === 2 ? 0 : 5), 38);
    const played = playedSeqs(out);
    assert.ok(played.length >= 30);
    assert.deepEqual(played, Array.from({ length: played.length }, (_, i) => i));
    assert.equal(buffer.stats.lost + buffer.stats.late, 0);
  });

  it('plays-a-duplicated-packet-once-and-counts-it', () => {
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    buffer.push(packet(0), 0);
    buffer.push(packet(0), 1);
    buffer.push(packet(1), 20);
    const first = buffer.pop(40);
    buffer.push(packet(0), 41); // after it was played
    const second = buffer.pop(60);
    assert.deepEqual(playedSeqs([first, second]), [0, 1]);
    assert.equal(buffer.stats.duplicate, 2);
    assert.equal(buffer.stats.late, 0);
  });

  it('conceals-a-lost-frame-and-drops-it-when-it-arrives-too-late', () => {
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    buffer.push(packet(0), 0);
    buffer.push(packet(2), 40);
    assert.deepEqual(playedSeqs([buffer.pop(40)]), [0]);
    // The packet after the gap is already here: it goes with the loss, for a codec's FEC.
    assert.deepEqual(buffer.pop(60), { concealed: true, reason: 'lost', next: packet(2).payload });
    buffer.push(packet(1), 65);
    assert.deepEqual(playedSeqs([buffer.pop(80)]), [2]);
    assert.equal(buffer.stats.lost, 1);
    assert.equal(buffer.stats.late, 1);
    assert.equal(buffer.stats.played, 2);
  });

  it('holds-playout-during-a-pause-and-resumes-without-losing-a-frame', () => {
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    // Frames 0-9 on time, then 10-19 all arrive 100 ms late in one burst.
    const out = simulate(buffer, 20, (n) => (n < 10 ? 5 : 105), 40);
    assert.ok(out.some((f) => f.concealed && f.reason === 'underrun'));
    assert.deepEqual(playedSeqs(out), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(buffer.stats.lost, 0);
  });

  it('follows-the-sequence-number-across-its-16-bit-wrap', () => {
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    const out = simulate(buffer, 10, () => 5, 12, 65531);
    assert.deepEqual(playedSeqs(out), [65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4]);
  });

  it('estimates-interarrival-jitter-as-rfc-3550-a8', () => {
    const buffer = new JitterBuffer();
    // Transit alternates 0 and 30 ms: every |D| is 30 ms, so J converges to 30 ms.
    for (let n = 0; n < 200; n++) buffer.push(packet(n), n * FRAME_MS + (n % 2 ? 30 : 0));
    assert.ok(Math.abs(buffer.stats.jitterMs - 30) < 0.5, `jitter ${buffer.stats.jitterMs}`);
    // After the first step J = |D|/16 exactly.
    const fresh = new JitterBuffer();
    fresh.push(packet(0), 0);
    fresh.push(packet(1), 36);
    assert.equal(fresh.stats.jitterMs, 1);
  });

  it('raises-its-delay-with-jitter-to-avoid-losing-late-packets-and-caps-it', () => {
    const transit = (n: number) => (n % 4 === 0 ? 70 : 5); // every 4th packet 65 ms later than the rest
    const adaptive = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 200 });
    const out = simulate(adaptive, 500, transit, 480);
    assert.ok(adaptive.stats.targetDelayMs > 20, `target ${adaptive.stats.targetDelayMs}`);
    const lateInSecondHalf = out.slice(240).filter((f) => f.concealed).length;
    assert.equal(lateInSecondHalf, 0, 'the grown delay absorbs the jitter');

    const capped = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 40 });
    simulate(capped, 500, transit, 480);
    assert.equal(capped.stats.targetDelayMs, 40);
    assert.ok(capped.stats.late > 50, 'a capped buffer cannot wait for the late ones');
  });

  it('shrinks-its-delay-slowly-once-the-jitter-is-gone', () => {
    const buffer = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 300, shrinkAfterTicks: 50 });
    // 2 s of heavy jitter, then 20 s steady.
    const transit = (n: number) => (n < 100 ? (n % 3 === 0 ? 150 : 5) : 5);
    const out = simulate(buffer, 1100, transit, 1090);
    const peak = Math.max(...buffered.slice(0, 150));
    assert.ok(peak >= 200, `the jitter raised the delay to ${peak} ms`);
    // Never more than one frame shed per 50 ticks: compare depth 50 ticks apart.
    for (let k = 150; k + 50 < buffered.length; k++) assert.ok(buffered[k] - buffered[k + 50] <= 2 * FRAME_MS, `fell fast at tick ${k}`);
    assert.ok(buffered[1080] <= 40, `still ${buffered[1080]} ms buffered after 20 s of calm`);
    assert.ok(out.slice(-100).every((f) => !f.concealed));
  });

  it('keeps-its-delay-through-a-silence-the-sender-did-not-send', () => {
    // Frames 0-49 and 100-149 arrive with a 5 ms transit; 50-99 were never sent (DTX), so
    // slots 50-99 are missing in time, as the media session places packets by timestamp.
    const buffer = new JitterBuffer({ minDelayMs: 40 });
    const out = simulate(buffer, 150, (n) => (n >= 50 && n < 100 ? undefined : 5), 160);
    const playedAt = (seq: number) => out.findIndex((f) => !f.concealed && f.seq === seq);
    // The talk spurt after the silence plays as late after its sending as the one before.
    assert.equal(playedAt(100) - 100, playedAt(0) - 0, `frame 0 at tick ${playedAt(0)}, frame 100 at tick ${playedAt(100)}`);
    assert.equal(playedAt(149) - 149, playedAt(0) - 0);
  });

  it('reports-buffering-before-the-first-packet', () => {
    const buffer = new JitterBuffer();
    assert.deepEqual(buffer.pop(0), { concealed: true, reason: 'buffering' });
  });
});
