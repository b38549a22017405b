// Lookups and fetches in a ring where a fifth of the nodes lie in concert (test/sim/liars.ts): the
// plain iterative lookup believes the first liar it meets; lookupDisjoint's checked, disjoint
// paths find the responsible node nearly always, and get() finds records the liars hide.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adversarialLookups } from './liars.js';

describe('lookups with 20% of the nodes lying', () => {
  it('succeed with disjoint checked paths where the plain lookup fails about half the time; fetches find what the liars hide, and catch liars, not honest nodes', async () => {
    const result = await adversarialLookups({ seed: 7, share: 0.2, nodes: 400, lookups: 300, fetchers: 20, fetchesEach: 20 });
    assert.ok(result.lookupSuccessUndefended < 0.7, `undefended ${result.lookupSuccessUndefended}`);
    assert.ok(result.lookupSuccess >= 0.95, `defended ${result.lookupSuccess}`);
    assert.ok(result.fetchSuccessUndefended < 0.7, `undefended fetches ${result.fetchSuccessUndefended}`);
    assert.ok(result.fetchSuccess >= 0.95, `fetches with get() ${result.fetchSuccess}`);
    assert.ok(result.suspectsLiars > 0, 'liars caught');
    assert.ok(result.suspectsHonest <= result.suspectsLiars / 20, `honest nodes marked: ${result.suspectsHonest} (liars: ${result.suspectsLiars})`);
  });
});
