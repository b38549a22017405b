// Overlay benchmark in the discrete-event simulator (test/sim): hops per lookup at 100, 1,000
// and 10,000 nodes (rings grown by real joins); lookup success and maintenance bytes under churn,
// without and with random message loss; lookup stretch; lookups and records after a mass
// failure. Every simulated part runs on the Internet latency model (test/sim/internet-latency.ts).
// Writes bench/results/overlay.json, keeping parts not rerun (--only sim,churn,loss,stretch,mass,udp,adversarial,sybil,floodSurvival).
// The sybil part measures what the ID puzzle costs honest nodes and attackers (bench/sybil.ts).
// The udp part runs real node processes on loopback (bench/overlay-udp.ts), and so does
// floodSurvival (bench/flood-survival.ts: junk one node absorbs while its call keeps its audio).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LookupError, OverlayRequestError, type ChordConfig, type ChordNode } from '../native/proto/overlay/chord-node.js';
import { fraction, fetchable, lookupBatch, probeLookup, type LookupVerdict } from '../test/sim/probes.js';
import { nameRecords, newOwner } from '../test/sim/records.js';
import { InternetLatencyModel, rttQuantiles } from '../test/sim/internet-latency.js';
import { joinInWaves, mean, percentile, roundsUntilCorrect } from '../test/sim/ring.js';
import { seededRandom, SimNetwork, SIP_OVERHEAD_BYTES } from '../test/sim/sim-network.js';
import { measureStretch } from '../test/sim/stretch.js';
import { overlayOverUdp } from './overlay-udp.js';
import { adversarialLookups } from '../test/sim/liars.js';
import { floodSurvival } from './flood-survival.js';
import { sybilCost } from './sybil.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'sim,churn,loss,stretch,mass,udp,adversarial,sybil,floodSurvival' },
    'udp-nodes': { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    'churn-minutes': { type: 'string', default: '6' },
    /** Median session times (minutes) of the churn runs. */
    'churn-medians': { type: 'string', default: '1.4,30' },
    /** Message loss rates of the 1.4-minute churn runs reported under churnLoss. */
    'churn-losses': { type: 'string', default: '0.01,0.05' },
    'stretch-lookups': { type: 'string', default: '2000' },
    /** Resend unanswered requests as SIP over UDP does (Timer E) in the churn runs: on or off. */
    'sip-retransmit': { type: 'string', default: 'on' },
    /** JSON overriding the churn ChordConfig, for exploring the bytes/success trade-off. */
    'churn-config': { type: 'string' },
    out: { type: 'string', default: 'bench/results/overlay.json' },
    /** floodSurvival's junk rates (datagrams a second), tried in turn until the call fails. */
    'flood-rates': { type: 'string', default: '1000,2000,5000,10000,20000,40000,80000,160000' },
    'flood-step-s': { type: 'string', default: '10' },
  },
});
const parts = new Set(values.only.split(','));
const seed = Number(values.seed);
/** One geography for every part: a node's place depends only on the seed and its address. */
const latencyModel = new InternetLatencyModel({ seed });
/**
 * The engine sends overlay requests as SIP non-INVITE transactions, over UDP with Timer E
 * resending them (RFC 3261 17.1.2.2): the churn runs model that, so a lost message costs a
 * 500 ms resend, not a request timeout and a neighbour dropped as dead.
 */
const retransmit = values['sip-retransmit'] !== 'off';

