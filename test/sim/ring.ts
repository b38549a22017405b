// Building rings in the simulator and judging them against an oracle that knows every live ID.
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import { addId, fingerStart, ID_BITS, idFromHex, type NodeId } from '../../native/wire/overlay/node-id.js';
import type { NodeRef } from '../../native/wire/overlay/messages.js';
import { ringIsCorrect, type SimNetwork } from './sim-network.js';

/** The sorted live IDs of a ring, answering "who is responsible for this key" (the key's successor). */
export class RingOracle {
  private readonly ids: NodeId[];
  private readonly refs: NodeRef[];

  constructor(nodes: ChordNode[]) {
    const sorted = nodes.map((n) => ({ id: idFromHex(n.self.id)!, ref: n.self })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ids = sorted.map((s) => s.id);
    this.refs = sorted.map((s) => s.ref);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Index of the first ID >= key, wrapping to 0. */
  private indexOfSuccessor(key: NodeId): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ids[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo % this.ids.length;
  }

  responsible(key: NodeId): NodeRef {
    return this.refs[this.indexOfSuccessor(key)];
  }

  /** The responsible node and the `count - 1` nodes after it: where a record's replicas belong. */
  replicaSet(key: NodeId, count: number): NodeRef[] {
    const first = this.indexOfSuccessor(key);
    const out: NodeRef[] = [];
    for (let i = 0; i < Math.min(count, this.refs.length); i++) out.push(this.refs[(first + i) % this.refs.length]);
    return out;
  }

  /** The node just before `id` on the ring. */
  predecessorOf(id: NodeId): NodeRef {
    const i = this.indexOfSuccessor(id);
    return this.refs[(i - 1 + this.refs.length) % this.refs.length];
  }
}

export interface WaveJoinOptions {
  /** Each wave adds this fraction of the current ring size (at least one node). */
  growth?: number;
  /** Stabilization rounds allowed after a wave for the ring to become correct before the next wave. */
  maxSettleRounds?: number;
}

export interface WaveJoinResult {
  waves: number;
  joinFailures: number;
  /** For each wave, the stabilization rounds after its joins returned until every successor was right. */
  settleRounds: Array<number | undefined>;
}

/**
 * Grows a ring to `count` nodes by real joins, many at a time: each wave joins a fraction of the
 * current size concurrently through randomly chosen members, then lets the ring stabilize until
 * every successor is right (the next wave would otherwise join through a ring still in flux).
 * A join that fails (its lookup ran into a node that moved) is retried in the next wave.
 */
export async function joinInWaves(net: SimNetwork, count: number, random: () => number, options: WaveJoinOptions = {}): Promise<WaveJoinResult> {
  const growth = options.growth ?? 0.5;
  const maxSettleRounds = options.maxSettleRounds ?? 60;
  const settleRounds: Array<number | undefined> = [];
  if (net.live().length === 0) net.addNode().create();
  let waves = 0;
  let joinFailures = 0;
  while (net.live().length < count) {
    const members = net.live();
    const size = Math.min(count - members.length, Math.max(1, Math.floor(members.length * growth)));
    const joins = Array.from({ length: size }, () => {
      const bootstrap = members[Math.floor(random() * members.length)].self;
      const node = net.addNode();
      return node.join(bootstrap).catch(() => {
        joinFailures++;
        net.kill(node);
      });
    });
    await net.scheduler.until(Promise.all(joins));
    settleRounds.push(await roundsUntilCorrect(net, maxSettleRounds));
    waves++;
  }
  return { waves, joinFailures, settleRounds };
}

/** Runs stabilization periods until every successor pointer is right; returns how many it took (or undefined). */
export async function roundsUntilCorrect(net: SimNetwork, maxRounds: number): Promise<number | undefined> {
  for (let round = 0; round <= maxRounds; round++) {
    if (ringIsCorrect(net.live()).correct) return round;
    await net.scheduler.runFor(net.config.stabilizeMs);
  }
  return undefined;
}

/**
 * Sets every node's predecessor, successor list and fingers to what Chord converges to on this
 * set of IDs, without running the joins that would get there. For rings too large to grow by
 * real joins in test time; lookups over them still run the real protocol code.
 */
export function installConvergedTables(nodes: ChordNode[], successorCount: number): void {
  const oracle = new RingOracle(nodes);
  for (const node of nodes) {
    const id = idFromHex(node.self.id)!;
    const table = node.table;
    table.predecessor = oracle.predecessorOf(id);
    table.successors = oracle.replicaSet(addId(id, 1n), successorCount + 1).filter((n) => n.id !== node.self.id).slice(0, successorCount);
    for (let i = 0; i < ID_BITS; i++) {
      const finger = oracle.responsible(fingerStart(id, i));
      table.fingers[i] = finger.id === node.self.id ? undefined : finger;
    }
  }
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}
