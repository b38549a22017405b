// Lookup stretch: how much longer a lookup takes than talking to the responsible node directly.
// For proximity neighbour selection, measured the way Dabek et al. ("Designing a DHT for low
// latency and high throughput", NSDI 2004) measure it: lookup latency over the direct RTT.
//
// A lookup's latency is what the querier waits: the round trips of its iterative hops, as they
// happen (timeouts included), from its call to lookup() until the answer; plus the final
// exchange with the node the lookup named (the store/fetch the lookup was for). The stretch is
// that over the direct RTT between querier and named node:
//
//   stretch = (lookup time + rtt(querier, named)) / rtt(querier, named)
//
// So a lookup answered from the querier's own table (0 hops) has stretch 1. Lookups that name
// the querier itself have no direct RTT and are left out; failed lookups are counted apart.
import { sha1Id } from '../../native/wire/overlay/node-id.js';
import { mean, percentile } from './ring.js';
import type { SimNetwork } from './sim-network.js';

export interface StretchSample {
  stretch: number;
  lookupMs: number;
  directRttMs: number;
  hops: number;
}

export interface StretchResult {
  lookups: number;
  failed: number;
  /** Lookups that named the querier itself (no direct RTT to divide by). */
  local: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  lookupMsP50: number;
  lookupMsP99: number;
  directRttMsP50: number;
  hopsMean: number;
  samples: StretchSample[];
}

/**
 * Runs `count` lookups of random keys from random members, `concurrency` at a time, and returns
 * the stretch distribution. The network should have a latency model (SimNetworkOptions
 * .latencyModel): with the default uniform latency there is no geometry to be near to.
 */
export async function measureStretch(net: SimNetwork, count: number, random: () => number, concurrency = 100): Promise<StretchResult> {
  const samples: StretchSample[] = [];
  let failed = 0;
  let local = 0;
  for (let done = 0; done < count; done += concurrency) {
    const nodes = net.members();
    const batch = Array.from({ length: Math.min(concurrency, count - done) }, () => {
      const from = nodes[Math.floor(random() * nodes.length)];
      const key = sha1Id(`stretch-${random()}`);
      const startedAt = net.scheduler.now;
      return from.lookup(key).then(
        (found) => {
          const lookupMs = net.scheduler.now - startedAt;
          if (found.node.id === from.self.id) {
            local++;
            return;
          }
          const directRttMs = net.rtt(from.self, found.node);
          samples.push({ stretch: (lookupMs + directRttMs) / directRttMs, lookupMs, directRttMs, hops: found.hops });
        },
        () => {
          failed++;
        },
      );
    });
    await net.scheduler.until(Promise.all(batch));
  }
  const sorted = (pick: (s: StretchSample) => number) => samples.map(pick).sort((a, b) => a - b);
  const stretch = sorted((s) => s.stretch);
  const lookupMs = sorted((s) => s.lookupMs);
  const r2 = (x: number) => Number(x.toFixed(2));
  return {
    lookups: samples.length,
    failed,
    local,
    p50: r2(percentile(stretch, 50)),
    p90: r2(percentile(stretch, 90)),
    p99: r2(percentile(stretch, 99)),
    mean: r2(mean(stretch)),
    lookupMsP50: r2(percentile(lookupMs, 50)),
    lookupMsP99: r2(percentile(lookupMs, 99)),
    directRttMsP50: r2(percentile(sorted((s) => s.directRttMs), 50)),
    hopsMean: Number(mean(samples.map((s) => s.hops)).toFixed(3)),
    samples,
  };
}
