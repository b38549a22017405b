// A 10,000-node ring grown by real joins (no installed tables): every successor right after each
// wave, and lookups from anywhere name the responsible node in at most 0.5 log2 N + 1 hops on
// average. The heaviest simulator test (docs/overlay-simulation.md). Fingers are refreshed every
// 2 s, not 500 ms: they are most of the messages while the ring grows, and the cost of a
// simulated second grows with the ring (the benchmark's sim["10000"] uses the default).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fraction, lookupBatch, type LookupVerdict } from './probes.js';
import { joinInWaves, mean, type WaveJoinResult } from './ring.js';
import { ringIsCorrect, seededRandom, SimNetwork } from './sim-network.js';

const NODES = 10_000;
// Measured (seed 5, default finger period): at most 8 rounds after a wave of joins. Bound with margin:
const JOIN_ROUNDS_BOUND = 20;

const random = seededRandom(5);
const FIX_FINGERS_MS = 2_000;
const net = new SimNetwork({ random, config: { fixFingersMs: FIX_FINGERS_MS } });

describe('a simulated ring of 10,000 nodes grown by real joins', () => {
  let grown: WaveJoinResult;
  let verdicts: LookupVerdict[] = [];

  before(async () => {
    grown = await joinInWaves(net, NODES, random, { growth: 0.5, maxSettleRounds: JOIN_ROUNDS_BOUND * 2 });
  });

  it('converges to a correct ring within a bounded number of stabilization rounds after each wave', () => {
    assert.equal(net.live().length, NODES);
    for (const [wave, rounds] of grown.settleRounds.entries()) {
      assert.ok(rounds !== undefined && rounds <= JOIN_ROUNDS_BOUND, `wave ${wave} took ${rounds} rounds (bound ${JOIN_ROUNDS_BOUND})`);
    }
    assert.ok(ringIsCorrect(net.live()).correct);
  });

  it('answers lookups with the responsible node in at most 0.5 log2 N + 1 hops on average', async () => {
    // The last wave's 3,000-odd nodes start with a successor only: one fix-fingers sweep
    // (about 13 fingers lie beyond the successor, one refreshed per period) fills their tables.
    await net.scheduler.runFor(15 * FIX_FINGERS_MS);
    verdicts = await lookupBatch(net, 500, random, 250);
    assert.equal(fraction(verdicts, (v) => v.exact), 1);
    const meanHops = mean(verdicts.map((v) => v.hops));
    assert.ok(meanHops <= 0.5 * Math.log2(NODES) + 1, `mean ${meanHops} hops (bound ${0.5 * Math.log2(NODES) + 1})`);
  });
});
