import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthLockout } from '../../../native/proto/sip/auth-lockout.js';

describe('digest brute-force lockout', () => {
  it('locks a source out after N failures within the window, for the lock time, and only that source', () => {
    let now = 0;
    const lockout = new AuthLockout({ maxFailures: 3, windowMs: 60_000, lockMs: 300_000, now: () => now });
    assert.equal(lockout.fail('192.0.2.1'), false);
    assert.equal(lockout.fail('192.0.2.1'), false);
    assert.equal(lockout.fail('192.0.2.1'), true, 'the third failure locks');
    assert.equal(lockout.lockedFor('192.0.2.1'), 300_000);
    assert.equal(lockout.lockedFor('192.0.2.2'), 0);
    now = 299_999;
    assert.ok(lockout.lockedFor('192.0.2.1') > 0);
    now = 300_000;
    assert.equal(lockout.lockedFor('192.0.2.1'), 0);
  });
  it('failures spread wider than the window do not add up; a success clears the count', () => {
    let now = 0;
    const lockout = new AuthLockout({ maxFailures: 2, windowMs: 10_000, now: () => now });
    lockout.fail('a');
    now = 20_000;
    assert.equal(lockout.fail('a'), false);
    lockout.succeed('a');
    assert.equal(lockout.fail('a'), false);
  });
});
