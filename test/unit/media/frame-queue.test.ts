// The bounded microphone/echo queue: FIFO order, the oldest frames dropped past capacity, and
// frames converted to the rate the call reads at.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameQueue } from '../../../native/proto/media/frame-queue.js';

const frame = (marker: number) => Int16Array.of(marker);

describe('frame queue', () => {
  it('gives-frames-back-in-the-order-they-came', () => {
    const queue = new FrameQueue(4);
    queue.push(frame(1), 8000);
    queue.push(frame(2), 8000);
    assert.equal(queue.read(8000)?.[0], 1);
    assert.equal(queue.read(8000)?.[0], 2);
    assert.equal(queue.read(8000), undefined);
  });

  it('drops-the-oldest-frames-past-its-capacity', () => {
    const queue = new FrameQueue(3);
    for (let i = 1; i <= 5; i++) queue.push(frame(i), 8000);
    assert.equal(queue.length, 3);
    assert.equal(queue.dropped, 2);
    assert.deepEqual([queue.read(8000)?.[0], queue.read(8000)?.[0], queue.read(8000)?.[0], queue.read(8000)], [3, 4, 5, undefined]);
  });

  it('gives-20ms-frames-at-the-rate-the-call-reads', () => {
    const queue = new FrameQueue(3);
    queue.push(new Int16Array(960).fill(1000), 48000);
    queue.push(new Int16Array(960).fill(1000), 48000);
    const first = queue.read(8000)!;
    const second = queue.read(8000)!;
    assert.equal(first.length, 160);
    assert.equal(second.length, 160);
    // Past the filter's start, a steady level stays the level it was.
    assert.ok(second.every((sample) => Math.abs(sample - 1000) <= 2), `${second.slice(0, 8)}`);
  });

  it('refuses-a-capacity-below-one', () => {
    assert.throws(() => new FrameQueue(0), RangeError);
  });
});
