// DotSlash rescue benchmark (`npm run bench:rescue`): how much more a small web site serves when
// K volunteer nodes help rescue it, how fast the help engages, and how a rescue server's cache
// hits compare with nginx. Writes bench/results/rescue.json.
//
// The network (bench/rescue-netns.ts), made of namespaces this run creates and removes:
//   origin  10.78.0.1  nginx (one worker, 127.0.0.1:8080) with a generated site
//                      (bench/rescue-nginx.ts), and `peerdial origin` in front of it on :80;
//                      egress capped by tc tbf (--cap-mbit, default 20)
//   client  10.78.0.2  the open-loop load generator (bench/rescue-load.ts), uncapped
//   r1..rK  10.78.0.11+ `peerdial node --rescue`, each capped like the origin; r1 starts the
//                      overlay, the others and the origin bootstrap from r1:5060
// For each K (--k, default 0,2,5,10) the request rate grows in steps (--step-seconds, x --growth)
// until a step fails (success < 99% or p95 latency > 1 s); the last step that passed gives maxRps
// and maxMbps. With the largest K a step spike (low rate to high rate) gives engageSeconds: from
// the spike to the first response that came through a redirect. Then, on plain loopback without
// caps, wrk against nginx and against a rescue server's cached copy of the same 10 KB file.
//
// Every run also checks its instruments: the cap (the load generator through the capped link to
// nginx directly, on a second nginx listener at 10.78.0.1:8088), and the load generator's own
// ceiling on loopback. `--calibrate` runs only what needs no `peerdial origin`. Needs root
// (namespaces, tc), nginx-light and wrk (scripts/install-test-deps.sh), and `npm run build`
// (or `--cli PATH` to a copy of bin/ and dist/ that a concurrent rebuild cannot remove mid-run).
// Flags come after `--`: `npm run bench:rescue -- --k 0,2 --calibrate`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { OriginView } from '../native/services/rescue/rescue-view.js';
import { freePort } from '../test/support/node-process.js';
import { getOnce, runLoad, type LoadFile, type LoadResult, type LoadRun, type PhaseResult } from './rescue-load.js';
import { makeRescueNet, qdiscStats, removeLeftovers, requireRoot, spawnIn, type RescueHost, type RescueNet } from './rescue-netns.js';
import { generateSite, nginxConfig, startNginx, type Nginx, type Site } from './rescue-nginx.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..');

