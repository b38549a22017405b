// A Chord node's routing state: predecessor, successor list and finger table (Stoica et al.,
// "Chord: A Scalable Peer-to-peer Lookup Protocol", 2001/2003), with the ring arithmetic
// that decides who is closest to a key.
import type { NodeRef } from '../../wire/overlay/messages.js';
import { fingerStart, ID_BITS, idFromHex, inHalfOpenInterval, ringDistance, RING_SIZE, type NodeId } from '../../wire/overlay/node-id.js';

// Routing compares the same few hundred IDs over and over: parse each hex string once.
const parsedIds = new Map<string, NodeId>();
export const idOf = (n: NodeRef): NodeId => {
  let id = parsedIds.get(n.id);
  if (id === undefined) {
    id = idFromHex(n.id)!;
    if (parsedIds.size >= 100_000) parsedIds.clear();
    parsedIds.set(n.id, id);
  }
  return id;
};

export class RoutingTable {
  readonly selfId: NodeId;
  predecessor?: NodeRef;
  successors: NodeRef[] = [];
  readonly fingers: Array<NodeRef | undefined> = new Array(ID_BITS).fill(undefined);
  /** Nodes that failed to answer lately, and until when they are avoided. */
  private readonly suspects = new Map<string, number>();
  /**
   * Nodes caught hiding records (ChordNode.suspect), until when, and why: avoided like the
   * silent ones, but an answer does not clear them (a liar answers).
   */
  private readonly distrusted = new Map<string, { node: NodeRef; until: number; reason: string }>();

  constructor(
    readonly self: NodeRef,
    private readonly minSuccessors: number,
    private readonly maxSuccessors = 32,
  ) {
    this.selfId = idOf(self);
  }

  get successor(): NodeRef | undefined {
    return this.successors[0];
  }

  /** The arc this node is responsible for: (predecessor, self]. Alone, everything. */
  isResponsible(key: NodeId): boolean {
    if (!this.predecessor) return this.successors.length === 0;
    return inHalfOpenInterval(key, idOf(this.predecessor), this.selfId);
  }

  /** Chord's closest_preceding_node, over fingers and successors, skipping suspects. */
  closestPreceding(key: NodeId, now: number, avoid?: Set<string>): NodeRef {
    let best: NodeRef = this.self;
    let bestDistance = 0n;
    const keyDistance = ringDistance(this.selfId, key);
    let previous: string | undefined;
    const consider = (n: NodeRef | undefined) => {
      // Most low fingers are the successor: look at each run of equal fingers once.
      if (!n || n.id === previous) return;
      previous = n.id;
      if (n.id === this.self.id || this.isSuspect(n.id, now) || avoid?.has(n.id)) return;
      const d = ringDistance(this.selfId, idOf(n));
      if (d > bestDistance && d < keyDistance) {
        best = n;
        bestDistance = d;
      }
    };
    for (let i = ID_BITS - 1; i >= 0; i--) consider(this.fingers[i]);
    previous = undefined;
    for (const s of this.successors) consider(s);
    return best;
  }

  /**
   * Up to `count` distinct nodes of the table that precede `key`, closest to it first: where
   * disjoint lookup paths start (each path takes its own first hop).
   */
  precedingNodes(key: NodeId, now: number, count: number): NodeRef[] {
    const keyDistance = ringDistance(this.selfId, key);
    const seen = new Map<string, { node: NodeRef; d: bigint }>();
    for (const n of [...this.fingers, ...this.successors]) {
      if (!n || n.id === this.self.id || seen.has(n.id) || this.isSuspect(n.id, now)) continue;
      const d = ringDistance(this.selfId, idOf(n));
      if (d > 0n && d < keyDistance) seen.set(n.id, { node: n, d });
    }
    return [...seen.values()].sort((a, b) => (a.d > b.d ? -1 : a.d < b.d ? 1 : 0)).slice(0, count).map((x) => x.node);
  }

  /**
   * The first live successor, if any: past nodes that failed lately, not past distrusted ones.
   * The ring's shape stays what the nodes are; distrust only steers lookups and fetches round a
   * node (findClosestLocal, closestPreceding, the fetch's holders). A node is distrusted on what
   * other nodes answered, and an honest node that has just taken over keys looks like a liar until
   * its records arrive: dropping it from successor lists left rings wrong for the whole
   * distrust period (a merge of rings, test/integration/ring-merge.test.ts).
   */
  liveSuccessor(now: number): NodeRef | undefined {
    return this.successors.find((s) => !this.failedLately(s.id, now));
  }

  /** Failed to answer lately (a timeout), whatever is thought of its honesty. */
  private failedLately(id: string, now: number): boolean {
    const until = this.suspects.get(id);
    if (until === undefined) return false;
    if (until <= now) {
      this.suspects.delete(id);
      return false;
    }
    return true;
  }

