// Lookups with part of the ring hostile (issue 21): a share of the nodes lie in concert. Asked for
// a step towards a key, a liar says the lookup is done and names the liar closest after the key
// (with more liars as its successors); asked for records, it has none; everything else it answers
// honestly, so it stays in everyone's tables. The same ring and the same lookups are measured with
// the plain iterative lookup and with lookupDisjoint (three disjoint, checked paths; the answer
// closest after the key wins). A lookup succeeds when it names the key's responsible node.
// Then record fetches: signed name claims held by their honest replicas (liars hold none), fetched
// by a few honest nodes many times each, with ChordNode.get (plain lookup, the holders
// cross-checked, disjoint paths when they hold nothing, suspects avoided from then on) and with
// the plain lookup and a fetch from the first holder that has something (what the engine did
// before). A fetch succeeds when it returns the record.
// Not simulated: liars placing themselves at chosen IDs (node IDs are free today).
import { ID_BITS, idFromHex, type NodeId } from '../../native/wire/overlay/node-id.js';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import type { NodeRef } from '../../native/wire/overlay/messages.js';
import type { OverlayRecord } from '../../native/wire/overlay/record.js';
import { nameRecords, newOwner } from './records.js';
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
  /** Record fetches that returned the record, with get() and with the undefended fetch. */
  fetchSuccess: number;
  fetchSuccessUndefended: number;
  requestsPerFetch: number;
  requestsPerFetchUndefended: number;
  /** Nodes the fetching nodes marked suspect: liars, and honest nodes marked by mistake. */
  suspectsLiars: number;
  suspectsHonest: number;
}

function randomKey(random: () => number): NodeId {
  let k = 0n;
  for (let i = 0; i < ID_BITS / 16; i++) k = (k << 16n) | BigInt(Math.floor(random() * 65536));
  return k;
}

export async function adversarialLookups(options: { seed: number; share: number; nodes?: number; lookups?: number; fetchers?: number; fetchesEach?: number }): Promise<AdversarialResult> {
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
  const fetches = await recordFetches(net, nodes, honest, liars, random, options.fetchers ?? 50, options.fetchesEach ?? 20);
  return {
    nodes: nodes.length,
    malicious: liars.size,
    lookups: queries.length,
    lookupSuccess: Number(defended.success.toFixed(4)),
    lookupSuccessUndefended: Number(undefended.success.toFixed(4)),
    requestsPerLookup: Number(defended.requests.toFixed(2)),
    requestsPerLookupUndefended: Number(undefended.requests.toFixed(2)),
    ...fetches,
  };
}

/**
 * `fetchers` honest nodes fetch `each` records each (a node's suspects accumulate over its own
 * fetches, as in use). Each record is held by the honest nodes of its replica set.
 */
async function recordFetches(net: SimNetwork, nodes: ChordNode[], honest: ChordNode[], liars: Set<ChordNode>, random: () => number, fetchers: number, each: number) {
  const truth = new RingOracle(nodes);
  const byId = new Map(nodes.map((n) => [n.self.id, n]));
  const records = nameRecords(newOwner(), fetchers * each, net.overlay, net.scheduler.now + 24 * 3600_000, 'fetched');
  for (const r of records) {
    for (const holder of truth.replicaSet(idFromHex(r.key)!, net.config.replicas)) {
      const node = byId.get(holder.id)!;
      if (!liars.has(node) && !node.store.put(r).ok) throw new Error(`the simulation could not place ${r.key}`);
    }
  }
  const from = Array.from({ length: fetchers }, () => honest[Math.floor(random() * honest.length)]);
  const plan = records.map((record, i) => ({ from: from[i % fetchers], record }));
  const has = (got: OverlayRecord[], record: OverlayRecord) => got.some((r) => r.sig === record.sig);
  // What the engine did before: a plain lookup, then the first holder with any answer.
  const plainFetch = async (node: ChordNode, record: OverlayRecord) => {
    const found = await node.lookup(idFromHex(record.key)!);
    for (const holder of [found.node, ...found.successors].slice(0, net.config.replicas)) {
      const got = await node.handleRemote(holder, 'fetch', { key: record.key }).catch(() => undefined);
      if (got?.records.length) return got.records;
    }
    return [];
  };
  const run = async (defended: boolean) => {
    const sentBefore = net.messages;
    let right = 0;
    for (const q of plan) {
      try {
        const got = await net.scheduler.until(defended ? q.from.get(idFromHex(q.record.key)!) : plainFetch(q.from, q.record));
        if (has(got, q.record)) right++;
      } catch {
        // a failed fetch is not a success
      }
    }
    return { success: right / plan.length, requests: (net.messages - sentBefore) / 2 / plan.length };
  };
  const undefended = await run(false);
  const defended = await run(true);
  const liarIds = new Set([...liars].map((n) => n.self.id));
  const marked = new Set(from.flatMap((n) => n.suspects().map((s) => s.node.id)));
  return {
    fetchSuccess: Number(defended.success.toFixed(4)),
    fetchSuccessUndefended: Number(undefended.success.toFixed(4)),
    requestsPerFetch: Number(defended.requests.toFixed(2)),
    requestsPerFetchUndefended: Number(undefended.requests.toFixed(2)),
    suspectsLiars: [...marked].filter((id) => liarIds.has(id)).length,
    suspectsHonest: [...marked].filter((id) => !liarIds.has(id)).length,
  };
}
