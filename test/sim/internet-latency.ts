// A latency model for the simulator drawn from published Internet measurements, with the
// geometry that proximity neighbour selection relies on.
//
// Shape (Vivaldi, Dabek, Cox, Kaashoek, Morris, SIGCOMM 2004): the King data set's RTTs among
// 1740 DNS servers embed in "a 2-dimensional Euclidean model with height vectors" with a median
// relative error of 11%. So each node gets a point in a plane (the wide-area core, where
// distance is propagation delay) and a height (its access link: the last hop's queueing and
// serialisation, added to every path through it, which the plane cannot express):
//
//   rtt(a, b) = |pos(a) - pos(b)| + height(a) + height(b)
//
// This satisfies the triangle inequality, so a node near A and near B is near both, as on the
// Internet (where violations exist but are a minority).
//
// Parameters: points are drawn from four regions (North America, Europe, Asia, the rest), in
// proportions that lean North American as King-era DNS server sets did, each a Gaussian spread
// around its centre. Centre distances (RTT, ms): North America-Europe 70, North America-Asia
// ~114, Europe-Asia ~160, the rest 124-234; within a region a few tens of ms. Heights are
// lognormal (median 4 ms, sigma 0.8) with 3% slow access links (80-400 ms: DSL interleaving,
// satellite, congested last miles; the King paper (Gummadi, Saroiu, Gribble, IMW 2002) notes
// that such last hops are what its DNS-server estimates do not see).
//
// The fit: the target is the shape the King data set is described by: a median RTT of about
// 60-80 ms, most pairs under 200 ms, a tail to several hundred ms; and PlanetLab all-pairs
// measurements (Valadao, Guedes, Duarte 2010, arXiv 1202.2153: 81 nodes over ten days, mean RTT
// below 500 ms for more than 99% of pairs, RTTs best fitted by a Gamma distribution). The
// published CDFs themselves could not be read where this was written (no network), so the
// median target is the commonly quoted figure, not a quantile fitted point by point. What the
// model gives (1,000 nodes, seeds 1-2): median 75-77 ms, p10 ~27 ms, p90 172-180 ms, p99
// 422-434 ms, longest ~800-900 ms; rttQuantiles() recomputes it, and the benchmark writes it to
// bench/results/overlay.json (simulator.latency.rtt).
import { seededRandom } from '../support/random.js';

export interface InternetLatencyOptions {
  /** Positions are a pure function of (seed, address): the same seed gives the same network. */
  seed?: number;
  /** Each message's one-way delay is the pair's RTT / 2 times (1 + jitter * u), u uniform in [0, 1). */
  jitter?: number;
}

interface Region {
  name: string;
  share: number;
  /** Centre in the plane, in ms of RTT. */
  x: number;
  y: number;
  /** Standard deviation of the Gaussian spread around the centre, per axis, in ms. */
  spread: number;
}

const REGIONS: Region[] = [
  { name: 'north-america', share: 0.62, x: 0, y: 0, spread: 17 },
  { name: 'europe', share: 0.21, x: 70, y: 0, spread: 11 },
  { name: 'asia', share: 0.11, x: -55, y: 100, spread: 18 },
  { name: 'elsewhere', share: 0.06, x: 30, y: -120, spread: 30 },
];

/** Access links: lognormal (median, sigma of ln) for most; a share of slow links, uniform in [min, max). */
const ACCESS = { medianMs: 4, sigma: 0.8, slowShare: 0.03, slowMinMs: 80, slowMaxMs: 400 };

export interface Position {
  x: number;
  y: number;
  height: number;
  region: string;
}

export class InternetLatencyModel {
  private readonly positions = new Map<string, Position>();
  private readonly seed: number;
  private readonly jitter: number;

  constructor(options: InternetLatencyOptions = {}) {
    this.seed = options.seed ?? 1;
    this.jitter = options.jitter ?? 0;
  }

  /** Where a node sits: drawn once from (seed, address), whatever order nodes are asked about. */
  positionOf(address: string): Position {
    let p = this.positions.get(address);
    if (!p) {
      p = drawPosition(seededRandom(hash32(`${this.seed}|${address}`)));
      this.positions.set(address, p);
    }
    return p;
  }

  /** Round-trip time between two addresses, in ms (symmetric, no jitter). */
  rtt(a: string, b: string): number {
    if (a === b) return 0;
    const pa = this.positionOf(a);
    const pb = this.positionOf(b);
    return Math.hypot(pa.x - pb.x, pa.y - pb.y) + (pa.height + pb.height);
  }

  /** One message's delay from `from` to `to`, in ms. */
  oneWay(from: string, to: string, random: () => number): number {
    const base = this.rtt(from, to) / 2;
    return this.jitter > 0 ? base * (1 + this.jitter * random()) : base;
  }
}

function drawPosition(random: () => number): Position {
  let pick = random();
  let region = REGIONS[REGIONS.length - 1];
  for (const r of REGIONS) {
    if (pick < r.share) {
      region = r;
      break;
    }
    pick -= r.share;
  }
  const [gx, gy] = gaussianPair(random);
  const slow = random() < ACCESS.slowShare;
  const height = slow
    ? ACCESS.slowMinMs + random() * (ACCESS.slowMaxMs - ACCESS.slowMinMs)
    : ACCESS.medianMs * Math.exp(ACCESS.sigma * gaussianPair(random)[0]);
  return { x: region.x + region.spread * gx, y: region.y + region.spread * gy, height, region: region.name };
}

/** Two independent standard normal draws (Box-Muller). */
function gaussianPair(random: () => number): [number, number] {
  const u = 1 - random();
  const v = random();
  const r = Math.sqrt(-2 * Math.log(u));
  return [r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v)];
}

/** FNV-1a, 32 bits: a seed for each address's own random stream. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface RttQuantiles {
  pairs: number;
  meanMs: number;
  p10Ms: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** RTT quantiles over `pairs` random pairs of `nodes` addresses (for documenting the fit and sizing timeouts). */
export function rttQuantiles(model: InternetLatencyModel, addresses: string[], pairs: number, random: () => number): RttQuantiles {
  const rtts: number[] = [];
  while (rtts.length < pairs) {
    const a = addresses[Math.floor(random() * addresses.length)];
    const b = addresses[Math.floor(random() * addresses.length)];
    if (a !== b) rtts.push(model.rtt(a, b));
  }
  rtts.sort((x, y) => x - y);
  const q = (p: number) => Number(rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))].toFixed(1));
  return {
    pairs,
    meanMs: Number((rtts.reduce((s, x) => s + x, 0) / rtts.length).toFixed(1)),
    p10Ms: q(0.1),
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    maxMs: q(1),
  };
}
