import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_REQUEST_LIMITS, limitClassOf, parseRequestLimits, RequestLimiter } from '../../../native/proto/sip/request-limits.js';

describe('request classes', () => {
  it('sorts methods into classes; in-dialog requests have their own; ACK is never limited', () => {
    assert.equal(limitClassOf('INVITE', false, false), 'invite');
    assert.equal(limitClassOf('MESSAGE', false, false), 'message');
    assert.equal(limitClassOf('SUBSCRIBE', false, false), 'subscribe');
    assert.equal(limitClassOf('REGISTER', false, false), 'register');
    assert.equal(limitClassOf('REGISTER', false, true), 'overlay');
    assert.equal(limitClassOf('OPTIONS', false, false), 'other');
    assert.equal(limitClassOf('NOTIFY', false, false), 'other');
    assert.equal(limitClassOf('BYE', true, false), 'dialog');
    assert.equal(limitClassOf('INVITE', true, false), 'dialog', 'a re-INVITE');
    assert.equal(limitClassOf('ACK', false, false), undefined);
    assert.equal(limitClassOf('ACK', true, false), undefined);
  });
});

describe('per-source request limits', () => {
  it('refuses a source past its burst with a Retry-After, and counts it by class', () => {
    const limiter = new RequestLimiter({ invite: { perSecond: 2, burst: 3 } });
    const decisions = Array.from({ length: 5 }, () => limiter.check('invite', '192.0.2.9', 5060, 1_000));
    assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false, false]);
    const refused = decisions[3];
    assert.ok(!refused.allowed && refused.retryAfterS === 1 && refused.answer);
    assert.equal(limiter.refused.invite, 2);
    assert.equal(limiter.refused.message, 0);
    assert.equal(limiter.check('invite', '192.0.2.9', 5060, 1_500).allowed, true, 'a token back half a second later');
  });

  it('keeps classes apart: a MESSAGE flood leaves the same source its INVITEs and in-dialog requests', () => {
    const limiter = new RequestLimiter({ message: { perSecond: 1, burst: 1 } });
    assert.equal(limiter.check('message', '192.0.2.9', 5060, 0).allowed, true);
    for (let i = 0; i < 100; i++) limiter.check('message', '192.0.2.9', 5060, 0);
    assert.equal(limiter.refused.message, 100);
    assert.equal(limiter.check('invite', '192.0.2.9', 5060, 0).allowed, true);
    assert.equal(limiter.check('dialog', '192.0.2.9', 5060, 0).allowed, true);
  });

  it('gives each port of an address a bucket, and the address addressFactor times one', () => {
    const limiter = new RequestLimiter({ invite: { perSecond: 1, burst: 2 } }, 3);
    // Twenty nodes of a loopback test ring: each port its own source, within the address's room.
    let allowed = 0;
    for (let port = 5000; port < 5010; port++) for (let i = 0; i < 2; i++) if (limiter.check('invite', '127.0.0.1', port, 0).allowed) allowed++;
    assert.equal(allowed, 6, 'a flooder rotating ports meets the address bucket (3 x burst 2)');
    assert.equal(limiter.check('invite', '127.0.0.2', 5000, 0).allowed, true, 'another address is untouched');
  });

  it('a class turned off is never limited', () => {
    const limiter = new RequestLimiter(parseRequestLimits('off'));
    for (let i = 0; i < 10_000; i++) assert.equal(limiter.check('message', '192.0.2.9', 5060, 0).allowed, true);
  });

  it('stops answering a source refused faster than 20 a second (no reflector), still counting', () => {
    const limiter = new RequestLimiter({ other: { perSecond: 1, burst: 1 } });
    limiter.check('other', '192.0.2.9', 5060, 0);
    const refusals = Array.from({ length: 100 }, () => limiter.check('other', '192.0.2.9', 5060, 0));
    assert.equal(refusals.filter((d) => !d.allowed && d.answer).length, 40, 'the answers\' burst');
    assert.equal(limiter.unanswered, 60);
    assert.equal(limiter.refused.other, 100);
  });

  it('lists the sources limited most, at most 32, forgetting the one limited longest ago', () => {
    const limiter = new RequestLimiter({ invite: { perSecond: 1, burst: 1 } });
    for (let i = 0; i < 40; i++) {
      const address = `198.51.100.${i}`;
      for (let n = 0; n <= i % 5 + 1; n++) limiter.check('invite', address, 5060, i * 1000);
    }
    limiter.note('203.0.113.5', 'message-size', 50_000);
    const sources = limiter.sources();
    assert.equal(sources.length, 32);
    assert.ok(!sources.some((s) => s.address === '198.51.100.0'), 'the oldest went');
    assert.ok(sources.some((s) => s.address === '203.0.113.5' && s.method === 'message-size' && s.count === 1 && s.lastAt === 50_000));
    assert.ok(sources.every((s, i) => i === 0 || sources[i - 1].count >= s.count), 'most refused first');
    assert.equal(sources[0].count, 5);
  });
});

describe('--sip-method-limits', () => {
  it('reads CLASS=RATE[/BURST] lists, keeps the other classes\' defaults, and turns a class off with 0', () => {
    const config = parseRequestLimits('invite=5/10, message=50,subscribe=0');
    assert.deepEqual(config.invite, { perSecond: 5, burst: 10 });
    assert.equal(config.message!.perSecond, 50);
    assert.equal(config.message!.burst, 100, 'the default burst, scaled to the rate');
    assert.equal(config.subscribe, undefined);
    assert.deepEqual(config.overlay, DEFAULT_REQUEST_LIMITS.overlay);
  });

  it('refuses anything else with a sentence', () => {
    assert.throws(() => parseRequestLimits('flood=5'), /not CLASS=RATE\[\/BURST\]/);
    assert.throws(() => parseRequestLimits('invite=fast'), /not CLASS=RATE/);
    assert.throws(() => parseRequestLimits('invite=5/0'), /burst of invite must be at least 1/);
  });
});