const { values: flags } = parseArgs({
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
    calibrate: { type: 'boolean', default: false },
    out: { type: 'string' },
    /** The peerdial.js to run (default: this repo's bin/peerdial.js, which runs dist/). */
    cli: { type: 'string' },
  },
});
const CLI = path.resolve(flags.cli ?? path.join(REPO, 'bin/peerdial.js'));
const KS = flags.k!.split(',').map((s) => Number(s.trim()));
const CAP_MBIT = Number(flags['cap-mbit']);
const STEP_S = Number(flags['step-seconds']);
const GROWTH = Number(flags.growth);
const PER_K_MS = Number(flags['per-k-seconds']) * 1000;
const TIMEOUT_MS = Number(flags['timeout-ms']);
const OUT = flags.out ?? (flags.calibrate ? undefined : 'bench/results/rescue.json');
if (KS.some((k) => !Number.isInteger(k) || k < 0 || k > 40) || !(CAP_MBIT > 0) || !(STEP_S >= 2) || !(GROWTH > 1.05)) {
  console.error('bench:rescue: --k is a list of whole numbers (0..40), --cap-mbit > 0, --step-seconds >= 2, --growth > 1.05');
  process.exit(2);
}
const CHORD = { stabilizeMs: 300, fixFingersMs: 150, checkPredecessorMs: 600, replicateMs: 1_500, requestTimeoutMs: 1_500 };
const PASS = { minSuccess: 0.99, maxP95Ms: 1000 };
const ORIGIN_SITE_PORT = 80;
const ORIGIN_STATUS_PORT = 8090;
/** nginx's second listener on the origin's LAN address: only for the cap check (nginx alone through the cap). */
const NGINX_DIRECT_PORT = 8088;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
const log = (...args: unknown[]) => console.log(`[${elapsed()}]`, ...args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// Everything this run starts, so that an error or Ctrl-C removes it all.

let net: RescueNet | undefined;
let workDir: string | undefined;
/** Processes started outside the namespaces (loopback part), each in its own process group. */
const loose = new Set<ChildProcess>();
const workers = new Set<LoadWorker>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const w of workers) w.kill();
    for (const child of loose) killGroup(child, 'SIGKILL');
    await net?.teardown().catch(() => undefined);
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  })();
  return cleaning;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
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

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\nbench:rescue: ${signal}: removing namespaces and processes`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// The load generator as a worker process (inside the client namespace, or on loopback).

class LoadWorker {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(
    readonly child: ChildProcess,
    readonly output: () => string,
  ) {}

  static async start(ns?: string): Promise<LoadWorker> {
    const args = ['--import', 'tsx', path.join(here, 'rescue-load.ts'), '--serve'];
    const options = { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'] };
    const child = ns ? spawnIn(ns, process.execPath, args, options) : spawn(process.execPath, args, { ...options, detached: true });
    if (!ns) loose.add(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const worker = new LoadWorker(child, () => err);
    workers.add(worker);
    const lines = readline.createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the load generator did not start:\n${err}`)), 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the load generator exited with ${code}:\n${err}`));
        for (const p of worker.pending.values()) p.reject(new Error(`the load generator exited with ${code}:\n${err}`));
      });
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; id?: number; ok?: boolean; result?: unknown; error?: string };
        if (msg.ready) {
          clearTimeout(timer);
          return resolve();
        }
        const p = worker.pending.get(msg.id ?? -1);
        if (!p) return;
        worker.pending.delete(msg.id!);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(msg.error));
      });
    });
    await ready;
    return worker;
  }

  private call<T>(command: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n');
    });
  }

  run(run: LoadRun): Promise<LoadResult> {
    return this.call({ op: 'run', run });
  }

  get(url: string, timeoutMs = 5_000): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; bytes: number }> {
    return this.call({ op: 'get', url, timeoutMs });
  }

  kill(): void {
    workers.delete(this);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// peerdial processes.

interface Peerdial {
  child: ChildProcess;
  /** The lines it printed once ready, by key (`site`, `status`, `sip`, `origin`, `rescue`). */
  lines: Record<string, string>;
  output(): string;
  stop(): Promise<void>;
  /** Set when it exited without being asked to: how, and the last lines it printed. */
  crash?: { role: string; code: number | null; signal: string | null; atSeconds: number; tail: string[] };
}

async function startPeerdial(ns: string | undefined, args: string[], need: { ready: RegExp; keys: string[] }): Promise<Peerdial> {
  const env = { ...process.env, PEERDIAL_CHORD: JSON.stringify(CHORD) };
  const child = ns ? spawnIn(ns, process.execPath, [CLI, ...args], { env }) : spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  if (!ns) loose.add(child);
  let out = '';
  // Keep the first 64 KB (startup) and the last 192 KB of what it prints.
  const keep = (d: Buffer | string) => {
    out += d;
    if (out.length > 256 * 1024) out = out.slice(0, 64 * 1024) + '\n[...]\n' + out.slice(-192 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let stopping = false;
  const role = `${args[0]}${ns ? ` in ${ns.replace(/^.*-/, '')}` : ' on loopback'}`;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const have = () => need.ready.test(out) && need.keys.every((k) => new RegExp(`^${k}: \\S+`, 'm').test(out));
  const deadline = Date.now() + 45_000;
  while (!have()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`peerdial ${args[0]} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`peerdial ${args.join(' ')} was not ready in 45 s:\n${out}`);
    }
    await sleep(50);
  }
  const lines: Record<string, string> = {};
  for (const k of need.keys) lines[k] = new RegExp(`^${k}: (\\S+)`, 'm').exec(out)![1];
  const handle: Peerdial = {
    child,
    lines,
    output: () => out,
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (ns) child.kill('SIGTERM');
      else killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => (ns ? child.kill('SIGKILL') : killGroup(child, 'SIGKILL')), 5_000);
      await exited;
      clearTimeout(timer);
      loose.delete(child);
    },
  };
  child.on('exit', (code, signal) => {
    if (stopping || cleaning) return;
    handle.crash = { role, code, signal, atSeconds: round((Date.now() - started) / 1000, 1), tail: out.trimEnd().split('\n').slice(-40) };
    console.error(`[${elapsed()}] peerdial ${role} exited unasked (${code ?? signal}); its last lines:\n  ${handle.crash.tail.join('\n  ')}`);
  });
  return handle;
}

function rescueNodeArgs(dataDir: string, user: string, bind: string, sipPort: number, donateMbit: number, bootstrap?: string): string[] {
  return [
    'node',
    '--data-dir', dataDir,
    '--user', user,
    '--bind', bind,
    '--sip-port', String(sipPort),
    ...(bootstrap ? ['--bootstrap', bootstrap] : []),
    '--rescue',
    '--donate-mbit', String(donateMbit),
    '--donate-gb-per-day', '100',
    '--cache-mb', '200',
  ];
}

