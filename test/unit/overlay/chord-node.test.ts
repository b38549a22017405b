// Chord maintenance on a fake clock: a handful of nodes wired by an in-memory transport.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChordNode, OverlayRequestError, type ChordConfig, type OverlayTransport } from '../../../native/proto/overlay/chord-node.js';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import type { NodeRef, OpRequest, OpResponse, OverlayOp } from '../../../native/wire/overlay/messages.js';
import { idFromHex, idToHex, keyForAor, RING_SIZE } from '../../../native/wire/overlay/node-id.js';
import { FakeClock } from '../../support/fake-clock.js';
import { nameRecord, newOwner } from '../../sim/records.js';
import { signRecord } from '../../../native/wire/overlay/record.js';

/** A user name whose key lies between `from` and `to` of the way round the ring. */
function userBetween(from: number, to: number): string {
  for (let i = 0; ; i++) {
    const f = Number((keyForAor(`user${i}`, 'test') * 1_000_000n) / RING_SIZE) / 1e6;
    if (f > from && f <= to) return `user${i}`;
  }
}

class Ring {
  readonly clock = new FakeClock();
  readonly nodes = new Map<number, ChordNode>();
  readonly down = new Set<number>();
  /** Requests sent, by operation. */
  readonly sent = new Map<string, number>();
  /** Nodes that lie, by port: what they answer instead of the real node (undefined: answer honestly). */
  readonly lies = new Map<number, (op: OverlayOp, body: unknown, from: number) => unknown>();

  constructor(private readonly config: Partial<ChordConfig> = {}) {}

  /** A node at `fraction` of the way round the ring. */
  add(fraction: number): ChordNode {
    const port = 5000 + this.nodes.size;
    const self: NodeRef = { id: idToHex((RING_SIZE * BigInt(Math.round(fraction * 1e6))) / 1_000_000n), host: '127.0.0.1', port };
    const transport: OverlayTransport = {
      request: <O extends OverlayOp>(to: { port: number }, op: O, body: OpRequest<O>, timeoutMs: number) =>
        new Promise<OpResponse<O>>((resolve, reject) => {
          this.sent.set(op, (this.sent.get(op) ?? 0) + 1);
          const target = this.nodes.get(to.port);
          if (!target || this.down.has(to.port) || this.down.has(port)) {
            this.clock.set(timeoutMs, () => reject(new OverlayRequestError('timeout', `${op} timed out`)));
            return;
          }
          const lie = this.lies.get(to.port)?.(op, JSON.parse(JSON.stringify(body)), port);
          if (lie !== undefined) return resolve(lie as OpResponse<O>);
          target.handle(op, JSON.parse(JSON.stringify(body)) as OpRequest<O>, self).then((r) => resolve(JSON.parse(JSON.stringify(r)) as OpResponse<O>), reject);
        }),
    };
    const node = new ChordNode({
      self,
      transport,
      timers: this.clock,
      store: new RecordStore({ overlay: 'test', now: () => this.clock.now }),
      now: () => this.clock.now,
      random: () => 0.5,
      // Nodes placed at chosen fractions of the ring: their IDs have no proof (id-check.test.ts checks proofs).
      config: { verifyIds: false, ...this.config },
    });
    this.nodes.set(port, node);
    return node;
  }

  crash(node: ChordNode): void {
    node.stop();
    this.down.add(node.self.port);
  }

  /** Moves the fake clock in small steps, letting the promise chains each step starts finish. */
  async run(ms: number, step = 50): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async settle<T>(promise: Promise<T>): Promise<T> {
    let done = false;
    void promise.finally(() => (done = true)).catch(() => undefined);
    for (let i = 0; i < 1_000 && !done; i++) await this.run(50);
    return promise;
  }

  ports(refs: Array<NodeRef | undefined>): Array<number | undefined> {
    return refs.map((r) => r?.port);
  }
}

