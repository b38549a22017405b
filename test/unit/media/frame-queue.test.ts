// The bounded microphone/echo queue: FIFO order, and the oldest frames dropped past capacity.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameQueue } from '../../../native/proto/media/frame-queue.js';

const frame = (marker: number) => Int16Array.of(marker);

describe('frame queue', () => {
  it('gives-frames-back-in-the-order-they-came', () => {
    const queue = new FrameQueue(4);
    queue.push(frame(1));
    queue.push(frame(2));
    assert.equal(queue.read()?.[0], 1);
    assert.equal(queue.read()?.[0], 2);
    assert.equal(queue.read(), undefined);
  });

  it('drops-the-oldest-frames-past-its-capacity', () => {
    const queue = new FrameQueue(3);
    for (let i = 1; i <= 5; i++) queue.push(frame(i));
    assert.equal(queue.length, 3);
    assert.equal(queue.dropped, 2);
    assert.deepEqual([queue.read()?.[0], queue.read()?.[0], queue.read()?.[0], queue.read()], [3, 4, 5, undefined]);
  });

  it('refuses-a-capacity-below-one', () => {
    assert.throws(() => new FrameQueue(0), RangeError);
  });
});
