// Measuring a simulated ring: lookups judged against the oracle, and records fetched back.
import type { ChordNode, LookupResult } from '../../native/proto/overlay/chord-node.js';
import { idFromHex, sha1Id, type NodeId } from '../../native/wire/overlay/node-id.js';
import type { OverlayRecord } from '../../native/wire/overlay/record.js';
import { RingOracle } from './ring.js';
import type { SimNetwork } from './sim-network.js';

export interface LookupVerdict {
  /** The node the lookup named is the responsible one. */
  exact: boolean;
  /**
   * The first node that answers among the one named and the successors it listed (what put and
   * get try, in that order) is the responsible one.
   */
  usable: boolean;
  hops: number;
  failed: boolean;
}

const oracles = new WeakMap<SimNetwork, { at: number; events: number; oracle: RingOracle }>();

/** The oracle for the ring as it is now (membership only changes when an event fires). */
function currentOracle(net: SimNetwork): RingOracle {
  const cached = oracles.get(net);
  if (cached && cached.at === net.scheduler.now && cached.events === net.scheduler.events) return cached.oracle;
  const oracle = new RingOracle(net.members());
  oracles.set(net, { at: net.scheduler.now, events: net.scheduler.events, oracle });
  return oracle;
}

/** Judges a finished lookup against the ring as it is now. */
export function judge(net: SimNetwork, key: NodeId, found: LookupResult): LookupVerdict {
  const oracle = currentOracle(net);
  const right = oracle.responsible(key).id;
  const installed = net.live().length === 0;
  const answering = [found.node, ...found.successors].find((n) => {
    const node = net.nodes.get(`${n.host}:${n.port}`);
    return node !== undefined && (node.joined || installed);
  });
  return { exact: found.node.id === right, usable: answering?.id === right, hops: found.hops, failed: false };
}

/** Starts a lookup of a random key from `from`; resolves with its verdict (or undefined if `from` died meanwhile). */
export function probeLookup(net: SimNetwork, from: ChordNode, random: () => number): Promise<LookupVerdict | undefined> {
  const key = sha1Id(`probe-${random()}`);
  const stillThere = () => net.nodes.get(`${from.self.host}:${from.self.port}`) === from;
  return from.lookup(key).then(
    (found) => (stillThere() ? judge(net, key, found) : undefined),
    () => (stillThere() ? { exact: false, usable: false, hops: -1, failed: true } : undefined),
  );
}

/** `count` lookups from random live nodes, `concurrency` at a time. */
export async function lookupBatch(net: SimNetwork, count: number, random: () => number, concurrency = 200): Promise<LookupVerdict[]> {
  const verdicts: LookupVerdict[] = [];
  for (let done = 0; done < count; done += concurrency) {
    const nodes = net.members();
    const batch = Array.from({ length: Math.min(concurrency, count - done) }, () => probeLookup(net, nodes[Math.floor(random() * nodes.length)], random));
    for (const v of await net.scheduler.until(Promise.all(batch))) if (v) verdicts.push(v);
  }
  return verdicts;
}

/** Fraction of verdicts for which `pick` holds. */
export function fraction(verdicts: LookupVerdict[], pick: (v: LookupVerdict) => boolean): number {
  return verdicts.length ? verdicts.filter(pick).length / verdicts.length : NaN;
}

/** Fetches every record back from random live nodes; returns how many came back intact. */
export async function fetchable(net: SimNetwork, records: OverlayRecord[], random: () => number, concurrency = 200): Promise<number> {
  let found = 0;
  for (let i = 0; i < records.length; i += concurrency) {
    const nodes = net.live();
    const batch = records.slice(i, i + concurrency).map((record) =>
      nodes[Math.floor(random() * nodes.length)].get(idFromHex(record.key)!, record.type).then(
        (got) => got.some((r) => r.sig === record.sig),
        () => false,
      ),
    );
    found += (await net.scheduler.until(Promise.all(batch))).filter(Boolean).length;
  }
  return found;
}