/**
 * Maintenance for the churn runs. Lookup success needs a fast stabilize (1 s): at 4 s the ring
 * falls behind a 1.4-minute median session time and comes apart (measured: about half the
 * successor pointers wrong after 5 minutes). Fingers matter less and cost a whole lookup each,
 * so one is refreshed every 8 s; the predecessor is pinged every 4 s. The request timeout is
 * 1 s: about twice the Internet model's p99 RTT (~430 ms; its longest pairs, two slow access
 * links far apart, reach ~900 ms). At 500 ms (enough for the old uniform 20-100 ms round trips)
 * the slowest pairs always time out, their nodes are dropped as dead by the nodes they cannot
 * answer in time, and lookups at a 1.4-minute median fall to 78% (3 measured minutes, seed 1;
 * 334 timeouts of live nodes whose answer was on its way); at 1 s, 99.35% and none; at 1.5 s,
 * 98.9% (dead hops cost more). Each SIP message carries ~420 bytes
 * of headers, so this costs ~3 KB/s per node: above the 900 B/s target, which allows about
 * one request/response pair per node per second (--churn-config explores the trade-off).
 */
const CHURN_CONFIG: Partial<ChordConfig> = {
  stabilizeMs: 1_000,
  fixFingersMs: 8_000,
  checkPredecessorMs: 4_000,
  replicateMs: 30_000,
  requestTimeoutMs: 1_000,
  ...(values['churn-config'] ? (JSON.parse(values['churn-config']) as Partial<ChordConfig>) : {}),
};

const round = (x: number, digits = 4) => Number(x.toFixed(digits));
const log = (...args: unknown[]) => console.log(`[${(performance.now() / 1000).toFixed(1)}s]`, ...args);

async function simHops(n: number): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 1000 + n);
  const net = new SimNetwork({ random, latencyModel });
  const startedAt = performance.now();
  const grown = await joinInWaves(net, n, random);
  const joinedAt = performance.now();
  const joinedSimMs = net.scheduler.now;
  // Let fix-fingers sweep the table a few times so routing is as short as it gets.
  await net.scheduler.runFor(30_000);
  const verdicts = await lookupBatch(net, n <= 1_000 ? 2_000 : 5_000, random);
  const hops = verdicts.filter((v) => !v.failed).map((v) => v.hops).sort((a, b) => a - b);
  const result = {
    nodes: n,
    construction: 'real joins',
    waves: grown.waves,
    joinFailures: grown.joinFailures,
    settleRoundsMax: Math.max(...grown.settleRounds.map((r) => r ?? Infinity)),
    joinWallSeconds: round((joinedAt - startedAt) / 1000, 1),
    joinSimulatedSeconds: round(joinedSimMs / 1000, 1),
    lookups: verdicts.length,
    hopsMean: round(mean(hops), 3),
    hopsP99: percentile(hops, 99),
    hopsMax: hops.at(-1),
    target: round(0.5 * Math.log2(n) + 1, 3),
    lookupsExact: round(fraction(verdicts, (v) => v.exact)),
  };
  log(`sim ${n}`, result);
  return result;
}

/**
 * 1,000 nodes whose sessions last an exponential time of the given median; each departure (a
 * crash: no leave message) is replaced at once by a new node joining through a random member.
 * Random nodes look random keys up throughout; bytes are counted over the measured window.
 */
