// What bench:rescue starts and measures: the load generator as a worker process, peerdial nodes
// and origins, CPU per namespace, and wrk.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { LoadResult, LoadRun } from './rescue-load.js';
import { spawnIn } from './rescue-netns.js';
import { CHORD, CLI, elapsed, killGroup, REPO, round, run, sleep, started, here } from './rescue-run.js';

// ---------------------------------------------------------------------------------------------
// The load generator as a worker process (inside the client namespace, or on loopback).

export class LoadWorker {
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
    if (!ns) run.loose.add(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const worker = new LoadWorker(child, () => err);
    run.workers.add(worker);
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
    run.workers.delete(this);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}


// ---------------------------------------------------------------------------------------------
// peerdial processes.

export interface Peerdial {
  child: ChildProcess;
  /** The lines it printed once ready, by key (`site`, `status`, `sip`, `origin`, `rescue`). */
  lines: Record<string, string>;
  output(): string;
  stop(): Promise<void>;
  /** Set when it exited without being asked to: how, and the last lines it printed. */
  crash?: { role: string; code: number | null; signal: string | null; atSeconds: number; tail: string[] };
}

export async function startPeerdial(ns: string | undefined, args: string[], need: { ready: RegExp; keys: string[] }): Promise<Peerdial> {
  const env = { ...process.env, PEERDIAL_CHORD: JSON.stringify(CHORD) };
  const child = ns ? spawnIn(ns, process.execPath, [CLI, ...args], { env }) : spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  if (!ns) run.loose.add(child);
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
      run.loose.delete(child);
    },
  };
  child.on('exit', (code, signal) => {
    if (stopping || run.cleaning) return;
    handle.crash = { role, code, signal, atSeconds: round((Date.now() - started) / 1000, 1), tail: out.trimEnd().split('\n').slice(-40) };
    console.error(`[${elapsed()}] peerdial ${role} exited unasked (${code ?? signal}); its last lines:\n  ${handle.crash.tail.join('\n  ')}`);
  });
  return handle;
}

export function rescueNodeArgs(dataDir: string, user: string, bind: string, sipPort: number, donateMbit: number, bootstrap?: string): string[] {
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
export function originCliState(): { ok: boolean; why?: string } {
  if (!existsSync(path.join(path.dirname(CLI), '../dist/native/cli/main.js'))) return { ok: false, why: 'the CLI is not built: run `npm run build` first' };
  const r = spawnSync(process.execPath, [CLI, 'origin', '--help'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 0 && /--upstream/.test(r.stdout + r.stderr)) return { ok: true };
  return { ok: false, why: `\`peerdial origin --help\` did not show the origin's options (exit ${r.status}): ${(r.stderr || r.stdout).split('\n')[0]}` };
}


// ---------------------------------------------------------------------------------------------
// CPU per namespace (what each role burned during a step), and the machine's.

export function ticksOf(pid: number): number {
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

export class CpuMeter {
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
  /**
   * Cores used per group since reset (1 = one core busy), and the machine's busy share. Groups
   * named `whole:part` (one rescuer of all of them) are details of another group: in `detail`,
   * not counted again.
   */
  read(): { cores: Record<string, number>; machineBusy: number; detail?: Record<string, number> } {
    const seconds = (Date.now() - this.at) / 1000;
    const hz = 100;
    const now = this.sample();
    const cores: Record<string, number> = {};
    const detail: Record<string, number> = {};
    for (const [name, ticks] of now) (name.includes(':') ? detail : cores)[name.replace(/^[^:]*:/, '')] = round(Math.max(0, ticks - (this.before.get(name) ?? 0)) / hz / seconds);
    const m = machineTicks();
    const machineBusy = (m.busy - this.machine.busy) / Math.max(1, m.total - this.machine.total);
    // What the rest of the machine took (other programs than this benchmark's): on a shared
    // machine, a reason a step may fail that is none of the system's doing.
    const ours = Object.values(cores).reduce((a, b) => a + b, 0);
    return { cores: { ...cores, others: round(Math.max(0, machineBusy * os.cpus().length - ours)) }, machineBusy: round(machineBusy), ...(Object.keys(detail).length ? { detail } : {}) };
  }
}

export function pidsIn(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return r.stdout.split(/\s+/).filter(Boolean).map(Number);
}


// ---------------------------------------------------------------------------------------------
// wrk

export interface WrkResult {
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
  /** The whole machine's busy share during the run (wrk, the server and the kernel's loopback work share its cores). */
  machineBusy?: number;
  /** okRps of each run of the three side-by-side pairs (the pair with the median ratio is the one reported). */
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
export async function runWrk(url: string, serverPid?: number): Promise<WrkResult> {
  const pids = serverPid ? withDescendants(serverPid) : [];
  const before = pids.reduce((a, p) => a + ticksOf(p), 0);
  const machineBefore = machineTicks();
  const t0 = Date.now();
  const child = spawn('wrk', ['-t1', '-c50', '-d10s', '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  run.loose.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  run.loose.delete(child);
  const serverCores = pids.length ? round((pids.reduce((a, p) => a + ticksOf(p), 0) - before) / 100 / ((Date.now() - t0) / 1000)) : undefined;
  const machineAfter = machineTicks();
  const machineBusy = round((machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total));
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
    machineBusy,
  };
}

