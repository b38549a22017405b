// Proximity neighbour selection (Gummadi et al., "The impact of DHT routing geometry on
// resilience and proximity", SIGCOMM 2003; Dabek et al., NSDI 2004): any node whose ID lies in a
// finger's interval [start(i), start(i+1)) routes as well as the first one, so among the few a
// node knows there, it keeps the one it reaches fastest. RTTs come from the node's own requests.
import type { NodeRef } from '../../wire/overlay/messages.js';
import { ringDistance, type NodeId } from '../../wire/overlay/node-id.js';
import { idOf } from './routing-table.js';

/** Weight of a new sample in the moving average (RFC 6298's SRTT uses 1/8; fewer samples here). */
const RTT_GAIN = 0.25;
/** Estimates kept; the table is cleared when full (a few hundred nodes are ever asked). */
const RTT_MEMORY = 4_096;

/** Smoothed round-trip times of the requests this node sent, by node ID. */
export class RttEstimates {
  private readonly rtts = new Map<string, number>();

  sample(id: string, ms: number): void {
    if (!(ms >= 0)) return;
    const old = this.rtts.get(id);
    if (old === undefined && this.rtts.size >= RTT_MEMORY) this.rtts.clear();
    this.rtts.set(id, old === undefined ? ms : old + RTT_GAIN * (ms - old));
  }

  get(id: string): number | undefined {
    return this.rtts.get(id);
  }

  forget(id: string): void {
    this.rtts.delete(id);
  }
}

/** True when `node` lies in the finger interval [start, end). */
export function inFingerInterval(node: NodeRef, start: NodeId, end: NodeId): boolean {
  return ringDistance(start, idOf(node)) < ringDistance(start, end);
}

/**
 * The finger to keep among `candidates` (the node responsible for the start first): the one with
 * the lowest measured RTT, or the first when none is measured. `undefined` entries and nodes
 * outside the interval are skipped.
 */
export function nearestCandidate(candidates: NodeRef[], rtts: RttEstimates): NodeRef | undefined {
  let best: NodeRef | undefined;
  let bestRtt = Infinity;
  for (const c of candidates) {
    const rtt = rtts.get(c.id) ?? Infinity;
    if (!best || rtt < bestRtt) {
      best = c;
      bestRtt = rtt;
    }
  }
  return best;
}
