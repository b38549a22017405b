// A Chord node's routing state: predecessor, successor list and finger table (Stoica et al.,
// "Chord: A Scalable Peer-to-peer Lookup Protocol", 2001/2003), with the ring arithmetic
// that decides who is closest to a key.
import type { NodeRef } from '../../wire/overlay/messages.js';
import { fingerStart, ID_BITS, idFromHex, inHalfOpenInterval, inOpenInterval, ringDistance, RING_SIZE, type NodeId } from '../../wire/overlay/node-id.js';

export const idOf = (n: NodeRef): NodeId => idFromHex(n.id)!;

export class RoutingTable {
  readonly selfId: NodeId;
  predecessor?: NodeRef;
  successors: NodeRef[] = [];
  readonly fingers: Array<NodeRef | undefined> = new Array(ID_BITS).fill(undefined);
  /** Nodes that failed to answer lately, and until when they are avoided. */
  private readonly suspects = new Map<string, number>();

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
  closestPreceding(key: NodeId, now: number): NodeRef {
    let best: NodeRef = this.self;
    let bestDistance = 0n;
    const consider = (n: NodeRef | undefined) => {
      if (!n || n.id === this.self.id || this.isSuspect(n.id, now)) return;
      const id = idOf(n);
      if (!inOpenInterval(id, this.selfId, key)) return;
      const d = ringDistance(this.selfId, id);
      if (d > bestDistance) {
        best = n;
        bestDistance = d;
      }
    };
    for (let i = ID_BITS - 1; i >= 0; i--) consider(this.fingers[i]);
    for (const s of this.successors) consider(s);
    return best;
  }

  /** The first live successor, if any. */
  liveSuccessor(now: number): NodeRef | undefined {
    return this.successors.find((s) => !this.isSuspect(s.id, now));
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

  /** Forgets a node that did not answer, everywhere it appears. Returns true if it was a successor. */
  remove(id: string, now: number, avoidMs: number): boolean {
    this.suspects.set(id, now + avoidMs);
    const wasSuccessor = this.successors.some((s) => s.id === id);
    this.successors = this.successors.filter((s) => s.id !== id);
    for (let i = 0; i < ID_BITS; i++) if (this.fingers[i]?.id === id) this.fingers[i] = undefined;
    if (this.predecessor?.id === id) this.predecessor = undefined;
    return wasSuccessor;
  }

  /** A node answered: it is no longer suspect. */
  alive(id: string): void {
    this.suspects.delete(id);
  }

  isSuspect(id: string, now: number): boolean {
    const until = this.suspects.get(id);
    if (until === undefined) return false;
    if (until <= now) {
      this.suspects.delete(id);
      return false;
    }
    return true;
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
