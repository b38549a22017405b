// A 1,000-node ring built by real joins, then 20% of it crashing at once: the ring heals within
// a bounded number of stabilization rounds, records keep their r = 3 replicas, and lookups from
// anywhere name the node the sorted-ID oracle says is responsible.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import { idFromHex, sha1Id } from '../../native/wire/overlay/node-id.js';
import type { OverlayRecord } from '../../native/wire/overlay/record.js';
import { newOwner, nameRecords } from './records.js';
import { joinInWaves, RingOracle, roundsUntilCorrect } from './ring.js';
import { ringIsCorrect, seededRandom, SimNetwork } from './sim-network.js';

const NODES = 1_000;
const REPLICAS = 3;
// Measured over seeds 7, 42 and 1000: at most 8 rounds after a wave of joins (growing the ring
// by half), at most 12 after the crash (a dead successor costs a 2 s request timeout before it
// is dropped, and stabilize walks back one node per round). Bounds with margin:
const JOIN_ROUNDS_BOUND = 15;
const FAILURE_ROUNDS_BOUND = 25;

const random = seededRandom(1000);
const net = new SimNetwork({ random });
const records: OverlayRecord[] = nameRecords(newOwner(), 200, net.overlay, 3_600_000);

function holders(record: OverlayRecord): Set<string> {
  const out = new Set<string>();
  for (const n of net.live()) if (n.store.get(record.key, 'name').some((r) => r.sig === record.sig)) out.add(n.self.id);
  return out;
}

/** Copies missing from the responsible node and the next r - 1 live nodes. */
function misplacedReplicas(of: OverlayRecord[] = records): number {
  const oracle = new RingOracle(net.live());
  let missing = 0;
  for (const record of of) {
    const have = holders(record);
    for (const node of oracle.replicaSet(idFromHex(record.key)!, REPLICAS)) if (!have.has(node.id)) missing++;
  }
  return missing;
}

async function wrongLookups(count: number): Promise<{ wrong: number; hops: number[] }> {
  const nodes = net.live();
  const oracle = new RingOracle(nodes);
  const asks = Array.from({ length: count }, (_, i) => {
    const from = nodes[Math.floor(random() * nodes.length)];
    const key = sha1Id(`lookup-key-${i}-${random()}`);
    return from.lookup(key).then(
      (found) => ({ right: found.node.id === oracle.responsible(key).id, hops: found.hops }),
      () => ({ right: false, hops: -1 }),
    );
  });
  const answers = await net.scheduler.until(Promise.all(asks));
  return { wrong: answers.filter((a) => !a.right).length, hops: answers.map((a) => a.hops) };
}

describe('a simulated ring of 1,000 nodes', () => {
  let settleRounds: Array<number | undefined> = [];

  before(async () => {
    const grown = await joinInWaves(net, NODES, random, { growth: 0.5, maxSettleRounds: JOIN_ROUNDS_BOUND * 2 });
    settleRounds = grown.settleRounds;
  });

  it('converges to a correct ring within a bounded number of stabilization rounds after each wave of joins', () => {
    assert.equal(net.live().length, NODES);
    for (const [wave, rounds] of settleRounds.entries()) {
      assert.ok(rounds !== undefined && rounds <= JOIN_ROUNDS_BOUND, `wave ${wave} took ${rounds} rounds (bound ${JOIN_ROUNDS_BOUND})`);
    }
    assert.ok(ringIsCorrect(net.live()).correct);
  });

  it('answers lookups from random nodes with the responsible node', async () => {
    // Fingers are fixed one per period: let a few sweeps pass so routing is short, not just right.
    await net.scheduler.runFor(20_000);
    const { wrong, hops } = await wrongLookups(300);
    assert.equal(wrong, 0);
    const meanHops = hops.reduce((a, b) => a + b, 0) / hops.length;
    assert.ok(meanHops <= 0.5 * Math.log2(NODES) + 1, `mean ${meanHops} hops`);
  });

  it('stores records with r = 3 replicas on the responsible node and its successors', async () => {
    const nodes = net.live();
    const results = await net.scheduler.until(Promise.all(records.map((r, i) => nodes[(i * 7) % nodes.length].put([r]))));
    assert.equal(results.reduce((sum, r) => sum + r.stored, 0), records.length);
    assert.deepEqual(results.flatMap((r) => r.rejected), []);
    await net.scheduler.runFor(1_000);
    assert.equal(misplacedReplicas(), 0);
  });

  describe('after 20% of the nodes crash at once', () => {
    let failureRounds: number | undefined;
    let victims: ChordNode[] = [];
    /** Records every copy of which was on a crashed node: r = 3 cannot save those. */
    let doomed: OverlayRecord[] = [];

    before(async () => {
      const nodes = net.live();
      victims = nodes.filter(() => random() < 0.2).slice(0, NODES / 5);
      while (victims.length < NODES / 5) {
        const extra = nodes[Math.floor(random() * nodes.length)];
        if (!victims.includes(extra)) victims.push(extra);
      }
      const dying = new Set(victims.map((v) => v.self.id));
      doomed = records.filter((r) => [...holders(r)].every((id) => dying.has(id)));
      for (const v of victims) net.kill(v);
      failureRounds = await roundsUntilCorrect(net, FAILURE_ROUNDS_BOUND * 2);
    });

    it('converges to a correct ring again within a bounded number of rounds', () => {
      assert.equal(net.live().length, NODES - victims.length);
      assert.ok(failureRounds !== undefined && failureRounds <= FAILURE_ROUNDS_BOUND, `took ${failureRounds} rounds (bound ${FAILURE_ROUNDS_BOUND})`);
    });

    it('answers every lookup with the responsible survivor once fingers are refreshed', async () => {
      // A lookup that meets dead fingers restarts from its own table and can run out of steps
      // (maxHops); one sweep of fix-fingers replaces them.
      await net.scheduler.runFor(net.config.fixFingersMs * 30);
      const { wrong } = await wrongLookups(300);
      assert.equal(wrong, 0);
    });

    it('re-replicates so every record with a surviving copy again has r = 3 copies where they belong', async () => {
      // One replication period moves copies to the new successors.
      await net.scheduler.runFor(net.config.replicateMs + net.config.stabilizeMs * 2);
      const surviving = records.filter((r) => !doomed.includes(r));
      // With 20% dead, all three copies die for about 0.8% of records (0.2^3).
      assert.ok(doomed.length <= records.length * 0.03, `${doomed.length} records lost every copy`);
      assert.equal(misplacedReplicas(surviving), 0);
      const reader = net.live()[1];
      for (const record of surviving.slice(0, 50)) {
        const got = await net.scheduler.until(reader.get(idFromHex(record.key)!, 'name'));
        assert.equal(got[0]?.sig, record.sig, `record ${record.value.user} not found`);
      }
    });
  });
});
