// Two Chord rings formed apart (two LAN segments, or a LAN and a bootstrap node) learn of each
// other through one pair of nodes. Within a bounded number of stabilization rounds they are one
// ring: every successor and predecessor is the right one in the union, and every record stored in
// either ring before the merge can be fetched from any node afterwards.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import { idFromHex } from '../../native/wire/overlay/node-id.js';
import type { OverlayRecord } from '../../native/wire/overlay/record.js';
import { newOwner, nameRecords } from './records.js';
import { RingOracle } from './ring.js';
import { ringIsCorrect, seededRandom, SimNetwork } from './sim-network.js';

// Measured with 1 s stabilization: every successor and predecessor is right 2.0 to 2.3 s
// (simulated) after the first ping for 50 + 50 nodes (seeds 1 to 3), 2.1 to 3.7 s for 200 + 200
// (seeds 1 to 7). Counted in whole rounds after mergeWith returns, that is at most 3. Bound with margin:
const MERGE_ROUNDS_BOUND = 6;
const RECORDS_PER_RING = 100;

/** Grows a ring of `count` nodes apart from every other node on the network, by real joins in waves. */
async function growRing(net: SimNetwork, count: number, random: () => number): Promise<ChordNode[]> {
  const first = net.addNode();
  first.create();
  const ring = [first];
  while (ring.length < count) {
    const members = [...ring];
    const size = Math.min(count - ring.length, Math.max(1, Math.floor(members.length / 2)));
    const joins = Array.from({ length: size }, async () => {
      const node = net.addNode();
      try {
        await node.join(members[Math.floor(random() * members.length)].self);
        ring.push(node);
      } catch {
        net.kill(node);
      }
    });
    await net.scheduler.until(Promise.all(joins));
    await settle(net, ring, 60);
  }
  return ring;
}

/** Stabilization rounds until `nodes` form a correct ring with right predecessors (undefined if not within `max`). */
async function settle(net: SimNetwork, nodes: ChordNode[], max: number): Promise<number | undefined> {
  for (let round = 0; round <= max; round++) {
    if (ringIsCorrect(nodes).correct && wrongPredecessors(nodes) === 0) return round;
    await net.scheduler.runFor(net.config.stabilizeMs);
  }
  return undefined;
}

function wrongPredecessors(nodes: ChordNode[]): number {
  const oracle = new RingOracle(nodes);
  return nodes.filter((n) => n.table.predecessor?.id !== oracle.predecessorOf(idFromHex(n.self.id)!).id).length;
}

/** How many of `records` a get from a random node of `nodes` no longer finds. */
async function missing(net: SimNetwork, nodes: ChordNode[], records: OverlayRecord[], random: () => number): Promise<OverlayRecord[]> {
  const found = await net.scheduler.until(
    Promise.all(
      records.map((record) =>
        nodes[Math.floor(random() * nodes.length)].get(idFromHex(record.key)!, record.type).then(
          (got) => got.some((r) => r.sig === record.sig),
          () => false,
        ),
      ),
    ),
  );
  return records.filter((_, i) => !found[i]);
}

for (const [seed, sizeA, sizeB] of [
  [3, 50, 50],
  [11, 200, 200],
  // A LAN ring meeting a lone node (a bootstrap peer that started its own ring of one).
  [7, 100, 1],
] as const) {
  describe(`rings of ${sizeA} and ${sizeB} simulated nodes merging`, () => {
    const random = seededRandom(seed);
    const net = new SimNetwork({ random });
    const owner = newOwner();
    const recordsA = nameRecords(owner, RECORDS_PER_RING, net.overlay, 3_600_000, 'a-user');
    const recordsB = nameRecords(owner, RECORDS_PER_RING, net.overlay, 3_600_000, 'b-user');
    let ringA: ChordNode[] = [];
    let ringB: ChordNode[] = [];
    let mergeRounds: number | undefined;
    let mergeMs = 0;

    before(async () => {
      ringA = await growRing(net, sizeA, random);
      ringB = await growRing(net, sizeB, random);
      for (const [ring, records] of [
        [ringA, recordsA],
        [ringB, recordsB],
      ] as const) {
        const results = await net.scheduler.until(Promise.all(records.map((r, i) => ring[i % ring.length].put([r]))));
        assert.equal(results.reduce((sum, r) => sum + r.stored, 0), records.length);
      }
      // Replicas in place and fingers filled, as in rings that have been running a while.
      await net.scheduler.runFor(net.config.replicateMs);
    });

    it('starts as two correct rings that know nothing of each other', async () => {
      for (const ring of [ringA, ringB]) assert.ok(ring.length === 1 ? ring[0].table.successors.length === 0 : ringIsCorrect(ring).correct);
      assert.ok(!ringIsCorrect([...ringA, ...ringB]).correct);
      // A record of one ring is not found from the other.
      assert.equal((await missing(net, ringB, recordsA.slice(0, 20), random)).length, 20);
    });

    it('becomes one ring within a bounded number of stabilization rounds after one pair meets', async () => {
      const started = net.scheduler.now;
      const outcome = await net.scheduler.until(ringA[0].mergeWith(ringB[0].self));
      assert.equal(outcome, 'merging');
      mergeRounds = await settle(net, [...ringA, ...ringB], MERGE_ROUNDS_BOUND * 3);
      mergeMs = net.scheduler.now - started;
      console.log(`# ${sizeA} + ${sizeB}: one ring after ${mergeRounds} stabilization rounds, ${mergeMs.toFixed(0)} simulated ms from the first ping`);
      assert.ok(mergeRounds !== undefined && mergeRounds <= MERGE_ROUNDS_BOUND, `took ${mergeRounds} rounds (bound ${MERGE_ROUNDS_BOUND})`);
      assert.ok(ringIsCorrect(net.live()).correct);
      assert.equal(wrongPredecessors(net.live()), 0);
      // Every node of both rings probed the other: the hint reached all of them (the flood of
      // hints goes on after the ring is right: a merge into a ring of one can be right at once).
      for (let round = 0; round < MERGE_ROUNDS_BOUND && net.live().some((n) => n.stats.mergeProbes === 0); round++) await net.scheduler.runFor(net.config.stabilizeMs);
      assert.equal(net.live().filter((n) => n.stats.mergeProbes === 0).length, 0);
    });

    it('tells a second merge attempt that the contact is now in its own ring', async () => {
      assert.equal(await net.scheduler.until(ringA[1].mergeWith(ringB[ringB.length - 1].self)), 'same-ring');
    });

    it('finds every record of both former rings from any node, with r = 3 copies where they belong', async () => {
      // Records move as on joins: handed over to new predecessors at once, then rebalanced
      // (lookup and store) at the next replication.
      await net.scheduler.runFor(net.config.replicateMs + 2 * net.config.stabilizeMs);
      const all = [...recordsA, ...recordsB];
      const lost = await missing(net, net.live(), all, random);
      assert.deepEqual(lost.map((r) => r.value.user), []);
      const oracle = new RingOracle(net.live());
      let misplaced = 0;
      for (const record of all) {
        for (const holder of oracle.replicaSet(idFromHex(record.key)!, 3)) {
          const node = net.nodes.get(`${holder.host}:${holder.port}`)!;
          if (!node.store.get(record.key, 'name').some((r) => r.sig === record.sig)) misplaced++;
        }
      }
      assert.equal(misplaced, 0);
    });
  });
}
