// Lookups with part of the ring hostile (issue 21): a share of the nodes lie in concert. Asked for
// a step towards a key, a liar says the lookup is done and names the liar closest after the key
// (with more liars as its successors); asked for records, it has none; everything else it answers
// honestly, so it stays in everyone's tables. The same ring and the same lookups are measured with
// the plain iterative lookup and with lookupDisjoint (three disjoint, checked paths; the answer
// closest after the key wins). A lookup succeeds when it names the key's responsible node.
// Not simulated: liars placing themselves at chosen IDs (node IDs are free today).
import { ID_BITS, idFromHex, type NodeId } from '../../native/wire/overlay/node-id.js';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import type { NodeRef } from '../../native/wire/overlay/messages.js';
import { installConvergedTables, RingOracle } from './ring.js';
import { seededRandom, SimNetwork } from './sim-network.js';

export interface AdversarialResult {
  nodes: number;
  malicious: number;
  lookups: number;
  lookupSuccess: number;
  lookupSuccessUndefended: number;
  /** Requests sent per lookup, with and without the defence. */
  requestsPerLookup: number;
  requestsPerLookupUndefended: number;
}

function randomKey(random: () => number): NodeId {
  let k = 0n;
  for (let i = 0; i < ID_BITS / 16; i++) k = (k << 16n) | BigInt(Math.floor(random() * 65536));
  return k;
}

export async function adversarialLookups(options: { seed: number; share: number; nodes?: number; lookups?: number }): Promise<AdversarialResult> {
  const random = seededRandom(options.seed * 31 + Math.round(options.share * 100));
  const net = new SimNetwork({ random });
  const nodes = Array.from({ length: options.nodes ?? 1_000 }, () => net.addNode());
  installConvergedTables(nodes, net.config.minSuccessors + 2);
  const liars = new Set<ChordNode>();
  while (liars.size < Math.round(nodes.length * options.share)) liars.add(nodes[Math.floor(random() * nodes.length)]);
  const colluders = new RingOracle([...liars]);
  for (const liar of liars) {
    net.adversaries.set(`${liar.self.host}:${liar.self.port}`, (op, body) => {
      if (op === 'fetch') return { records: [] };
      if (op !== 'find-closest') return undefined;
      const key = idFromHex((body as { key: string }).key)!;
      const [node, ...successors]: NodeRef[] = colluders.replicaSet(key, 4);
      return { done: true, node, successors };
    });
  }
  const honest = nodes.filter((n) => !liars.has(n));
  const truth = new RingOracle(nodes);
  const queries = Array.from({ length: options.lookups ?? 1_000 }, () => ({ from: honest[Math.floor(random() * honest.length)], key: randomKey(random) }));
  const run = async (defended: boolean) => {
    const sentBefore = net.messages;
    let right = 0;
    for (const q of queries) {
      try {
        const found = await net.scheduler.until(defended ? q.from.lookupDisjoint(q.key) : q.from.lookup(q.key));
        if (found.node.id === truth.responsible(q.key).id) right++;
      } catch {
        // a failed lookup is not a success
      }
    }
    return { success: right / queries.length, requests: (net.messages - sentBefore) / 2 / queries.length };
  };
  const undefended = await run(false);
  const defended = await run(true);
  return {
    nodes: nodes.length,
    malicious: liars.size,
    lookups: queries.length,
    lookupSuccess: Number(defended.success.toFixed(4)),
    lookupSuccessUndefended: Number(undefended.success.toFixed(4)),
    requestsPerLookup: Number(defended.requests.toFixed(2)),
    requestsPerLookupUndefended: Number(undefended.requests.toFixed(2)),
  };
}
