// RFC 3550 6.2/6.3.1 report timing: randomised around the minimum and compensated; the first
// report comes within a second.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstRtcpIntervalMs, nextRtcpIntervalMs } from '../../../native/proto/media/rtcp-interval.js';

describe('rtcp interval', () => {
  it('spreads-reports-over-half-to-one-and-a-half-the-minimum-divided-by-e-minus-1.5', () => {
    const compensation = Math.E - 1.5;
    assert.ok(Math.abs(nextRtcpIntervalMs(() => 0) - 2500 / compensation) < 1e-9);
    assert.ok(Math.abs(nextRtcpIntervalMs(() => 0.999999) - 7500 / compensation) < 1e-2);
    assert.ok(Math.abs(nextRtcpIntervalMs(() => 0.5, 1000) - 1000 / compensation) < 1e-9);
  });

  it('sends-the-first-report-within-a-second', () => {
    for (const r of [0, 0.5, 0.999999]) {
      const first = firstRtcpIntervalMs(() => r);
      assert.ok(first >= 500 && first < 1000, `first report after ${first} ms`);
    }
    assert.ok(firstRtcpIntervalMs(() => 0.999, 500) < 250);
  });
});