/** Whether the built CLI has `peerdial origin` (it is being written alongside this benchmark). */
function originCliState(): { ok: boolean; why?: string } {
  if (!existsSync(path.join(path.dirname(CLI), '../dist/native/cli/main.js'))) return { ok: false, why: 'the CLI is not built: run `npm run build` first' };
  const r = spawnSync(process.execPath, [CLI, 'origin', '--help'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 0 && /--upstream/.test(r.stdout + r.stderr)) return { ok: true };
  return { ok: false, why: `\`peerdial origin --help\` did not show the origin's options (exit ${r.status}): ${(r.stderr || r.stdout).split('\n')[0]}` };
}

// ---------------------------------------------------------------------------------------------
// CPU per namespace (what each role burned during a step), and the machine's.

function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = line[3] + line[4];
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

class CpuMeter {
  private at = Date.now();
  private before = new Map<string, number>();
  private machine = machineTicks();
  constructor(private readonly groups: () => Array<{ name: string; pids: number[] }>) {
    this.reset();
  }
  private sample(): Map<string, number> {
    const m = new Map<string, number>();
    for (const g of this.groups()) m.set(g.name, g.pids.reduce((a, pid) => a + ticksOf(pid), 0));
    return m;
  }
  reset(): void {
    this.at = Date.now();
    this.before = this.sample();
    this.machine = machineTicks();
  }
  /** Cores used per group since reset (1 = one core busy), and the machine's busy share. */
  read(): { cores: Record<string, number>; machineBusy: number } {
    const seconds = (Date.now() - this.at) / 1000;
    const hz = 100;
    const now = this.sample();
    const cores: Record<string, number> = {};
    for (const [name, ticks] of now) cores[name] = round(Math.max(0, ticks - (this.before.get(name) ?? 0)) / hz / seconds);
    const m = machineTicks();
    const machineBusy = (m.busy - this.machine.busy) / Math.max(1, m.total - this.machine.total);
    // What the rest of the machine took (other programs than this benchmark's): on a shared
    // machine, a reason a step may fail that is none of the system's doing.
    const ours = Object.values(cores).reduce((a, b) => a + b, 0);
    return { cores: { ...cores, others: round(Math.max(0, machineBusy * os.cpus().length - ours)) }, machineBusy: round(machineBusy) };
  }
}

function pidsIn(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return r.stdout.split(/\s+/).filter(Boolean).map(Number);
}

// ---------------------------------------------------------------------------------------------
// Steps and ramps.

interface StepRecord {
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
  cpu?: { cores: Record<string, number>; machineBusy: number };
  origin?: { state: string; load: number; redirectProbability: number; egressMbps: number; activeRescuers: number; allowedRps: number };
}

const passes = (p: PhaseResult) => p.success >= PASS.minSuccess && p.latencyMs.p95 <= PASS.maxP95Ms;

function stepRecord(p: PhaseResult): StepRecord {
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

interface Ramp {
  maxRps: number;
  maxMbps: number;
  /** The first rate that failed (undefined when the budget ran out first: maxRps is then a lower bound). */
  failedAtRps?: number;
  /** failed step, time budget, or why it was cut short. */
  stoppedBy: string;
  steps: StepRecord[];
}

async function ramp(options: {
  label: string;
  run: (rate: number) => Promise<PhaseResult>;
  startRps: number;
  budgetMs: number;
  stepSeconds: number;
  /** Extra facts per step (CPU, the origin's view). */
  annotate?: (step: StepRecord) => Promise<void>;
  before?: () => void;
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
    options.before?.();
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
        (step.origin ? ` origin ${step.origin.state} load ${step.origin.load} p ${step.origin.redirectProbability} rescuers ${step.origin.activeRescuers}` : ''),
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

const phaseRun = (worker: LoadWorker, baseUrl: string, files: LoadFile[], seconds: number, seed: number) => async (rate: number) =>
  (await worker.run({ baseUrl, files, phases: [{ rate, seconds }], timeoutMs: TIMEOUT_MS, seed })).phases[0];

// ---------------------------------------------------------------------------------------------
// wrk

interface WrkResult {
  url: string;
  requests: number;
  seconds: number;
  rps: number;
  /** Requests per second that got a 2xx or 3xx (wrk counts >= 400 as errors). */
  okRps: number;
  non2xx3xx: number;
  socketErrors: string;
  bytesPerResponse: number;
  latency: string;
  /** CPU the server (with its child processes) used during the run, in cores. */
  serverCores?: number;
  /** okRps of each run when there were two (the best is the one reported). */
  runsOkRps?: number[];
  /** The X-Cache header of a GET just before and just after the run (the rescue server's). */
  xCache?: { before?: string; after?: string };
}

/** A process and its descendants (nginx's master and worker), from /proc. */
function withDescendants(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    try {
      for (const line of readFileSync(`/proc/${all[i]}/task/${all[i]}/children`, 'utf8').split(' ')) if (line.trim()) all.push(Number(line));
    } catch {
      // gone
    }
  }
  return all;
}

/** `wrk -t1 -c50 -d10s URL` (asynchronously: the trickle that keeps the loopback origin in SOS runs on meanwhile), and the server's CPU over it. */
async function runWrk(url: string, serverPid?: number): Promise<WrkResult> {
  const pids = serverPid ? withDescendants(serverPid) : [];
  const before = pids.reduce((a, p) => a + ticksOf(p), 0);
  const t0 = Date.now();
  const child = spawn('wrk', ['-t1', '-c50', '-d10s', '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  loose.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  loose.delete(child);
  const serverCores = pids.length ? round((pids.reduce((a, p) => a + ticksOf(p), 0) - before) / 100 / ((Date.now() - t0) / 1000)) : undefined;
  if (code !== 0) throw new Error(`wrk failed (${code}): ${err}${out}`);
  const total = /(\d+) requests in ([\d.]+)(m?s), ([\d.]+)([KMGT]?B) read/.exec(out);
  if (!total) throw new Error(`wrk printed no totals:\n${out}`);
  const requests = Number(total[1]);
  const seconds = Number(total[2]) / (total[3] === 'ms' ? 1000 : 1);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[total[5]] ?? 1;
  const non = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    url,
    requests,
    seconds,
    rps: round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? requests / seconds), 0),
    okRps: round((Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? requests / seconds) * (requests - non)) / Math.max(1, requests), 0),
    non2xx3xx: non,
    socketErrors: /Socket errors: (.*)/.exec(out)?.[1] ?? 'none',
    bytesPerResponse: Math.round((Number(total[4]) * unit) / Math.max(1, requests)),
    latency: /Latency\s+(\S+\s+\S+\s+\S+)/.exec(out)?.[1]?.replace(/\s+/g, ' ') ?? '',
    serverCores,
  };
}

// ---------------------------------------------------------------------------------------------

interface KRun {
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

interface SpikeResult {
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

function originSummary(view: OriginView): NonNullable<StepRecord['origin']> {
  const active = view.rescuers.filter((r) => r.state === 'active');
  return {
    state: view.state,
    load: round(view.load),
    redirectProbability: round(view.redirectProbability),
    egressMbps: round(view.egressMbps, 1),
    activeRescuers: active.length,
    allowedRps: round(active.reduce((a, r) => a + r.allowedRps, 0), 0),
  };
}

async function main(): Promise<void> {
  await requireRoot();
  for (const tool of ['nginx', 'wrk']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench:rescue needs \`${tool}\`: run scripts/install-test-deps.sh (nginx-light, wrk).`);
  }
  const cli = originCliState();
  if (!flags.calibrate && !cli.ok) throw new Error(`bench:rescue needs \`peerdial origin\`: ${cli.why}. (--calibrate runs the parts that do not.)`);
  const removed = await removeLeftovers();
  if (removed.length) log(`removed ${removed.length} namespaces left by an earlier run`);

  workDir = await mkdtemp(path.join(os.tmpdir(), 'pd-bench-rescue-'));
  await chmod(workDir, 0o755); // nginx's worker (nobody) reads the site under it
  const site = await generateSite(path.join(workDir, 'site'), { files: Number(flags.files) });
  const meanBytes = site.mix.actual.mean;
  /** What the cap carries of this mix at most, requests per second (bodies only). */
  const capRpsEstimate = (CAP_MBIT * 1e6) / 8 / meanBytes;
  log(`bench pid ${process.pid}; site: ${site.files.length} files, mean ${(meanBytes / 1024).toFixed(1)} KB; the ${CAP_MBIT} Mbit/s cap carries about ${capRpsEstimate.toFixed(0)} req/s of it`);

  // The network.
  const maxK = Math.max(0, ...KS);
  net = await makeRescueNet();
  const originHost = await net.addHost('origin', { capMbit: CAP_MBIT, address: '10.78.0.1' });
  const clientHost = await net.addHost('client', { address: '10.78.0.2' });
  const rescuers: RescueHost[] = [];
  for (let i = 1; i <= maxK; i++) rescuers.push(await net.addHost(`r${i}`, { capMbit: CAP_MBIT, address: `10.78.0.${10 + i}` }));
  log(`namespaces: ${net.hosts.map((h) => `${h.role}=${h.address}${h.capMbit ? ` (${h.capMbit} Mbit/s)` : ''}`).join(' ')}`);

  const nginxPrefix = path.join(workDir, 'nginx-origin');
  const originNginx = await startNginx({
    prefix: nginxPrefix,
    ns: originHost.ns,
    config: nginxConfig({ prefix: nginxPrefix, root: site.root, listen: ['127.0.0.1:8080', `${originHost.address}:${NGINX_DIRECT_PORT}`] }),
    probe: '127.0.0.1:8080',
  });
  void originNginx;
  const client = await LoadWorker.start(clientHost.ns);
  const meter = new CpuMeter(() => [
    { name: 'origin', pids: pidsIn(originHost.ns) },
    { name: 'rescuers', pids: rescuers.flatMap((r) => pidsIn(r.ns)) },
    { name: 'client', pids: pidsIn(clientHost.ns) },
    { name: 'bench', pids: [process.pid] },
  ]);

  // The cap check: nginx alone through the capped link, at twice what the cap can carry; then the
  // largest rate nginx alone passes through the cap: the ceiling K=0 is measured against.
  const calibrate = async () => {
    log('cap check: the load generator against nginx directly through the capped link');
    const directUrl = `http://${originHost.address}:${NGINX_DIRECT_PORT}`;
    const qBefore = await qdiscStats(originHost);
    const offeredRps = Math.round(capRpsEstimate * 2);
    const overloadRun = await client.run({ baseUrl: directUrl, files: site.files, phases: [{ rate: offeredRps, seconds: 6 }], timeoutMs: TIMEOUT_MS, seed: 7 });
    const qAfter = await qdiscStats(originHost);
    const capCheck = {
      capMbit: CAP_MBIT,
      offeredRps,
      /** Body bytes that arrived during the 6 s, as Mbit/s: should be just under the cap (headers and TCP/IP take the rest). */
      measuredMbps: overloadRun.phases[0].rxMbps,
      /** What the qdisc sent (headers, TCP/IP and retransmissions included) over the run and its drain. */
      wireMbps: qBefore && qAfter ? round(((qAfter.sentBytes - qBefore.sentBytes) * 8) / (overloadRun.wallMs / 1000) / 1e6, 1) : undefined,
      qdiscDrops: qBefore && qAfter ? qAfter.dropped - qBefore.dropped : undefined,
    };
    log(`cap check: ${JSON.stringify(capCheck)}`);
    await sleep(TIMEOUT_MS / 2);
    const alone = await ramp({
      label: 'nginx alone through the cap',
      run: phaseRun(client, directUrl, site.files, STEP_S, 8),
      startRps: capRpsEstimate * 0.5,
      budgetMs: 90_000,
      stepSeconds: STEP_S,
    });
    return { capCheck, nginxAloneThroughCap: { maxRps: alone.maxRps, maxMbps: alone.maxMbps, failedAtRps: alone.failedAtRps, steps: alone.steps } };
  };
  const calibration = flags['no-calibration'] ? undefined : await calibrate();

  const kRuns: KRun[] = [];
  const maxRps: Record<string, number> = {};
  const maxMbps: Record<string, number> = {};
  let engage: SpikeResult | undefined;

  if (!flags.calibrate) {
    for (const k of KS) {
      const notes: string[] = [];
      const t0 = Date.now();
      log(`K=${k}: starting ${k} rescue nodes and the origin`);
      const nodes: Peerdial[] = [];
      const dirs: string[] = [];
      const dir = async (name: string) => {
        const d = path.join(workDir!, `k${k}-${name}`);
        await mkdir(d, { recursive: true });
        dirs.push(d);
        return d;
      };
      let origin: Peerdial | undefined;
      const crashes: NonNullable<Peerdial['crash']>[] = [];
      try {
        const ready = { ready: /peerdial node is ready/, keys: ['rescue'] };
        if (k > 0) {
          nodes.push(await startPeerdial(rescuers[0].ns, rescueNodeArgs(await dir('r1'), 'r1', rescuers[0].address, 5060, CAP_MBIT), ready));
          const boot = `${rescuers[0].address}:5060`;
          const rest = await Promise.all(
            rescuers.slice(1, k).map(async (r, i) => startPeerdial(r.ns, rescueNodeArgs(await dir(`r${i + 2}`), `r${i + 2}`, r.address, 5060, CAP_MBIT, boot), ready)),
          );
          nodes.push(...rest);
          // Let the ring settle (fast Chord timings), so the origin finds every rescuer's advertisement.
          await sleep(3_000 + 300 * k);
        }
        origin = await startPeerdial(
          originHost.ns,
          [
            'origin',
            '--upstream', 'http://127.0.0.1:8080',
            '--listen', `${originHost.address}:${ORIGIN_SITE_PORT}`,
            '--capacity', `${CAP_MBIT}mbit`,
            '--data-dir', await dir('origin'),
            '--bind', originHost.address,
            '--sip-port', '5060',
            '--site', `http://${originHost.address}/`,
            '--status-listen', `${originHost.address}:${ORIGIN_STATUS_PORT}`,
            ...(k > 0 ? ['--bootstrap', `${rescuers[0].address}:5060`] : []),
          ],
          { ready: /peerdial origin is ready/, keys: ['site', 'status', 'origin'] },
        );
        const siteUrl = origin.lines.site.replace(/\/$/, '');
        const statusJson = new URL('status.json', origin.lines.status.endsWith('/') ? origin.lines.status : `${origin.lines.status}/`).href;
        const originView = async () => {
          try {
            const r = await client.get(statusJson, 3_000);
            return r.status === 200 ? (JSON.parse(r.body) as OriginView) : undefined;
          } catch {
            return undefined;
          }
        };
        const annotate = async (step: StepRecord) => {
          step.cpu = meter.read();
          const view = await originView();
          if (view) step.origin = originSummary(view);
        };
        const startupSeconds = round((Date.now() - t0) / 1000, 1);
        log(`K=${k}: ready in ${startupSeconds} s; site ${siteUrl}, origin ${origin.lines.origin}; rescuers ${nodes.map((n) => n.lines.rescue).join(' ')}`);
        const q0 = await qdiscStats(originHost);

        // The spike, on fresh (cold) rescuers, with the largest K.
        let spike: SpikeResult | undefined;
        if (k === maxK && k > 0) {
          const base = maxRps['0'] || capRpsEstimate;
          const lowRps = Math.max(2, Math.round(base * Number(flags['spike-low'])));
          const highRps = Math.round(base * Number(flags['spike-high']));
          const before = await originView();
          const spikeS = Number(flags['spike-seconds']);
          log(`K=${k}: spike ${lowRps} -> ${highRps} req/s (origin ${before?.state ?? '?'})`);
          meter.reset();
          const r = await client.run({ baseUrl: siteUrl, files: site.files, phases: [{ rate: lowRps, seconds: 4 }, { rate: highRps, seconds: spikeS }], timeoutMs: TIMEOUT_MS, seed: 99 });
          const [low, high] = r.phases;
          const highRec = stepRecord(high);
          const after = await originView();
          await annotate(highRec);
          const spikeAt = r.startedAt + low.seconds * 1000;
          spike = {
            lowRps,
            highRps,
            seconds: spikeS,
            engageSeconds: high.firstRedirectedMs === undefined ? undefined : round(high.firstRedirectedMs / 1000, 2),
            originStateBefore: before?.state,
            low: stepRecord(low),
            high: highRec,
            timeline: high.timeline,
            originLog: (after?.log ?? []).filter((l) => l.at >= r.startedAt).map((l) => ({ t: round((l.at - spikeAt) / 1000, 2), text: l.text })),
          };
          if (low.redirected) notes.push(`the spike's low phase (${lowRps} req/s) was already redirected (${low.redirected} responses): engageSeconds counts from the spike anyway`);
          log(`K=${k}: engageSeconds ${spike.engageSeconds ?? 'never'}; spike success ${(high.success * 100).toFixed(1)}% p95 ${high.latencyMs.p95} ms redirected ${(high.redirectedShare * 100).toFixed(0)}%`);
          engage = spike;
          // Back to normal before the ramp (the origin releases its rescuers when load falls).
          for (let i = 0; i < 30; i++) {
            if ((await originView())?.state === 'normal') break;
            await sleep(1_000);
          }
        }

        // The ramp: K=0 from half what the cap carries; K>0 from what K=0 passed (or the estimate).
        const start = k === 0 ? capRpsEstimate * 0.5 : (maxRps['0'] || capRpsEstimate) * 0.8;
        const r = await ramp({
          label: `K=${k}`,
          run: phaseRun(client, siteUrl, site.files, STEP_S, 1000 + k),
          startRps: start,
          budgetMs: PER_K_MS,
          stepSeconds: STEP_S,
          annotate,
          before: () => meter.reset(),
          abort: () => {
            const dead = [origin, ...nodes].filter((p) => p?.crash);
            return dead.length ? `${dead.map((p) => p!.crash!.role).join(', ')} exited during the step` : undefined;
          },
        });
        for (const p of [origin, ...nodes]) if (p?.crash) crashes.push(p.crash);
        if (crashes.length) notes.push(`${crashes.map((c) => `peerdial ${c.role} exited (${c.code ?? c.signal}) at ${c.atSeconds} s`).join('; ')}: the figure after that is not the system's capacity (see crashes)`);
        if (r.stoppedBy === 'time budget') notes.push(`the ${PER_K_MS / 1000} s budget ran out before a step failed: maxRps is a lower bound`);
        const q1 = await qdiscStats(originHost);
        maxRps[String(k)] = r.maxRps;
        maxMbps[String(k)] = r.maxMbps;
        kRuns.push({
          k,
          ramp: r,
          startupSeconds,
          spike,
          originQdisc: q0 && q1 ? { sentMB: round((q1.sentBytes - q0.sentBytes) / 1e6, 1), dropped: q1.dropped - q0.dropped } : undefined,
          rescuerUrls: nodes.map((n) => n.lines.rescue),
          notes,
          crashes,
        });
        log(`K=${k}: maxRps ${r.maxRps} (${r.maxMbps} Mbit/s), ${r.stoppedBy}`);
      } finally {
        await origin?.stop();
        await Promise.all(nodes.map((n) => n.stop()));
        for (const d of dirs) await rm(d, { recursive: true, force: true });
      }
    }
  }
  client.kill();
  await net.teardown();
  net = undefined;

  // ---- Plain loopback, no caps: the load generator's own ceiling, and wrk.
  const loop: Awaited<ReturnType<typeof loopbackPart>> = flags['no-loopback'] ? { notes: ['loopback part left out (--no-loopback)'] } : await loopbackPart(site);

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
            linearity: target(linearityMin, 0.8, 'higher'),
            engageSeconds: target(engageSeconds, 3, 'lower'),
            cacheHitVsNginx: target(cacheHitVsNginx, 0.5, 'higher'),
          },
        }),
    calibration: {
      ...calibration,
      loadGeneratorCeiling: loop.ceiling,
      nginxWrk: loop.nginx,
    },
    spike: engage ? { k: Number(kMax), ...engage } : undefined,
    runs: kRuns,
    loopback: { nginx: loop.nginx, cacheHit: loop.cacheHit, rescueUrl: loop.rescueUrl, notes: loop.notes },
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