  /** How long the successor list should be: at least the minimum, growing with log2 of the estimated ring size. */
  successorTarget(): number {
    const last = this.successors.at(-1);
    if (!last || this.successors.length < 2) return this.minSuccessors;
    const span = ringDistance(this.selfId, idOf(last));
    if (span === 0n) return this.minSuccessors;
    const estimate = Number((RING_SIZE * BigInt(this.successors.length)) / span);
    return Math.min(this.maxSuccessors, Math.max(this.minSuccessors, Math.ceil(Math.log2(Math.max(2, estimate)))));
  }

  /** Sets the successor list from a successor and what it reported as its own successors. */
  setSuccessors(first: NodeRef, rest: NodeRef[]): boolean {
    const seen = new Set<string>([this.self.id]);
    const list: NodeRef[] = [];
    for (const n of [first, ...rest]) {
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      list.push(n);
    }
    const next = list.slice(0, Math.max(this.successorTarget(), this.minSuccessors));
    const changed = next.length !== this.successors.length || next.some((n, i) => n.id !== this.successors[i]?.id);
    this.successors = next;
    return changed;
  }

  /**
   * Takes nodes heard of from another ring while the rings merge into the successor list: the
   * candidates and the current successors, in ring order from this node. Both lists are
   * successors of this node in their own ring, so their merge in ring order is the successor
   * list of the union; taking only the candidate's list would drop our own ring's nodes that sit
   * between the candidate's.
   */
  mergeSuccessors(candidates: NodeRef[]): boolean {
    const byDistance = [...candidates, ...this.successors].sort((a, b) => {
      const da = ringDistance(this.selfId, idOf(a));
      const db = ringDistance(this.selfId, idOf(b));
      return da < db ? -1 : da > db ? 1 : 0;
    });
    if (!byDistance.length) return false;
    return this.setSuccessors(byDistance[0], byDistance.slice(1));
  }

  /** Every distinct node this table names (predecessor, successors, fingers): where news of a merge is passed on. */
  knownNodes(): NodeRef[] {
    const seen = new Set<string>([this.self.id]);
    const out: NodeRef[] = [];
    for (const n of [this.predecessor, ...this.successors, ...this.fingers]) {
      if (!n || seen.has(n.id)) continue;
      seen.add(n.id);
      out.push(n);
    }
    return out;
  }

  /** Forgets a node that did not answer, everywhere it appears. Returns true if it was a successor. */
  remove(id: string, now: number, avoidMs: number): boolean {
    this.suspects.set(id, now + avoidMs);
    const wasSuccessor = this.successors.some((s) => s.id === id);
    this.successors = this.successors.filter((s) => s.id !== id);
    for (let i = 0; i < ID_BITS; i++) if (this.fingers[i]?.id === id) this.fingers[i] = undefined;
    if (this.predecessor?.id === id) this.predecessor = undefined;
    return wasSuccessor;
  }

  /** True when the node is our predecessor, a successor or a finger. */
  knows(id: string): boolean {
    return this.predecessor?.id === id || this.successors.some((s) => s.id === id) || this.fingers.some((f) => f?.id === id);
  }

  /** A node answered: it is no longer suspect. */
  alive(id: string): void {
    this.suspects.delete(id);
  }

  /** Keeps a node out of routing (fingers, lookup steps, the answers we give) until `until`; it stays in successor lists. */
  distrust(node: NodeRef, until: number, reason: string): void {
    this.distrusted.set(node.id, { node, until, reason });
  }

  isDistrusted(id: string, now: number): boolean {
    const entry = this.distrusted.get(id);
    if (entry && entry.until <= now) this.distrusted.delete(id);
    return entry !== undefined && entry.until > now;
  }

  /** The nodes distrusted now. */
  distrustedNodes(now: number): Array<{ node: NodeRef; until: number; reason: string }> {
    for (const [id, entry] of this.distrusted) if (entry.until <= now) this.distrusted.delete(id);
    return [...this.distrusted.values()];
  }

  isSuspect(id: string, now: number): boolean {
    if (this.distrusted.size && this.isDistrusted(id, now)) return true;
    return this.failedLately(id, now);
  }

  fingerStart(i: number): NodeId {
    return fingerStart(this.selfId, i);
  }

  /** The distinct nodes of the finger table, in finger order. */
  distinctFingers(): Array<{ index: number; node: NodeRef }> {
    const out: Array<{ index: number; node: NodeRef }> = [];
    let last: string | undefined;
    this.fingers.forEach((node, index) => {
      if (node && node.id !== last) out.push({ index, node });
      last = node?.id ?? last;
    });
    return out;
  }
}
