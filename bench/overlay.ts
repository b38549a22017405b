// Overlay benchmark in the discrete-event simulator (test/sim): hops per lookup at 100, 1,000
// and 10,000 nodes; lookup success and maintenance bytes under churn; lookups and records after
// a mass failure. Writes bench/results/overlay.json, keeping parts not rerun (--only sim,churn,mass,udp). The udp part runs real node processes
// on loopback (bench/overlay-udp.ts).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ChordConfig, ChordNode } from '../native/proto/overlay/chord-node.js';
import { fraction, fetchable, lookupBatch, probeLookup, type LookupVerdict } from '../test/sim/probes.js';
import { nameRecords, newOwner } from '../test/sim/records.js';
import { installConvergedTables, joinInWaves, mean, percentile, roundsUntilCorrect } from '../test/sim/ring.js';
import { seededRandom, SimNetwork, SIP_OVERHEAD_BYTES } from '../test/sim/sim-network.js';
import { overlayOverUdp } from './overlay-udp.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'sim,churn,mass,udp' },
    'udp-nodes': { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    'churn-minutes': { type: 'string', default: '6' },
    /** Median session times (minutes) of the churn runs. */
    'churn-medians': { type: 'string', default: '1.4,30' },
    /** JSON overriding the churn ChordConfig, for exploring the bytes/success trade-off. */
    'churn-config': { type: 'string' },
    out: { type: 'string', default: 'bench/results/overlay.json' },
  },
});
const parts = new Set(values.only.split(','));
const seed = Number(values.seed);

/**
 * Maintenance for the churn runs. Lookup success needs a fast stabilize (1 s): at 4 s the ring
 * falls behind a 1.4-minute median session time and comes apart (measured: about half the
 * successor pointers wrong after 5 minutes). Fingers matter less and cost a whole lookup each,
 * so one is refreshed every 8 s; the predecessor is pinged every 4 s. A simulated round trip is
 * at most 100 ms, so a request may time out after 500 ms. Each SIP message carries ~420 bytes
 * of headers, so this costs ~3 KB/s per node: above the 900 B/s target, which allows about
 * one request/response pair per node per second (--churn-config explores the trade-off).
 */
const CHURN_CONFIG: Partial<ChordConfig> = {
  stabilizeMs: 1_000,
  fixFingersMs: 8_000,
  checkPredecessorMs: 4_000,
  replicateMs: 30_000,
  requestTimeoutMs: 500,
  ...(values['churn-config'] ? (JSON.parse(values['churn-config']) as Partial<ChordConfig>) : {}),
};

const round = (x: number, digits = 4) => Number(x.toFixed(digits));
const log = (...args: unknown[]) => console.log(`[${(performance.now() / 1000).toFixed(1)}s]`, ...args);

async function simHops(n: number): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 1000 + n);
  const net = new SimNetwork({ random });
  let construction: string;
  if (n <= 1_000) {
    const grown = await joinInWaves(net, n, random);
    // Let fix-fingers sweep the table a few times so routing is as short as it gets.
    await net.scheduler.runFor(30_000);
    construction = `real joins in ${grown.waves} waves`;
  } else {
    const nodes = Array.from({ length: n }, () => net.addNode());
    installConvergedTables(nodes, Math.ceil(Math.log2(n)));
    construction = 'converged-tables';
  }
  const verdicts = await lookupBatch(net, n <= 1_000 ? 2_000 : 5_000, random);
  const hops = verdicts.filter((v) => !v.failed).map((v) => v.hops).sort((a, b) => a - b);
  const result = {
    nodes: n,
    construction,
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
async function churn(medianMinutes: number): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 7 + Math.round(medianMinutes * 10));
  const net = new SimNetwork({ random, config: CHURN_CONFIG });
  const size = 1_000;
  await joinInWaves(net, size, random);
  await net.scheduler.runFor(60_000);
  const meanSessionMs = (medianMinutes * 60_000) / Math.LN2;
  const session = () => -Math.log(1 - random()) * meanSessionMs;
  let departures = 0;
  let joinFailures = 0;
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
    try {
      await node.join(members[Math.floor(random() * members.length)].self);
      scheduleDeparture(node);
    } catch {
      net.kill(node);
      joinFailures++;
      if (attempt < 5) net.scheduler.set(1_000, () => void replace(attempt + 1));
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
  const opBytesBefore = new Map(net.bytesByOp);
  measuring = true;
  await net.scheduler.runFor(measureMs);
  const bytes = net.totalBytes - bytesBefore;
  const byOp = Object.fromEntries([...net.bytesByOp].map(([op, b]) => [op, b - (opBytesBefore.get(op) ?? 0)]));
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
    measuredMinutes: measureMs / 60_000,
    departures: departures - departuresBefore,
    joinFailures,
    lookups: verdicts.length,
    lookupSuccess: round(fraction(verdicts, (v) => v.usable)),
    lookupExact: round(fraction(verdicts, (v) => v.exact)),
    lookupFailed: round(fraction(verdicts, (v) => v.failed)),
    hopsMean: round(mean(hops), 3),
    bytesPerNodePerSec: round(bytes / meanSize / (measureMs / 1000), 1),
    probeBytesPerNodePerSec: round(probeBytes / meanSize / (measureMs / 1000), 1),
    bytesPerNodePerSecByOp: Object.fromEntries(Object.entries(byOp).map(([op, b]) => [op, round(b / meanSize / (measureMs / 1000), 1)])),
  };
  log(`churn ${medianMinutes} min`, result);
  return result;
}

/** A 1,000-node ring holding records loses a fraction of its nodes at once. */
async function massFailure(share: number): Promise<Record<string, unknown>> {
  const random = seededRandom(seed * 13 + Math.round(share * 100));
  const net = new SimNetwork({ random });
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

async function main() {
  const out = path.resolve(values.out);
  const report: Record<string, unknown> = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
  report.generatedAt = new Date().toISOString();
  report.seed = seed;
  report.simulator = {
    latencyMs: 'uniform 10-50 one way',
    loss: 0,
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
  if (parts.has('mass')) report.massFailure = { '0.2': await massFailure(0.2), '0.5': await massFailure(0.5) };
  if (parts.has('udp')) report.udp = await overlayOverUdp({ nodes: Number(values['udp-nodes']), lookups: 500, messages: 200, log });
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), out)}`);
}

await main();