/** On loopback, no namespaces and no caps. */
async function loopbackPart(site: Site): Promise<{
  ceiling?: { maxRps: number; maxMbps: number; failedAtRps?: number; cpuCoresAtMax?: number; steps: StepRecord[] };
  nginx?: WrkResult;
  cacheHit?: WrkResult;
  rescueUrl?: string;
  notes: string[];
}> {
  const notes: string[] = [];
  const port = await freePort();
  const prefix = path.join(workDir!, 'nginx-loopback');
  let nginx: Nginx | undefined = await startNginx({ prefix, config: nginxConfig({ prefix, root: site.root, listen: [`127.0.0.1:${port}`] }), probe: `127.0.0.1:${port}` });
  loose.add(nginx.child);
  const base = `http://127.0.0.1:${port}`;
  try {
    // The load generator's own ceiling: the site mix from nginx, short steps, from 1000 req/s up.
    log('loopback: the load generator against nginx (its own ceiling)');
    const worker = await LoadWorker.start();
    const cpuByRate = new Map<number, number>();
    const ceiling = await ramp({
      label: 'load generator on loopback',
      run: async (rate) => {
        const r = await worker.run({ baseUrl: base, files: site.files, phases: [{ rate, seconds: 4 }], timeoutMs: TIMEOUT_MS, seed: 5 });
        cpuByRate.set(rate, r.cpuCores);
        return r.phases[0];
      },
      startRps: 1000,
      budgetMs: 60_000,
      stepSeconds: 4,
    });
    worker.kill();
    log(`loopback: load generator ceiling ${ceiling.maxRps} req/s (${ceiling.maxMbps} Mbit/s)`);

    log('loopback: wrk against nginx, 10 KB file');
    let nginxWrk = await runWrk(`${base}${site.tenKb.path}`, nginx.child.pid);
    log(`loopback: nginx ${nginxWrk.okRps} req/s (${nginxWrk.bytesPerResponse} B per response)`);
    if (flags.calibrate) {
      return { ceiling: { ...ceiling, cpuCoresAtMax: cpuByRate.get(ceiling.maxRps) }, nginx: nginxWrk, notes };
    }

    // A rescue node and an origin on loopback; a small --capacity puts the origin in SOS under a
    // trickle of requests, and a 302 it sends names the rescue server's URL for the file.
    const dirs = [await mkdtemp(path.join(workDir!, 'lo-node-')), await mkdtemp(path.join(workDir!, 'lo-origin-'))];
    const [nodeSip, originSip, sitePort, statusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const donate = Number(flags['loopback-donate-mbit']);
    const node = await startPeerdial(undefined, [...rescueNodeArgs(dirs[0], 'lo-rescuer', '127.0.0.1', nodeSip, donate, undefined), '--no-mdns', '--no-multicast-register'], {
      ready: /peerdial node is ready/,
      keys: ['rescue'],
    });
    let origin: Peerdial | undefined;
    const stopTrickle = new AbortController();
    let trickle: Promise<unknown> | undefined;
    try {
      await sleep(1_500);
      origin = await startPeerdial(
        undefined,
        [
          'origin',
          '--upstream', base,
          '--listen', `127.0.0.1:${sitePort}`,
          '--capacity', '1mbit',
          '--bootstrap', `127.0.0.1:${nodeSip}`,
          '--data-dir', dirs[1],
          '--bind', '127.0.0.1',
          '--sip-port', String(originSip),
          '--site', `http://127.0.0.1:${sitePort}/`,
          '--status-listen', `127.0.0.1:${statusPort}`,
          // Only our rescue node: not any other Peerdial node this machine's LAN may have.
          '--no-mdns',
        ],
        { ready: /peerdial origin is ready/, keys: ['site', 'status', 'origin'] },
      );
      const siteUrl = origin.lines.site.replace(/\/$/, '');
      const fileUrl = `${siteUrl}${site.tenKb.path}`;
      // The trickle: ~2.4 Mbit/s of the 10 KB file against a 1 Mbit/s capacity, for as long as wrk needs.
      trickle = trickleLoad(siteUrl, site.tenKb, stopTrickle.signal);
      let rescueUrl: string | undefined;
      const deadline = Date.now() + 40_000;
      while (!rescueUrl && Date.now() < deadline) {
        const r = await getOnce(fileUrl).catch(() => undefined);
        if (r && r.status === 302 && typeof r.headers.location === 'string') rescueUrl = new URL(r.headers.location, fileUrl).href;
        else await sleep(100);
      }
      if (!rescueUrl) {
        notes.push('the loopback origin sent no 302 within 40 s: no cache-hit figure');
        return { ceiling: { ...ceiling, cpuCoresAtMax: cpuByRate.get(ceiling.maxRps) }, nginx: nginxWrk, notes };
      }
      // Fill the cache, then make sure a plain GET of that URL returns the whole file from it.
      let check: Awaited<ReturnType<typeof getOnce>> | undefined;
      for (let i = 0; i < 20; i++) {
        const fill = await getOnce(rescueUrl).catch(() => undefined);
        if (fill?.status === 200 && fill.bytes === site.tenKb.size) {
          check = await getOnce(rescueUrl).catch(() => undefined);
          if (check?.status === 200 && check.bytes === site.tenKb.size) break;
        }
        check = fill;
        await sleep(200);
      }
      if (check?.status !== 200) notes.push(`GET ${rescueUrl} answered ${check?.status}: the cache-hit figure may not be of 200s`);
      log(`loopback: wrk against the rescue server's cached copy ${rescueUrl}`);
      // Two runs each, interleaved (rescue, nginx, rescue), the best of each kept: on a shared
      // machine one run can lose a core to someone else for a while.
      const first = await runWrk(rescueUrl, node.child.pid);
      log(`loopback: rescue cache hit ${first.okRps} req/s; nginx again, then the rescue server again`);
      const nginxAgain = await runWrk(`${base}${site.tenKb.path}`, nginx.child.pid);
      const second = await runWrk(rescueUrl, node.child.pid);
      const cacheHit = second.okRps > first.okRps ? second : first;
      cacheHit.runsOkRps = [first.okRps, second.okRps];
      if (nginxAgain.okRps > nginxWrk.okRps) {
        nginxAgain.runsOkRps = [nginxWrk.okRps, nginxAgain.okRps];
        nginxWrk = nginxAgain;
      } else nginxWrk.runsOkRps = [nginxWrk.okRps, nginxAgain.okRps];
      const checkAfter = await getOnce(rescueUrl).catch(() => undefined);
      cacheHit.xCache = { before: String(check?.headers['x-cache'] ?? ''), after: String(checkAfter?.headers['x-cache'] ?? '') };
      if (checkAfter?.status !== 200 || checkAfter.bytes !== site.tenKb.size) notes.push(`after wrk, GET ${rescueUrl} answered ${checkAfter?.status} with ${checkAfter?.bytes} bytes: the rescue may have ended during the run`);
      log(`loopback: rescue cache hit ${cacheHit.okRps} req/s (${cacheHit.bytesPerResponse} B per response)`);
      if (cacheHit.bytesPerResponse < site.tenKb.size) notes.push(`wrk read ${cacheHit.bytesPerResponse} B per response from the rescue server, less than the 10 KB file: not every response was the file`);
      return { ceiling: { ...ceiling, cpuCoresAtMax: cpuByRate.get(ceiling.maxRps) }, nginx: nginxWrk, cacheHit, rescueUrl, notes };
    } finally {
      stopTrickle.abort();
      await trickle?.catch(() => undefined);
      await origin?.stop();
      await node.stop();
    }
  } finally {
    await nginx.stop();
    loose.delete(nginx.child);
    nginx = undefined;
  }
}

/** Keeps the loopback origin over its capacity: 30 req/s of the 10 KB file in 2 s runs until `signal`. */
async function trickleLoad(siteUrl: string, file: LoadFile, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) await runLoad({ baseUrl: siteUrl, files: [file], phases: [{ rate: 30, seconds: 2 }], timeoutMs: 3_000, verify: 'size' }).catch(() => undefined);
}

try {
  await main();
  await cleanup();
  process.exit(0);
} catch (error) {
  // After Ctrl-C the killed load generator fails what was running: that is no error of its own.
  if (cleaning) {
    await cleaning;
    process.exit(130);
  }
  console.error(`bench:rescue: ${(error as Error).stack ?? error}`);
  await cleanup();
  process.exit(1);
}