describe('Chord node on a fake clock', () => {
  it('forms a ring from joins: successors, predecessors and successor lists in ring order', async () => {
    const ring = new Ring();
    const [a, b, c, d] = [ring.add(0.1), ring.add(0.4), ring.add(0.6), ring.add(0.9)];
    a.create();
    for (const n of [c, b, d]) await ring.settle(n.join(a.self));
    await ring.run(10_000);
    assert.deepEqual(ring.ports([a, b, c, d].map((n) => n.table.successor)), ring.ports([b.self, c.self, d.self, a.self]));
    assert.deepEqual(ring.ports([a, b, c, d].map((n) => n.table.predecessor)), ring.ports([d.self, a.self, b.self, c.self]));
    assert.deepEqual(ring.ports(a.table.successors), ring.ports([b.self, c.self, d.self]));
  });

  it('fills fingers with the successor of each finger start', async () => {
    const ring = new Ring();
    const [a, b, c] = [ring.add(0.1), ring.add(0.3), ring.add(0.7)];
    a.create();
    await ring.settle(b.join(a.self));
    await ring.settle(c.join(a.self));
    // One finger per fix-fingers period; 160 of them, most settled in passing.
    await ring.run(30_000);
    // From 0.1: finger 159 starts at 0.6 (owned by 0.7), finger 158 at 0.35 (0.7), finger 157 at 0.225 (0.3).
    assert.equal(a.table.fingers[159]?.port, c.self.port);
    assert.equal(a.table.fingers[158]?.port, c.self.port);
    assert.equal(a.table.fingers[157]?.port, b.self.port);
    assert.equal(a.table.fingers[0]?.port, b.self.port);
  });

  it('drops a crashed successor and predecessor and closes the ring around them', async () => {
    const ring = new Ring();
    const nodes = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(10_000);
    const [a, b, c, d] = nodes;
    ring.crash(c);
    // Stabilize finds the dead successor after one request timeout; check-predecessor retries once.
    await ring.run(15_000);
    assert.equal(b.table.successor?.port, d.self.port);
    assert.equal(d.table.predecessor?.port, b.self.port);
    assert.ok(!b.table.successors.some((s) => s.port === c.self.port));
    // Lookups of a key the dead node owned now end at its successor.
    const found = await ring.settle(a.lookup(idFromHex(c.self.id)!));
    assert.equal(found.node.port, d.self.port);
  });

  it('keeps r = 3 copies of a record, on the responsible node among them, readable from anywhere', async () => {
    const ring = new Ring();
    const nodes = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(5_000);
    const record = nameRecord(newOwner(), 'alice', 'test', 3_600_000);
    const result = await ring.settle(nodes[2].put([record]));
    assert.equal(result.stored, 1);
    const key = idFromHex(record.key)!;
    const holders = () => [...ring.nodes.values()].filter((n) => !ring.down.has(n.self.port) && n.store.get(record.key).length).map((n) => n.self.port);
    assert.equal(holders().length, 3);
    const responsible = (await ring.settle(nodes[4].lookup(key))).node;
    assert.ok(holders().includes(responsible.port));
    const got = await ring.settle(nodes[1].get(key));
    assert.equal(got[0]?.sig, record.sig);
  });

  it('a graceful leave hands records to the successor and tells both neighbours at once', async () => {
    // One copy only, so the successor can have the record from nowhere but the leave.
    const ring = new Ring({ replicas: 1 });
    const nodes = [0.1, 0.3, 0.5, 0.7].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(5_000);
    const [a, b, c] = nodes;
    const record = nameRecord(newOwner(), userBetween(0.1, 0.3), 'test', 3_600_000);
    await ring.settle(a.put([record]));
    assert.equal(b.store.get(record.key)[0]?.sig, record.sig);
    const copyAtC = () => c.store.get(record.key).length;
    assert.equal(copyAtC(), 0);
    await ring.settle(b.leave());
    ring.down.add(b.self.port);
    // No stabilization has run yet: the leave message itself rewired the neighbours.
    assert.equal(a.table.successor?.port, c.self.port);
    assert.equal(c.table.predecessor?.port, a.self.port);
    assert.equal(copyAtC(), 1);
    assert.ok(c.table.isResponsible(idFromHex(record.key)!));
  });

  it('hands records to a joining node that becomes responsible for them', async () => {
    const ring = new Ring();
    const nodes = [0.1, 0.5, 0.9].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(5_000);
    const record = nameRecord(newOwner(), userBetween(0.1, 0.3), 'test', 3_600_000);
    await ring.settle(nodes[2].put([record]));
    const joiner = ring.add(0.3);
    assert.equal(joiner.store.size, 0);
    await ring.settle(joiner.join(nodes[0].self));
    // Its predecessor's next stabilize makes it responsible; its successor handed over at the join.
    await ring.run(2_000);
    assert.ok(joiner.table.isResponsible(idFromHex(record.key)!));
    assert.equal(joiner.store.get(record.key)[0]?.sig, record.sig);
  });

  it('a copy stored off its primary while the key changed hands reaches the primary, though the primary keeps pushing the key', async () => {
    const ring = new Ring();
    const nodes = [0.1, 0.5, 0.9].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(5_000);
    const owner = newOwner();
    const user = userBetween(0.1, 0.5);
    const claim = nameRecord(owner, user, 'test', 3_600_000);
    await ring.settle(nodes[0].put([claim]));
    const primary = nodes[1];
    assert.ok(primary.table.isResponsible(idFromHex(claim.key)!));
    // The device's binding reached only a replica (a put routed by a stale view during a join):
    // the primary's pushes of the key (the claim) must not hide it there.
    const binding = signRecord(
      { type: 'binding', key: claim.key, owner: owner.owner, slot: 'device-1', seq: 1, expires: 3_600_000, value: { user, overlay: 'test', contact: 'sip:u@192.0.2.7:5060' } },
      owner.privateKey,
    );
    const stray = nodes[2];
    assert.ok(stray.store.put(binding).ok);
    assert.equal(primary.store.get(claim.key, 'binding').length, 0);
    await ring.run(5_000);
    assert.equal(primary.store.get(claim.key, 'binding')[0]?.sig, binding.sig);
    assert.equal(nodes[0].store.get(claim.key, 'binding')[0]?.sig, binding.sig, 'and from there to every replica');
  });

  it('refuses a write for a key it does not hold, from a stranger or a node far from the key', async () => {
    const ring = new Ring();
    const nodes = Array.from({ length: 20 }, (_, i) => ring.add(0.01 + i / 20));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(20_000);
    const at = (f: number) => nodes[Math.round((f - 0.01) * 20)];
    const [b, primary, far] = [at(0.31), at(0.41), at(0.66)];
    const stranger: NodeRef = { id: idToHex((RING_SIZE * 95n) / 100n), host: '192.0.2.9', port: 9 };
    const claim = nameRecord(newOwner(), userBetween(0.36, 0.41), 'test', 3_600_000);
    // b comes before the key: neither its primary nor a replica.
    const asPrimary = await b.handle('store', { records: [claim], replica: false }, stranger, '192.0.2.0/24');
    assert.deepEqual(asPrimary.rejected.map((r) => r.reason), ['not-responsible']);
    for (const sender of [primary, far]) {
      const asReplica = await b.handle('store', { records: [claim], replica: true }, sender.self);
      assert.deepEqual(asReplica.rejected.map((r) => r.reason), ['not-responsible'], `replica write from ${sender.self.port}`);
    }
    assert.equal(b.store.get(claim.key).length, 0);
    assert.equal(b.store.refused['not-responsible'], 3);
    // The primary takes it, and its replicas (the next two nodes) take it from the primary.
    assert.equal((await ring.settle(primary.handle('store', { records: [claim], replica: false }, stranger, '192.0.2.0/24'))).stored, 1);
    assert.equal(at(0.46).store.get(claim.key)[0]?.sig, claim.sig);
    assert.equal(at(0.51).store.get(claim.key)[0]?.sig, claim.sig);
  });

  it('replicates by digest: a quiet round stores nothing, and a copy a replica lost comes back', async () => {
    const ring = new Ring();
    const nodes = [0.1, 0.4, 0.7].map((f) => ring.add(f));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(5_000);
    const records = Array.from({ length: 20 }, (_, i) => nameRecord(newOwner(), `quiet-${i}`, 'test', 3_600_000));
    await ring.settle(nodes[0].put(records));
    await ring.run(12_000);
    ring.sent.clear();
    // Two replication periods (10 s) with nothing new: sync requests, no store.
    await ring.run(21_000);
    assert.ok((ring.sent.get('sync') ?? 0) >= 6, `sync sent ${ring.sent.get('sync')}`);
    assert.equal(ring.sent.get('store') ?? 0, 0);
    // A replica loses one copy; the next round's sync names it and the primary stores it again.
    const lost = records.find((r) => nodes.filter((n) => n.store.get(r.key).length).length === 3)!;
    const primary = nodes.find((n) => n.table.isResponsible(idFromHex(lost.key)!))!;
    const replica = nodes.find((n) => n !== primary)!;
    replica.store.removeKey(lost.key);
    await ring.run(11_000);
    assert.equal(replica.store.get(lost.key)[0]?.sig, lost.sig);
    assert.ok((ring.sent.get('store') ?? 0) >= 1);
  });
});

