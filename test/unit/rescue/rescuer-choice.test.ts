// Which rescuer gets a redirect, on a fake clock: allowances first, in proportion, each held to its
// rate; the reserves only once every allowance is spent; the origin itself when none has room.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRescuer, type RescuerRates } from '../../../native/proto/rescue/rescuer-choice.js';

type R = RescuerRates & { id: string };
// As the origin's pool makes them on an accept: half a second of the allowance in the bucket.
const rescuer = (id: string, allowedRps: number, maxRps = allowedRps): R => ({ id, allowedRps, maxRps, tokens: allowedRps / 2, reserveTokens: 0, tokensAt: 0 });

/** Offers `rps` redirects a second, evenly, for `seconds`; counts where each went. */
function offer(rescuers: R[], rps: number, seconds: number, from = 0) {
  const counts = { origin: 0, reserve: 0, byId: new Map<string, number>(), reserveById: new Map<string, number>() };
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  for (let i = 0; i < rps * seconds; i++) {
    const chosen = chooseRescuer(rescuers, random(), from + (i * 1000) / rps);
    if (!chosen) {
      counts.origin++;
      continue;
    }
    const id = chosen.rescuer.id;
    counts.byId.set(id, (counts.byId.get(id) ?? 0) + 1);
    if (chosen.fromReserve) {
      counts.reserve++;
      counts.reserveById.set(id, (counts.reserveById.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

describe('choosing a rescuer for a redirect', () => {
  it('spreads redirects in proportion to the rates allowed and touches no reserve while the allowances carry them', () => {
    const rescuers = [rescuer('a', 10, 13), rescuer('b', 20, 26), rescuer('c', 30, 39)];
    const counts = offer(rescuers, 50, 20);
    assert.equal(counts.origin, 0);
    assert.equal(counts.reserve, 0, 'no reserve used below the sum of the allowances (60)');
    const share = (id: string) => (counts.byId.get(id) ?? 0) / 1000;
    assert.ok(Math.abs(share('a') - 1 / 6) < 0.04 && Math.abs(share('b') - 2 / 6) < 0.04 && Math.abs(share('c') - 3 / 6) < 0.04, `shares a ${share('a')} b ${share('b')} c ${share('c')}`);
  });

  it('holds every rescuer to its allowance plus its reserve, using the reserves only for what the allowances cannot carry', () => {
    const rescuers = [rescuer('a', 10, 13), rescuer('b', 20, 26)];
    // 40 a second against 30 allowed and 9 in reserve: 30 by allowance, 9 from reserves, 1 at the origin.
    const seconds = 30;
    const counts = offer(rescuers, 40, seconds);
    const perSecond = (n: number) => n / seconds;
    // (the first second's burst comes from the allowances, and reserves start empty)
    assert.ok(Math.abs(perSecond(counts.reserve) - 9) < 1, `reserve ${perSecond(counts.reserve)}/s`);
    assert.ok(Math.abs(perSecond(counts.origin) - 1) < 0.5, `origin ${perSecond(counts.origin)}/s`);
    for (const r of rescuers) {
      const got = perSecond(counts.byId.get(r.id) ?? 0);
      assert.ok(got <= r.maxRps + 0.5, `${r.id} got ${got}/s, at most ${r.maxRps}`);
      assert.ok(Math.abs(perSecond(counts.reserveById.get(r.id) ?? 0) - (r.maxRps - r.allowedRps)) < 0.7, `${r.id}'s reserve used in proportion`);
    }
  });

  it('sends the request to the origin when no rescuer has room, and to a rescuer with no reserve only within its allowance', () => {
    const rescuers = [rescuer('a', 4)];
    const counts = offer(rescuers, 10, 10);
    assert.equal(counts.reserve, 0, 'an older rescuer that named no maxRps has no reserve');
    assert.ok(Math.abs(counts.byId.get('a')! / 10 - 4) < 0.5, `a got ${counts.byId.get('a')! / 10}/s`);
    assert.equal(chooseRescuer([], 0.5, 0), undefined);
  });

  it('lets a rescuer that just joined take half a second of its allowance at once; its reserve fills with time', () => {
    const fresh = rescuer('a', 40, 50);
    const burst = Array.from({ length: 20 }, () => chooseRescuer([fresh], 0.3, 0));
    assert.ok(burst.every((c) => c?.rescuer.id === 'a' && !c.fromReserve), 'twenty from the allowance');
    assert.equal(chooseRescuer([fresh], 0.3, 0), undefined, 'then none: the reserve starts empty, and the origin serves it');
    // 100 ms later: 4 allowance tokens (40/s), then 1 reserve token (10/s).
    const later = Array.from({ length: 6 }, () => chooseRescuer([fresh], 0.3, 100)?.fromReserve);
    assert.deepEqual(later, [false, false, false, false, true, undefined]);
  });
});
