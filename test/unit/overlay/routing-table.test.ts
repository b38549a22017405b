import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoutingTable } from '../../../native/proto/overlay/routing-table.js';
import type { NodeRef } from '../../../native/wire/overlay/messages.js';
import { idToHex, RING_SIZE } from '../../../native/wire/overlay/node-id.js';

/** A node at `fraction` of the way round the ring. */
const at = (fraction: number, port = Math.round(fraction * 1000) + 1): NodeRef => ({
  id: idToHex((RING_SIZE * BigInt(Math.round(fraction * 1e6))) / 1_000_000n),
  host: '127.0.0.1',
  port,
});
const key = (fraction: number) => (RING_SIZE * BigInt(Math.round(fraction * 1e6))) / 1_000_000n;

describe('routing table', () => {
  it('is responsible for the arc after its predecessor up to itself, and for everything alone', () => {
    const table = new RoutingTable(at(0.5), 3);
    assert.ok(table.isResponsible(key(0.1)));
    table.successors = [at(0.6)];
    table.predecessor = at(0.4);
    assert.ok(table.isResponsible(key(0.45)));
    assert.ok(table.isResponsible(key(0.5)));
    assert.ok(!table.isResponsible(key(0.4)));
    assert.ok(!table.isResponsible(key(0.55)));
  });

  it('routes to the farthest known node that still precedes the key, skipping suspects', () => {
    const table = new RoutingTable(at(0), 3);
    table.successors = [at(0.01), at(0.02)];
    table.fingers[158] = at(0.26);
    table.fingers[159] = at(0.51);
    assert.equal(table.closestPreceding(key(0.4), 0).id, at(0.26).id);
    assert.equal(table.closestPreceding(key(0.9), 0).id, at(0.51).id);
    // A key just after us: only a successor precedes it, or nobody (then ourselves).
    assert.equal(table.closestPreceding(key(0.015), 0).id, at(0.01).id);
    assert.equal(table.closestPreceding(key(0.005), 0).id, at(0).id);
    table.remove(at(0.51).id, 0, 1_000);
    assert.equal(table.closestPreceding(key(0.9), 500).id, at(0.26).id);
    assert.ok(table.isSuspect(at(0.51).id, 999));
    assert.ok(!table.isSuspect(at(0.51).id, 1_000));
  });

  it('forgets a failed node everywhere: successors, fingers and predecessor', () => {
    const table = new RoutingTable(at(0), 3);
    const gone = at(0.3);
    table.successors = [at(0.1), gone, at(0.5)];
    table.fingers[150] = gone;
    table.predecessor = gone;
    assert.equal(table.remove(gone.id, 0, 10), true);
    assert.deepEqual(table.successors.map((s) => s.port), [at(0.1).port, at(0.5).port]);
    assert.equal(table.fingers[150], undefined);
    assert.equal(table.predecessor, undefined);
    assert.equal(table.remove(at(0.9).id, 0, 10), false);
  });

  it('builds its successor list from a successor\'s list without itself or repeats', () => {
    const table = new RoutingTable(at(0), 3);
    const changed = table.setSuccessors(at(0.1), [at(0.2), at(0.2), at(0), at(0.3), at(0.4)]);
    assert.equal(changed, true);
    assert.deepEqual(table.successors.map((s) => s.port), [at(0.1), at(0.2), at(0.3)].map((n) => n.port));
    assert.equal(table.setSuccessors(at(0.1), [at(0.2), at(0.3)]), false);
  });

  it('grows its successor list with log2 of the ring size it estimates from successor spacing', () => {
    const table = new RoutingTable(at(0), 3);
    const dense = Array.from({ length: 40 }, (_, i) => at((i + 1) / 1024, i + 2));
    table.setSuccessors(dense[0], dense.slice(1, 3));
    // Three successors spanning 3/1024 of the ring: about 1,024 nodes, so log2 = 10.
    assert.equal(table.successorTarget(), 10);
    table.setSuccessors(dense[0], dense.slice(1));
    assert.equal(table.successors.length, 10);
    const sparse = new RoutingTable(at(0), 3);
    sparse.setSuccessors(at(0.25), [at(0.5), at(0.75)]);
    assert.equal(sparse.successorTarget(), 3);
  });

  it('keeps a distrusted node out of every routing choice until its time is up, even while it answers, but not out of the ring', () => {
    const table = new RoutingTable(at(0), 3);
    table.successors = [at(0.01), at(0.02), at(0.03)];
    table.fingers[158] = at(0.26);
    table.fingers[159] = at(0.51);
    table.distrust(at(0.51), 1_000, 'hid a record');
    table.distrust(at(0.01), 1_000, 'hid a record');
    assert.equal(table.closestPreceding(key(0.9), 0).id, at(0.26).id);
    assert.deepEqual(table.precedingNodes(key(0.9), 0, 6).map((n) => n.id), [at(0.26), at(0.03), at(0.02)].map((n) => n.id));
    // The ring's shape is what the nodes are: stabilize still talks to a distrusted successor.
    assert.equal(table.liveSuccessor(0)?.id, at(0.01).id);
    // A liar answers: that clears a node that had timed out, not a distrusted one.
    table.alive(at(0.51).id);
    assert.ok(table.isSuspect(at(0.51).id, 500));
    assert.deepEqual(table.distrustedNodes(500).map((d) => [d.node.id, d.reason]), [[at(0.51).id, 'hid a record'], [at(0.01).id, 'hid a record']]);
    // It stays in the table (it is still in the ring), and is routed through again once its time is up.
    assert.ok(table.knows(at(0.51).id));
    assert.equal(table.closestPreceding(key(0.9), 1_000).id, at(0.51).id);
    assert.equal(table.liveSuccessor(1_000)?.id, at(0.01).id);
    assert.deepEqual(table.distrustedNodes(1_000), []);
  });
});
