// The report bench:rescue writes (bench/results/rescue.json): every K's ramp, the spike, the
// loopback figures, and the headline ratios against their targets. Its keys are read by other
// tools: keep them.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OriginView } from '../native/services/rescue/rescue-view.js';
import { dnsTarget, type DnsRoundRobinFigures } from './rescue-dns.js';
import type { PhaseResult } from './rescue-load.js';
import type { Site } from './rescue-nginx.js';
import type { Peerdial, WrkResult } from './rescue-processes.js';
import type { Ramp, StepRecord } from './rescue-ramp.js';
import { CAP_MBIT, flags, GROWTH, KS, log, OUT, PASS, PER_K_MS, REPO, round, started, STEP_S, TIMEOUT_MS } from './rescue-run.js';

export interface KRun {
  k: number;
  ramp: Ramp;
  startupSeconds: number;
  spike?: SpikeResult;
  originQdisc?: { sentMB: number; dropped: number };
  rescuerUrls: string[];
  notes: string[];
  /** peerdial processes that exited unasked during this K, with their last lines. */
  crashes: NonNullable<Peerdial['crash']>[];
}

export interface SpikeResult {
  lowRps: number;
  highRps: number;
  seconds: number;
  engageSeconds?: number;
  originStateBefore?: string;
  low: StepRecord;
  high: StepRecord;
  /** Per second of the spike: due, ok, redirected. */
  timeline: PhaseResult['timeline'];
  /** The origin's own log over the spike, seconds from the spike's start (same clock: one machine). */
  originLog: Array<{ t: number; text: string }>;
}

export function originSummary(view: OriginView): NonNullable<StepRecord['origin']> {
  const active = view.rescuers.filter((r) => r.state === 'active');
  return {
    state: view.state,
    load: round(view.load),
    redirectProbability: round(view.redirectProbability),
    egressMbps: round(view.egressMbps, 1),
    activeRescuers: active.length,
    allowedRps: round(active.reduce((a, r) => a + r.allowedRps, 0), 0),
    maxRps: round(active.reduce((a, r) => a + (r.maxRps ?? r.allowedRps), 0), 0),
    fromReserve: view.totals.fromReserve ?? 0,
  };
}


/** What the loopback part measured (bench/rescue.ts loopbackPart). */
export interface LoopbackFigures {
  ceiling?: { maxRps: number; maxMbps: number; failedAtRps?: number; cpuCoresAtMax?: number; steps: StepRecord[] };
  nginx?: WrkResult;
  cacheHit?: WrkResult;
  rescueUrl?: string;
  notes: string[];
}

/** bench/rescue-trusted.ts's two scenarios. */
export interface TrustedFigures {
  dynamic?: { improvementAt10: number | null };
  httpsTrusted?: { improvementAt10: number | null };
}

function trustedKeys(trusted: TrustedFigures) {
  const at = new Date().toISOString();
  return {
    ...(trusted.dynamic ? { dynamic: { ...trusted.dynamic, at } } : {}),
    ...(trusted.httpsTrusted ? { httpsTrusted: { ...trusted.httpsTrusted, at } } : {}),
  };
}

/** --trusted-only: the two trusted keys written into the existing report; every other key is kept as it was. */
export async function mergeTrustedReport(trusted: TrustedFigures): Promise<void> {
  const file = path.resolve(REPO, OUT ?? 'bench/results/rescue.json');
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    log(`no report at ${file} yet: writing the trusted keys alone`);
  }
  const text = JSON.stringify({ ...report, ...trustedKeys(trusted) }, null, 2) + '\n';
  await writeFile(file, text);
  log(`merged ${Object.keys(trusted).join(' and ')} into ${path.relative(REPO, file)}`);
  console.log(JSON.stringify({ dynamic: trusted.dynamic?.improvementAt10, httpsTrusted: trusted.httpsTrusted?.improvementAt10 }));
}

