import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantExpires, MIN_EXPIRES_S, offlineBoundMs, refreshDelayMs, requestTimeoutMs, retryDelayMs } from '../../../native/proto/sip/subscription-timing.js';

describe('presence subscription timing', () => {
  it('the notifier grants the default when none is asked, never more than its maximum, and 423 below the minimum', () => {
    assert.deepEqual(grantExpires(undefined, 120), { kind: 'ok', expires: 120 });
    assert.deepEqual(grantExpires(60, 120), { kind: 'ok', expires: 60 });
    assert.deepEqual(grantExpires(999_999, 120), { kind: 'ok', expires: 3600 });
    assert.deepEqual(grantExpires(0, 120), { kind: 'ok', expires: 0 }, 'an unsubscription');
    assert.deepEqual(grantExpires(1, 120), { kind: 'too-brief', min: MIN_EXPIRES_S });
  });

  it('refreshes at half the duration, with a request timeout between 1 and 5 s', () => {
    assert.equal(refreshDelayMs(120), 60_000);
    assert.equal(requestTimeoutMs(120), 5_000);
    assert.equal(requestTimeoutMs(4), 1_000);
  });

  it('states the offline bound: 80 s for the default 120 s subscriptions, 6 s for 4 s ones', () => {
    assert.equal(offlineBoundMs(120), 60_000 + 5_000 + 10_000 + 5_000);
    assert.equal(offlineBoundMs(4), 2_000 + 1_000 + 2_000 + 1_000);
  });

  it('retries an unreachable buddy at E/2, doubling, at most every 5 minutes', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(120, n)), [60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
    assert.equal(retryDelayMs(4, 1), 2_000);
  });
});
