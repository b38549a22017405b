// Steps and ramps of bench:rescue: a step offers one request rate for a while and passes when
// enough requests succeed fast enough; a ramp raises the rate step by step until one fails.
import type { LoadFile, PhaseResult } from './rescue-load.js';
import type { LoadWorker } from './rescue-processes.js';
import { GROWTH, log, PASS, sleep, TIMEOUT_MS } from './rescue-run.js';

export interface StepRecord {
  rate: number;
  seconds: number;
  pass: boolean;
  issued: number;
  success: number;
  latencyMs: PhaseResult['latencyMs'];
  mbps: number;
  rxMbps: number;
  redirectedShare: number;
  /** Latency by how requests were served: direct from the site, rescue cache hit, rescue miss. */
  byPath: PhaseResult['byPath'];
  errors: Record<string, number>;
  servedBy?: Record<string, number>;
  sendLagMsP99: number;
  /** Something that happened during the step (a process died). */
  note?: string;
  /** detail: per process group within one of `cores` (each rescuer), not counted twice in `others`. */
  cpu?: { cores: Record<string, number>; machineBusy: number; detail?: Record<string, number> };
  /** fromReserve: the origin's count of redirects past an allowance so far (a total, not this step's). */
  origin?: { state: string; load: number; redirectProbability: number; egressMbps: number; activeRescuers: number; allowedRps: number; maxRps: number; fromReserve: number };
  /** The origin's egress qdisc during the step: what it sent (Mbit/s, on the wire) and the packets it dropped. */
  originQdisc?: { wireMbps: number; dropped: number };
}

export const passes = (p: PhaseResult) => p.success >= PASS.minSuccess && p.latencyMs.p95 <= PASS.maxP95Ms;

export function stepRecord(p: PhaseResult): StepRecord {
  return {
    rate: p.rate,
    seconds: p.seconds,
    pass: passes(p),
    issued: p.issued,
    success: p.success,
    latencyMs: p.latencyMs,
    mbps: p.mbps,
    rxMbps: p.rxMbps,
    redirectedShare: p.redirectedShare,
    byPath: p.byPath,
    errors: p.errors,
    sendLagMsP99: p.sendLagMs.p99,
  };
}

export interface Ramp {
  maxRps: number;
  maxMbps: number;
  /** The first rate that failed (undefined when the budget ran out first: maxRps is then a lower bound). */
  failedAtRps?: number;
  /** failed step, time budget, or why it was cut short. */
  stoppedBy: string;
  steps: StepRecord[];
}

export async function ramp(options: {
  label: string;
  run: (rate: number) => Promise<PhaseResult>;
  startRps: number;
  budgetMs: number;
  stepSeconds: number;
  /** Extra facts per step (CPU, the origin's view). */
  annotate?: (step: StepRecord) => Promise<void>;
  before?: () => void | Promise<void>;
  /** Checked after each step: a reason to stop (a process died) ends the ramp. */
  abort?: () => string | undefined;
}): Promise<Ramp> {
  const t0 = Date.now();
  const steps: StepRecord[] = [];
  let rate = Math.max(1, Math.round(options.startRps));
  let best: StepRecord | undefined;
  let failedAt: number | undefined;
  let stoppedBy: string | undefined;
  for (;;) {
    // A step costs its length plus at most the timeout to drain.
    if (steps.length && Date.now() - t0 + options.stepSeconds * 1000 + TIMEOUT_MS > options.budgetMs) break;
    await options.before?.();
    const p = await options.run(rate);
    const step = stepRecord(p);
    step.servedBy = p.servedBy;
    await options.annotate?.(step);
    steps.push(step);
    log(
      `${options.label} ${rate} req/s: ${step.pass ? 'pass' : 'FAIL'} success ${(p.success * 100).toFixed(2)}% p50 ${p.latencyMs.p50} p95 ${p.latencyMs.p95} ms, ` +
        `${p.mbps} Mbit/s, redirected ${(p.redirectedShare * 100).toFixed(0)}%` +
        (p.redirected ? ` (p95 direct ${p.byPath.direct.p95} hit ${p.byPath.rescueHit.p95}/${p.byPath.rescueHit.ok} miss ${p.byPath.rescueMiss.p95}/${p.byPath.rescueMiss.ok})` : '') +
        `${Object.keys(p.errors).length ? ` errors ${JSON.stringify(p.errors)}` : ''}` +
        (step.cpu ? ` cpu ${JSON.stringify(step.cpu.cores)} machine ${Math.round(step.cpu.machineBusy * 100)}%` : '') +
        (step.cpu?.detail ? ` busiest rescuer ${Math.max(...Object.values(step.cpu.detail))} cores` : '') +
        (step.origin ? ` origin ${step.origin.state} load ${step.origin.load} p ${step.origin.redirectProbability} rescuers ${step.origin.activeRescuers} allowed ${step.origin.allowedRps} most ${step.origin.maxRps} fromReserve ${step.origin.fromReserve}` : '') +
        (step.originQdisc ? ` qdisc ${step.originQdisc.wireMbps} Mbit/s dropped ${step.originQdisc.dropped}` : ''),
    );
    const aborted = options.abort?.();
    if (aborted) step.note = aborted;
    if (!step.pass) {
      failedAt = rate;
      break;
    }
    if (aborted) {
      stoppedBy = aborted;
      break;
    }
    best = step;
    rate = Math.max(rate + 1, Math.round(rate * GROWTH));
    await sleep(500);
  }
  return {
    maxRps: best?.rate ?? 0,
    maxMbps: best?.mbps ?? 0,
    failedAtRps: failedAt,
    stoppedBy: stoppedBy ?? (failedAt === undefined ? 'time budget' : 'failed step'),
    steps,
  };
}

export const phaseRun = (worker: LoadWorker, baseUrl: string, files: LoadFile[], seconds: number, seed: number) => async (rate: number) =>
  (await worker.run({ baseUrl, files, phases: [{ rate, seconds }], timeoutMs: TIMEOUT_MS, seed })).phases[0];