async function churn(medianMinutes: number, loss = 0): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 7 + Math.round(medianMinutes * 10) + Math.round(loss * 1000));
  const net = new SimNetwork({ random, config: CHURN_CONFIG, latencyModel, loss, retransmit });
  const size = 1_000;
  await joinInWaves(net, size, random);
  await net.scheduler.runFor(60_000);
  const meanSessionMs = (medianMinutes * 60_000) / Math.LN2;
  const session = () => -Math.log(1 - random()) * meanSessionMs;
  let departures = 0;
  let joinFailures = 0;
  let joinsLost = 0;
  const joinFailureReasons = new Map<string, number>();
  /** Why a join failed: its bootstrap died under it, a later hop timed out, or the lookup went astray. */
  const joinFailureReason = (error: unknown, bootstrap: ChordNode): string => {
    if (!bootstrap.joined) return 'bootstrap-died';
    if (error instanceof OverlayRequestError) return `bootstrap-${error.kind}`;
    if (error instanceof LookupError) return /itself/.test(error.message) ? 'named-itself' : 'too-many-steps';
    return 'other';
  };
  const scheduleDeparture = (node: ChordNode) => {
    net.scheduler.set(session(), () => {
      if (!node.joined) return;
      net.kill(node);
      departures++;
      void replace();
    });
  };
  const replace = async (attempt = 0): Promise<void> => {
    const members = net.live();
    const node = net.addNode();
    const bootstrap = members[Math.floor(random() * members.length)];
    try {
      await node.join(bootstrap.self);
      scheduleDeparture(node);
    } catch (error) {
      net.kill(node);
      joinFailures++;
      const reason = joinFailureReason(error, bootstrap);
      joinFailureReasons.set(reason, (joinFailureReasons.get(reason) ?? 0) + 1);
      // A failed join is tried again a second later, as a user's node would; one that fails 5 times is lost.
      if (attempt < 5) net.scheduler.set(1_000, () => void replace(attempt + 1));
      else joinsLost++;
    }
  };
  for (const node of net.live()) scheduleDeparture(node);

  const warmupMs = 2 * 60_000;
  const measureMs = Number(values['churn-minutes']) * 60_000;
  const lookupEveryMs = 100;
  const verdicts: LookupVerdict[] = [];
  let measuring = false;
  let sizeSamples = 0;
  let sizeSum = 0;
  const tick = () => {
    if (measuring) {
      const nodes = net.live();
      sizeSum += nodes.length;
      sizeSamples++;
      void probeLookup(net, nodes[Math.floor(random() * nodes.length)], random).then((v) => v && measuring && verdicts.push(v));
    }
    net.scheduler.set(lookupEveryMs, tick);
  };
  tick();
  await net.scheduler.runFor(warmupMs);
  const bytesBefore = net.totalBytes;
  const departuresBefore = departures;
  const joinFailuresBefore = joinFailures;
  const timeoutsBefore = { all: net.timeouts, late: net.lateTimeouts };
  const opBytesBefore = new Map(net.bytesByOp);
  measuring = true;
  await net.scheduler.runFor(measureMs);
  const bytes = net.totalBytes - bytesBefore;
  const byOp = Object.fromEntries([...net.bytesByOp].map(([op, b]) => [op, b - (opBytesBefore.get(op) ?? 0)]));
  const timeouts = net.timeouts - timeoutsBefore.all;
  const lateTimeouts = net.lateTimeouts - timeoutsBefore.late;
  const meanSize = sizeSum / sizeSamples;
  // Let lookups still in flight finish (they are judged when they do).
  await net.scheduler.runFor(10_000);
  measuring = false;
  const hops = verdicts.filter((v) => !v.failed).map((v) => v.hops).sort((a, b) => a - b);
  // The probe lookups themselves travel the overlay; their share of the bytes is small but is
  // estimated here (one find-closest exchange per hop) so it can be told apart from maintenance.
  const probeBytes = hops.reduce((a, h) => a + h, 0) * (2 * SIP_OVERHEAD_BYTES + 250);
  const result = {
    nodes: size,
    meanNodes: round(meanSize, 1),
    medianSessionMinutes: medianMinutes,
    loss,
    sipRetransmit: retransmit,
    measuredMinutes: measureMs / 60_000,
    departures: departures - departuresBefore,
    joinFailures,
    joinsLost,
    joinFailuresMeasured: joinFailures - joinFailuresBefore,
    joinFailuresByReason: Object.fromEntries(joinFailureReasons),
    lookups: verdicts.length,
    lookupSuccess: round(fraction(verdicts, (v) => v.usable)),
    lookupExact: round(fraction(verdicts, (v) => v.exact)),
    lookupFailed: round(fraction(verdicts, (v) => v.failed)),
    hopsMean: round(mean(hops), 3),
    bytesPerNodePerSec: round(bytes / meanSize / (measureMs / 1000), 1),
    probeBytesPerNodePerSec: round(probeBytes / meanSize / (measureMs / 1000), 1),
    bytesByOperation: Object.fromEntries(Object.entries(byOp).map(([op, b]) => [op, round(b / meanSize / (measureMs / 1000), 1)])),
    // Requests that timed out in the measured window, and those of them whose answer was only
    // late (neither message lost, the node up): the request timeout against the latency model.
    requestTimeouts: timeouts,
    lateTimeouts,
  };
  log(`churn ${medianMinutes} min, loss ${loss}`, result);
  return result;
}

