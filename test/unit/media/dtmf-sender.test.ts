// RFC 4733 sending: the packet plan of one key press.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidDtmfKeyError, planDtmfPackets, validateDtmfKeys } from '../../../native/proto/media/dtmf-sender.js';

describe('dtmf sender', () => {
  it('plans-a-100ms-key-as-a-marked-start-updates-and-three-end-packets', () => {
    const plan = planDtmfPackets('5');
    assert.deepEqual(
      plan.map((p) => [p.marker, p.event.end, p.event.duration]),
      [
        [true, false, 160],
        [false, false, 320],
        [false, false, 480],
        [false, false, 640],
        [false, true, 800],
        [false, true, 800],
        [false, true, 800],
      ],
    );
    assert.ok(plan.every((p) => p.event.event === 5 && p.event.volume === 10));
  });

  it('maps-the-pad-symbols-to-their-event-codes', () => {
    assert.equal(planDtmfPackets('*')[0].event.event, 10);
    assert.equal(planDtmfPackets('#')[0].event.event, 11);
    assert.equal(planDtmfPackets('D')[0].event.event, 15);
  });

  it('rounds-a-short-key-up-to-whole-frames', () => {
    const plan = planDtmfPackets('1', { durationMs: 30 });
    assert.deepEqual(plan.map((p) => [p.marker, p.event.end, p.event.duration]), [
      [true, false, 160],
      [false, true, 320],
      [false, true, 320],
      [false, true, 320],
    ]);
  });

  it('marks-the-first-end-packet-when-the-key-lasts-one-frame', () => {
    const plan = planDtmfPackets('0', { durationMs: 20 });
    assert.deepEqual(plan.map((p) => [p.marker, p.event.end]), [[true, true], [false, true], [false, true]]);
  });

  it('refuses-characters-that-are-not-keys', () => {
    assert.throws(() => planDtmfPackets('E'), InvalidDtmfKeyError);
    assert.throws(() => validateDtmfKeys('12x3'), (e: unknown) => e instanceof InvalidDtmfKeyError && e.key === 'x' && e.code === 'INVALID_DTMF');
    assert.doesNotThrow(() => validateDtmfKeys('0123456789*#ABCD'));
  });
});