/** Writes the report (to OUT unless --calibrate left it out) and prints it. */
export async function writeReport(input: {
  site: Site;
  meanBytes: number;
  maxK: number;
  maxRps: Record<string, number>;
  maxMbps: Record<string, number>;
  engage: SpikeResult | undefined;
  calibration: Record<string, unknown> | undefined;
  kRuns: KRun[];
  loop: LoopbackFigures;
  /** DNS round robin (bench/rescue-dns.ts), when it ran. */
  dns?: DnsRoundRobinFigures;
  trusted?: TrustedFigures;
}): Promise<void> {
  const { site, meanBytes, maxK, maxRps, maxMbps, engage, calibration, kRuns, loop, dns, trusted } = input;
  const k0 = maxRps['0'];
  const kMax = String(maxK);
  const improvementAt10 = k0 && maxRps['10'] !== undefined ? round(maxRps['10'] / k0) : undefined;
  const linearity: Record<string, number> = {};
  for (const k of KS) if (k > 0 && k0) linearity[String(k)] = round(maxRps[String(k)] / ((k + 1) * k0));
  const linearityMin = Object.keys(linearity).length ? Math.min(...Object.values(linearity)) : undefined;
  const engageSeconds = engage?.engageSeconds;
  const cacheHitVsNginx = loop.cacheHit && loop.nginx ? round(loop.cacheHit.okRps / loop.nginx.okRps) : undefined;
  const target = (value: number | undefined, goal: number, better: 'higher' | 'lower') => ({
    target: better === 'higher' ? `>= ${goal}` : `<= ${goal}`,
    value: value ?? null,
    met: value === undefined ? false : better === 'higher' ? value >= goal : value <= goal,
  });

  const report = {
    benchmark: 'rescue',
    at: new Date().toISOString(),
    mode: flags.calibrate ? 'calibrate (no peerdial origin)' : 'full',
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    capMbit: CAP_MBIT,
    fileMix: { ...site.mix, popularity: 'uniform over the files', meanRequestedBytes: meanBytes },
    method: {
      stepSeconds: STEP_S,
      growth: GROWTH,
      pass: `success >= ${PASS.minSuccess * 100}% and p95 latency <= ${PASS.maxP95Ms} ms (latency from when a request was due to the last byte of the final body, redirects included)`,
      requestTimeoutMs: TIMEOUT_MS,
      perKBudgetSeconds: PER_K_MS / 1000,
      rescueNodeFlags: `--rescue --donate-mbit ${CAP_MBIT} --donate-gb-per-day 100 --cache-mb 200`,
      loadGenerator: 'bench/rescue-load.ts: open loop, node:http keep-alive agents (512 sockets per host), follows 302 to other hosts, checks length and SHA-1 of every body',
    },
    ...(flags.calibrate
      ? {}
      : {
          maxRps,
          maxMbps,
          improvementAt10: improvementAt10 ?? null,
          linearity: { ...linearity, min: linearityMin ?? null },
          engageSeconds: engageSeconds ?? null,
          cacheHitRps: loop.cacheHit?.okRps ?? null,
          nginxRps: loop.nginx?.okRps ?? null,
          cacheHitVsNginx: cacheHitVsNginx ?? null,
          targets: {
            improvementAt10: target(improvementAt10, 10, 'higher'),
            linearity: target(linearityMin, 0.9, 'higher'),
            engageSeconds: target(engageSeconds, 3, 'lower'),
            cacheHitVsNginx: target(cacheHitVsNginx, 0.8, 'higher'),
            dnsRoundRobin: dnsTarget(dns),
          },
          dnsRoundRobin: dns ?? null,
        }),
    calibration: {
      ...calibration,
      loadGeneratorCeiling: loop.ceiling,
      nginxWrk: loop.nginx,
    },
    spike: engage ? { k: Number(kMax), ...engage } : undefined,
    runs: kRuns,
    loopback: { nginx: loop.nginx, cacheHit: loop.cacheHit, rescueUrl: loop.rescueUrl, notes: loop.notes },
    ...(trusted ? trustedKeys(trusted) : {}),
    wallSeconds: round((Date.now() - started) / 1000, 0),
  };
  const text = JSON.stringify(report, null, 2) + '\n';
  if (OUT) {
    await mkdir(path.dirname(path.resolve(REPO, OUT)), { recursive: true });
    await writeFile(path.resolve(REPO, OUT), text);
    log(`wrote ${OUT}`);
  }
  console.log(text);
}