/** A 1,000-node ring holding records loses a fraction of its nodes at once. */
async function massFailure(share: number): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 13 + Math.round(share * 100));
  const net = new SimNetwork({ random, latencyModel });
  await joinInWaves(net, 1_000, random);
  await net.scheduler.runFor(30_000);
  const records = nameRecords(newOwner(), 1_000, net.overlay, 24 * 3_600_000);
  const writers = net.live();
  await net.scheduler.until(Promise.all(records.map((r, i) => writers[i % writers.length].put([r]).catch(() => undefined))));
  await net.scheduler.runFor(net.config.replicateMs);

  const nodes = net.live();
  const victims = new Set<ChordNode>();
  while (victims.size < Math.round(nodes.length * share)) victims.add(nodes[Math.floor(random() * nodes.length)]);
  for (const v of victims) net.kill(v);

  const immediately = await lookupBatch(net, 1_000, random, 1_000);
  const startedAt = net.scheduler.now;
  await net.scheduler.runFor(Math.max(0, startedAt + net.config.stabilizeMs - net.scheduler.now));
  const afterOnePeriod = await lookupBatch(net, 1_000, random, 1_000);
  const rounds = await roundsUntilCorrect(net, 120);
  const stabilizedAtMs = net.scheduler.now - startedAt;
  // Re-replication, and a fix-fingers sweep so lookups no longer stumble over dead fingers.
  await net.scheduler.runFor(net.config.replicateMs + 30 * net.config.fixFingersMs);
  const afterStabilize = await lookupBatch(net, 1_000, random, 1_000);
  const found = await fetchable(net, records, random);
  const result = {
    nodes: nodes.length,
    failed: victims.size,
    successImmediately: round(fraction(immediately, (v) => v.usable)),
    exactImmediately: round(fraction(immediately, (v) => v.exact)),
    successAfterOnePeriod: round(fraction(afterOnePeriod, (v) => v.usable)),
    successAfterStabilize: round(fraction(afterStabilize, (v) => v.usable)),
    stabilizeRounds: rounds ?? 'not within 120',
    // Checked only after the two lookup batches above, so an upper bound.
    ringCorrectByMs: Math.round(stabilizedAtMs),
    records: records.length,
    recordsLost: round(1 - found / records.length),
    recordsLostIfIndependent: round(share ** 3),
  };
  log(`mass failure ${share}`, result);
  return result;
}

/**
 * Lookup stretch on a 1,000-node ring grown by real joins: lookup time plus the final exchange,
 * over the direct RTT to the node the lookup names (test/sim/stretch.ts). Run twice on the same
 * seed, with proximity neighbour selection (the top-level figures) and without (`withoutProximity`).
 */
async function stretch(): Promise<Record<string, unknown>> {
  const run = async (proximity: boolean) => {
    const random = seededRandom(seed * 17 + 1);
    const net = new SimNetwork({ random, latencyModel, config: { proximity } });
    await joinInWaves(net, 1_000, random);
    await net.scheduler.runFor(30_000);
    const { samples, ...figures } = await measureStretch(net, Number(values['stretch-lookups']), random);
    void samples;
    return figures;
  };
  const without = await run(false);
  const result = {
    nodes: 1_000,
    construction: 'real joins',
    proximity: `fingers: of the node responsible for the finger's start and up to 7 after it in the finger's interval, the one with the lowest measured RTT`,
    ...(await run(true)),
    withoutProximity: without,
    target: { p50: 2.5 },
  };
  log('stretch', result);
  return result;
}

