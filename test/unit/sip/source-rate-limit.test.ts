import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceRateLimit } from '../../../native/proto/sip/source-rate-limit.js';

describe('requests per second from one source', () => {
  it('lets a burst through, then the rate; other sources are not affected', () => {
    const limit = new SourceRateLimit({ perSecond: 10, burst: 20 });
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (limit.allow('192.0.2.1', 0)) allowed++;
    assert.equal(allowed, 20, 'the burst');
    assert.equal(limit.allow('192.0.2.2', 0), true, 'another source has its own bucket');
    assert.equal(limit.allow('192.0.2.1', 50), false, 'half a token is not enough');
    assert.equal(limit.allow('192.0.2.1', 100), true, 'one token a tenth of a second later');
    allowed = 0;
    for (let t = 1_000; t < 11_000; t += 10) if (limit.allow('192.0.2.1', t)) allowed++;
    assert.ok(allowed >= 99 && allowed <= 121, `about 10/s over 10 s plus what refilled: ${allowed}`);
  });
});

describe('how long a limited source waits', () => {
  it('is the time to one whole token, and nothing for a source with tokens or never seen', () => {
    const limit = new SourceRateLimit({ perSecond: 4, burst: 1 });
    assert.equal(limit.waitMs('192.0.2.1', 0), 0, 'never seen');
    assert.equal(limit.allow('192.0.2.1', 0), true);
    assert.equal(limit.waitMs('192.0.2.1', 0), 250);
    assert.equal(Math.round(limit.waitMs('192.0.2.1', 200)), 50);
    assert.equal(limit.waitMs('192.0.2.1', 300), 0);
  });
});