describe('nodes caught hiding records (suspects)', () => {
  const SUSPECT_MS = 60_000;
  /** Eight nodes 1/8 apart; a user whose key the fourth (0.425) holds, with the fifth and sixth as replicas. */
  async function ringOfEight() {
    const ring = new Ring({ suspectMs: SUSPECT_MS });
    const nodes = Array.from({ length: 8 }, (_, i) => ring.add(0.05 + i / 8));
    nodes[0].create();
    for (const n of nodes.slice(1)) await ring.settle(n.join(nodes[0].self));
    await ring.run(20_000);
    const record = nameRecord(newOwner(), userBetween(0.3, 0.425), 'test', 3_600_000);
    const [primary, replicaA, replicaB] = [nodes[3], nodes[4], nodes[5]];
    assert.ok(primary.table.isResponsible(idFromHex(record.key)!));
    return { ring, nodes, record, key: idFromHex(record.key)!, primary, replicaA, replicaB };
  }
  /** Makes `node` answer fetches with nothing, and counts the requests `from` sends it. */
  function hideRecords(ring: Ring, node: ChordNode, from: ChordNode) {
    const asked = new Map<string, number>();
    ring.lies.set(node.self.port, (op, _body, sender) => {
      if (sender === from.self.port) asked.set(op, (asked.get(op) ?? 0) + 1);
      return op === 'fetch' ? { records: [] } : undefined;
    });
    return asked;
  }

  it('finds a record its primary hides, gives it the record, and makes it a suspect kept out of fetches and lookup steps until suspectMs has passed when it hides it again', async () => {
    const { ring, nodes, record, key, primary } = await ringOfEight();
    assert.equal((await ring.settle(nodes[6].put([record]))).stored, 1);
    const querier = nodes[0];
    const asked = hideRecords(ring, primary, querier);
    const found = await ring.settle(querier.get(key));
    assert.deepEqual(found.map((r) => r.sig), [record.sig]);
    // An honest node just made responsible says "not found" too: the first time it is given the record.
    assert.deepEqual(querier.suspects(), []);
    assert.equal(querier.stats.fetchRepairs, 1);
    assert.deepEqual((await ring.settle(querier.get(key))).map((r) => r.sig), [record.sig]);
    assert.deepEqual(querier.suspects().map((s) => s.node.port), [primary.self.port]);
    assert.match(querier.suspects()[0].reason, /not found.*again after it was given the record/);
    assert.equal(querier.stats.suspectsMarked, 1);
    // From now on the querier neither steps through the liar nor asks it for records.
    asked.clear();
    assert.deepEqual((await ring.settle(querier.get(key))).map((r) => r.sig), [record.sig]);
    await ring.settle(querier.lookup(idFromHex(primary.self.id)!));
    assert.equal(asked.get('fetch') ?? 0, 0);
    assert.equal(asked.get('find-closest') ?? 0, 0);
    assert.equal(querier.stats.suspectsMarked, 1, 'not marked again');
    // It answers pings and stabilize like anyone: that does not clear it. Time does.
    await ring.run(SUSPECT_MS / 2);
    assert.equal(querier.suspects().length, 1);
    await ring.run(SUSPECT_MS / 2 + 1_000);
    assert.deepEqual(querier.suspects(), []);
  });

  it('believes no one lied when no holder has the record: a missing key makes no suspect', async () => {
    const { ring, nodes, key } = await ringOfEight();
    const querier = nodes[0];
    assert.deepEqual(await ring.settle(querier.get(key)), []);
    // The empty answer was checked over disjoint paths before it was believed.
    assert.equal(querier.stats.defendedFetches, 1);
    for (const n of nodes) assert.deepEqual(n.suspects(), [], `suspects at ${n.self.port}`);
  });

  it('makes a holder that sends a forged copy a suspect, and returns the valid record', async () => {
    const { ring, nodes, record, key, primary } = await ringOfEight();
    await ring.settle(nodes[6].put([record]));
    const forged = { ...record, value: { ...record.value, displayName: 'mallory' } };
    ring.lies.set(primary.self.port, (op) => (op === 'fetch' ? { records: [forged] } : undefined));
    const querier = nodes[7];
    assert.deepEqual((await ring.settle(querier.get(key))).map((r) => r.sig), [record.sig]);
    assert.deepEqual(querier.suspects().map((s) => s.node.port), [primary.self.port]);
    assert.match(querier.suspects()[0].reason, /signature/);
  });

  it('a put writes the replicas itself when the primary drops the records and does not copy them', async () => {
    const { ring, nodes, record, key, primary, replicaA, replicaB } = await ringOfEight();
    // The primary says "stored" and keeps nothing.
    ring.lies.set(primary.self.port, (op, body) => {
      if (op === 'store' && !(body as { replica: boolean }).replica) return { stored: (body as { records: unknown[] }).records.length, rejected: [] };
      return op === 'fetch' ? { records: [] } : undefined;
    });
    const writer = nodes[0];
    assert.equal((await ring.settle(writer.put([record]))).stored, 1);
    assert.equal(primary.store.get(record.key).length, 0);
    assert.equal(replicaA.store.get(record.key)[0]?.sig, record.sig);
    assert.equal(replicaB.store.get(record.key)[0]?.sig, record.sig);
    assert.equal(writer.stats.replicaRepairs, 2);
    // And a reader elsewhere finds it, and learns who hid it: the primary "takes" the record it is
    // given and hides it again.
    const reader = nodes[7];
    for (let i = 0; i < 2; i++) assert.deepEqual((await ring.settle(reader.get(key))).map((r) => r.sig), [record.sig]);
    assert.deepEqual(reader.suspects().map((s) => s.node.port), [primary.self.port]);
  });

  it('a holder without a record another holds is given it, and is no suspect: an honest newcomer has nothing yet', async () => {
    const { ring, nodes, record, key, primary } = await ringOfEight();
    await ring.settle(nodes[6].put([record]));
    // As a node that just became responsible holds nothing of its range until the records reach it.
    primary.store.removeKey(record.key);
    const querier = nodes[0];
    assert.deepEqual((await ring.settle(querier.get(key))).map((r) => r.sig), [record.sig]);
    assert.equal(primary.store.get(record.key)[0]?.sig, record.sig, 'the primary was given the record');
    assert.equal(querier.stats.fetchRepairs, 1);
    ring.sent.clear();
    assert.deepEqual((await ring.settle(querier.get(key))).map((r) => r.sig), [record.sig]);
    assert.equal(ring.sent.get('fetch'), 1, 'the primary answers alone now');
    for (const n of nodes) assert.deepEqual(n.suspects(), [], `suspects at ${n.self.port}`);
  });

  it('an honest primary copies to its replicas itself: the put\'s check finds nothing to repair', async () => {
    const { ring, nodes, record, replicaA, replicaB } = await ringOfEight();
    await ring.settle(nodes[0].put([record]));
    assert.equal(nodes[0].stats.replicaRepairs, 0);
    assert.equal(replicaA.store.get(record.key)[0]?.sig, record.sig);
    assert.equal(replicaB.store.get(record.key)[0]?.sig, record.sig);
  });

  it('routes past a suspect successor: keys it is responsible for are sent to the next node, which holds their replicas; it stays in the ring', async () => {
    const { ring, nodes, key, primary, replicaA } = await ringOfEight();
    const before = nodes[2];
    assert.equal(before.table.successor?.port, primary.self.port);
    before.suspect(primary.self, 'test: caught hiding a record');
    await ring.run(5_000);
    assert.equal(before.table.successor?.port, primary.self.port, 'still our successor in the ring');
    const step = await before.handle('find-closest', { key: idToHex(key) });
    assert.equal(step.done, true);
    assert.equal(step.node.port, replicaA.self.port);
    // It stays in the ring: its own successor still names it as predecessor.
    assert.equal(replicaA.table.predecessor?.port, primary.self.port);
  });
});