async function main() {
  const out = path.resolve(values.out);
  const report: Record<string, unknown> = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
  report.generatedAt = new Date().toISOString();
  report.seed = seed;
  report.simulator = {
    latency: {
      model: 'internet: 2-D plane of four regions + per-node access-link height, rtt = distance + height(a) + height(b), one way = rtt / 2 (test/sim/internet-latency.ts; shaped after the quoted figures of the King data set, see docs/overlay-simulation.md)',
      seed,
      rtt: rttQuantiles(latencyModel, Array.from({ length: 1_000 }, (_, i) => `sim:${i + 1}`), 100_000, seededRandom(seed)),
      usedBy: 'sim, churn, churnLoss, stretch, massFailure',
    },
    loss: 'churnLoss: per message (request or response), independently; 0 elsewhere',
    sipRetransmit: retransmit ? 'churn, churnLoss: unanswered requests resent at 500 ms, 1 s, ... (RFC 3261 Timer E) until the request timeout; resent requests answered with the response already sent' : 'off',
    sipOverheadBytes: SIP_OVERHEAD_BYTES,
    routing: 'iterative',
    defaultConfigFor: 'sim, massFailure',
    churnConfig: CHURN_CONFIG,
    lookupSuccess: 'the first answering node among the one a lookup names and the successors it lists (what put/get try) is the responsible live node per the sorted-ID oracle; lookups whose querier died are not counted',
  };
  if (parts.has('sim')) {
    const sim: Record<string, unknown> = {};
    for (const n of [100, 1_000, 10_000]) sim[String(n)] = await simHops(n);
    report.sim = sim;
  }
  if (parts.has('churn')) {
    report.churn = {};
    for (const median of values['churn-medians'].split(',').map(Number)) (report.churn as Record<string, unknown>)[`${median}min`] = await churn(median);
  }
  if (parts.has('loss')) {
    report.churnLoss = {};
    for (const loss of values['churn-losses'].split(',')) (report.churnLoss as Record<string, unknown>)[loss] = await churn(1.4, Number(loss));
  }
  if (parts.has('stretch')) report.stretch = await stretch();
  if (parts.has('mass')) report.massFailure = { '0.2': await massFailure(0.2), '0.5': await massFailure(0.5) };
  if (parts.has('adversarial')) {
    const adversarial: Record<string, unknown> = {
      model: 'liars answer every lookup step "done", naming the liar closest after the key; they hold no records; otherwise honest. Converged 1,000-node ring, 1,000 lookups from honest nodes, the same lookups with lookup() (undefended) and lookupDisjoint() (6 disjoint checked paths, closest answer after the key wins). Then fetches: 1,000 signed records held by the honest nodes of their replica sets, fetched 20 each by 50 honest nodes, with get() (plain lookup, holders cross-checked, disjoint paths when they hold nothing, suspects avoided) and undefended (plain lookup, first holder with an answer). Liars placing themselves at chosen IDs not simulated.',
      target: { '0.2': 0.99, '0.3': 0.95 },
    };
    for (const share of [0.1, 0.2, 0.3]) {
      adversarial[String(share)] = await adversarialLookups({ seed, share });
      log(`adversarial ${share}`, adversarial[String(share)]);
    }
    report.adversarial = adversarial;
  }
  if (parts.has('sybil')) report.sybil = await sybilCost({ seed, log });
  if (parts.has('floodSurvival')) report.floodSurvival = await floodSurvival({ rates: values['flood-rates'].split(',').map(Number), stepS: Number(values['flood-step-s']), log });
  if (parts.has('udp')) report.udp = await overlayOverUdp({ nodes: Number(values['udp-nodes']), lookups: 500, messages: 200, log });
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), out)}`);
}

await main();
