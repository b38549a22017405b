// What one run of bench:rescue shares across its files: its flags and constants, a clock for
// its log, and everything it starts (namespaces, processes, a work dir), so that an error or
// Ctrl-C removes it all.
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RescueNet } from './rescue-netns.js';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..');

export const { values: flags } = parseArgs({
  options: {
    k: { type: 'string', default: '0,2,5,10' },
    'cap-mbit': { type: 'string', default: '20' },
    'step-seconds': { type: 'string', default: '8' },
    growth: { type: 'string', default: '1.25' },
    /** Wall-clock budget of one K's ramp (its startup and spike not counted). */
    'per-k-seconds': { type: 'string', default: '180' },
    files: { type: 'string', default: '60' },
    'timeout-ms': { type: 'string', default: '5000' },
    'spike-seconds': { type: 'string', default: '10' },
    /** Spike: from low to high, as multiples of maxRps["0"] (or of the cap's estimate). */
    'spike-low': { type: 'string', default: '0.3' },
    'spike-high': { type: 'string', default: '4' },
    'loopback-donate-mbit': { type: 'string', default: '10000' },
    /** For development: leave out the loopback part, or the cap check and nginx-alone ramp. */
    'no-loopback': { type: 'boolean', default: false },
    'no-calibration': { type: 'boolean', default: false },
    /** Only the loopback part (the load generator's ceiling, wrk against nginx and a cache hit): printed, not written. */
    'loopback-only': { type: 'boolean', default: false },
    calibrate: { type: 'boolean', default: false },
    /** DNS round robin: users by the site's name, with this many rescue nodes in the zone (0: left out). */
    'dns-k': { type: 'string', default: '10' },
    /** TTL of the rescuers' records. */
    'dns-ttl': { type: 'string', default: '10' },
    /** Only the DNS round robin part (and K=0 when --k names it): its figures go into the report already in --out, every other key kept. */
    'dns-only': { type: 'boolean', default: false },
    /** Trusted rescue (bench/rescue-trusted.ts): leave it out, or run only it (merged into the existing report). */
    'no-trusted': { type: 'boolean', default: false },
    'trusted-only': { type: 'boolean', default: false },
    /** Which trusted scenarios run: dynamic, httpsTrusted (both by default). */
    'trusted-scenarios': { type: 'string', default: 'dynamic,httpsTrusted' },
    out: { type: 'string' },
    /** The peerdial.js to run (default: this repo's bin/peerdial.js, which runs dist/). */
    cli: { type: 'string' },
  },
});
export const CLI = path.resolve(flags.cli ?? path.join(REPO, 'bin/peerdial.js'));
export const KS = flags.k!.split(',').map((s) => Number(s.trim()));
export const CAP_MBIT = Number(flags['cap-mbit']);
export const STEP_S = Number(flags['step-seconds']);
export const GROWTH = Number(flags.growth);
export const PER_K_MS = Number(flags['per-k-seconds']) * 1000;
export const TIMEOUT_MS = Number(flags['timeout-ms']);
export const OUT = flags.out ?? (flags.calibrate ? undefined : 'bench/results/rescue.json');
if (KS.some((k) => !Number.isInteger(k) || k < 0 || k > 40) || !(CAP_MBIT > 0) || !(STEP_S >= 2) || !(GROWTH > 1.05)) {
  console.error('bench:rescue: --k is a list of whole numbers (0..40), --cap-mbit > 0, --step-seconds >= 2, --growth > 1.05');
  process.exit(2);
}
export const CHORD = { stabilizeMs: 300, fixFingersMs: 150, checkPredecessorMs: 600, replicateMs: 1_500, requestTimeoutMs: 1_500 };
export const PASS = { minSuccess: 0.99, maxP95Ms: 1000 };
export const ORIGIN_SITE_PORT = 80;
export const ORIGIN_STATUS_PORT = 8090;
/** nginx's second listener on the origin's LAN address: only for the cap check (nginx alone through the cap). */
export const NGINX_DIRECT_PORT = 8088;
export const started = Date.now();
export const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
export const log = (...args: unknown[]) => console.log(`[${elapsed()}]`, ...args);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, digits = 2) => Number(x.toFixed(digits));


/** Everything this run starts: removed by cleanup() after an error or Ctrl-C. */
export const run = {
  net: undefined as RescueNet | undefined,
  workDir: undefined as string | undefined,
  /** Processes started outside the namespaces (loopback part), each in its own process group. */
  loose: new Set<ChildProcess>(),
  /** What kills the load generators. */
  workers: new Set<{ kill(): void }>(),
  cleaning: undefined as Promise<void> | undefined,
};

export function cleanup(): Promise<void> {
  run.cleaning ??= (async () => {
    for (const w of run.workers) w.kill();
    for (const child of run.loose) killGroup(child, 'SIGKILL');
    await run.net?.teardown().catch(() => undefined);
    if (run.workDir) await rm(run.workDir, { recursive: true, force: true }).catch(() => undefined);
  })();
  return run.cleaning;
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // gone
    }
  }
}


/** Ctrl-C or SIGTERM removes the namespaces and processes before exiting. */
export function cleanUpOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\nbench:rescue: ${signal}: removing namespaces and processes`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}
