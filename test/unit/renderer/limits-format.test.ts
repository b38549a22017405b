// What Settings → "Blocked and limited" says: each limit in words, how often, the total.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LimitsView } from '../../../native/control/api.js';
import { countWords, limitWords, refusedTotal, sourcesToList } from '../../../renderer/src/lib/limits-format.js';

const limits = (over: Partial<LimitsView> = {}): LimitsView => ({
  refused: { invite: 3, message: 10, subscribe: 0, register: 0, overlay: 1, dialog: 0, other: 0 },
  unanswered: 0,
  tcpRefused: 936,
  tcpEvicted: 2,
  tcpIdleClosed: 5,
  tooLarge: 1,
  sendersLimited: 4,
  recordsRefused: 7,
  sources: [],
  ...over,
});

describe('the limited sources in Settings', () => {
  it('names each limit in words, and keeps an unknown one as the engine named it', () => {
    assert.equal(limitWords('invite'), 'too many calls (INVITE)');
    assert.equal(limitWords('tcp-per-address'), 'too many connections at once');
    assert.equal(limitWords('message-size'), 'messages too large');
    assert.equal(limitWords('records'), 'overlay records over their quota');
    assert.equal(limitWords('owner-quota'), 'owner-quota');
  });

  it('sums every refusal (idle connections closed are housekeeping, not refusals)', () => {
    assert.equal(refusedTotal(limits()), 3 + 10 + 1 + 936 + 2 + 1 + 4 + 7);
  });

  it('says how often', () => {
    assert.equal(countWords(1), 'once');
    assert.equal(countWords(6086), '6,086 times');
  });

  it('lists at most 20 sources, in the engine\'s order, and none without a status', () => {
    const sources = Array.from({ length: 32 }, (_, i) => ({ address: `192.0.2.${i}`, method: 'message', count: 100 - i, lastAt: 0 }));
    assert.deepEqual(sourcesToList(limits({ sources })).map((s) => s.address), sources.slice(0, 20).map((s) => s.address));
    assert.deepEqual(sourcesToList(undefined), []);
  });
});
