// The load generator of the rescue benchmark (bench/rescue.ts): an open-loop HTTP client that
// sends GETs at a given rate whatever the server's answers (a flash crowd does not slow down
// because the site is slow), over node:http keep-alive agents, one per host. It follows 302
// redirects to other hosts (the origin's redirects to rescue servers), and records for every
// request whether it succeeded (200 with the expected body: length, and SHA-1 when asked),
// its latency from the moment it was due (not when it was sent: a late generator cannot hide
// the server's slowness) to the last byte of the final body, its bytes, and whether it came
// through a redirect.
//
// Used in-process (runLoad) or as a worker process (`node --import tsx bench/rescue-load.ts
// --serve`, e.g. inside the client namespace) that reads one JSON command per line on stdin and
// answers one JSON line on stdout: {id, op: 'run', run} | {id, op: 'get', url} | {id, op: 'quit'}.
import { createHash } from 'node:crypto';
import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../test/support/random.js';

export interface LoadFile {
  path: string;
  size: number;
  sha1?: string;
  /** A write (the dynamic mix): sent with `body`, to the site only (a POST is never redirected). */
  method?: 'POST';
  body?: string;
}

export interface LoadPhase {
  /** Requests per second. */
  rate: number;
  seconds: number;
}

export interface LoadRun {
  /** Where the files are, e.g. http://10.78.0.1:8000 (each file's path is resolved against it). */
  baseUrl: string;
  files: LoadFile[];
  /** Run back to back; a request belongs to the phase in which it was due. */
  phases: LoadPhase[];
  /** A request not done this long after it was due fails as "timeout" (default 5000 ms). */
  timeoutMs?: number;
  /** size: check the body's length; sha1: its length and SHA-1 (default); status: a 200 with a body (dynamic pages). */
  verify?: 'size' | 'sha1' | 'status';
  /** HTTPS: the only root to trust, and host names -> addresses (the bench has no DNS). */
  tls?: { caPem: string; hosts: Record<string, string> };
  /** Connections per host at most (default 512); requests beyond wait for one (their wait counts). */
  maxSockets?: number;
  seed?: number;
  /** Redirects followed per request at most (default 3). */
  maxRedirects?: number;
  /**
   * Users who reach the site by its name (DNS round robin): each request looks baseUrl's host up
   * through the system's resolver (in a namespace: its resolv.conf), connects to the first
   * address it answers, and sends the name as Host.
   */
  byName?: boolean;
}

export interface PhaseResult {
  rate: number;
  seconds: number;
  issued: number;
  ok: number;
  failed: number;
  /** ok / issued. */
  success: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Body bytes of the successful requests. */
  bytes: number;
  /** bytes * 8 / seconds / 1e6: the data rate that came through. */
  mbps: number;
  /** Body bytes that arrived while the phase ran (successful or not), as Mbit/s: what the path carried. */
  rxMbps: number;
  /** Successful requests served after a redirect, and their share of the successful ones. */
  redirected: number;
  redirectedShare: number;
  /** From the phase's start to the end of the first successful response that came through a redirect. */
  firstRedirectedMs?: number;
  /**
   * Successful requests by the way they were served, with their latency: straight from the site
   * (direct), or after a redirect from a rescue server's cache (rescueHit: X-Cache HIT or STALE)
   * or through it from the site (rescueMiss: MISS, REVALIDATED or no X-Cache).
   */
  byPath: Record<'direct' | 'rescueHit' | 'rescueMiss', { ok: number; p50: number; p95: number }>;
  /** Failures by reason. */
  errors: Record<string, number>;
  /** Successful requests by the host that sent the final body. */
  servedBy: Record<string, number>;
  /** With byName: successful requests a rescue server answered directly (by the site's name, no redirect). */
  rescuedByName?: number;
  /** How late the generator itself sent requests (p99 and max, ms): high values mean it was the bottleneck. */
  sendLagMs: { p99: number; max: number };
  /** Per second of the phase: requests due, and of those the ones that succeeded and came through a redirect. */
  timeline: Array<{ t: number; due: number; ok: number; redirected: number; failed: number }>;
}

export interface LoadResult {
  /** Date.now() when the first phase began. */
  startedAt: number;
  phases: PhaseResult[];
  /** Total wall time, including waiting for the last requests. */
  wallMs: number;
  /** CPU the generator used over the run, in cores (1 = one core busy). */
  cpuCores: number;
}

interface PhaseAcc {
  index: number;
  start: number;
  spec: LoadPhase;
  issued: number;
  ok: number;
  failed: number;
  latencies: number[];
  byPath: Record<'direct' | 'rescueHit' | 'rescueMiss', number[]>;
  lags: number[];
  bytes: number;
  rxBytes: number;
  redirected: number;
  rescuedByName: number;
  firstRedirected?: number;
  errors: Map<string, number>;
  servedBy: Map<string, number>;
  timeline: Array<{ t: number; due: number; ok: number; redirected: number; failed: number }>;
}

interface InFlight {
  due: number;
  phase: PhaseAcc;
  file: LoadFile;
  redirected: boolean;
  hops: number;
  bytes: number;
  req?: http.ClientRequest;
  done: boolean;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

export async function runLoad(run: LoadRun): Promise<LoadResult> {
  if (!run.files.length) throw new Error('runLoad: no files to request');
  const timeoutMs = run.timeoutMs ?? 5_000;
  const verify = run.verify ?? 'sha1';
  const maxRedirects = run.maxRedirects ?? 3;
  const random = seededRandom(run.seed ?? 1);
  const agents = new Map<string, http.Agent>();
  const hosts = run.tls?.hosts ?? {};
  // The bench's names resolve from the run's table (the certificate is still checked against the name).
  const lookup: LookupFunction = (hostname, options, callback) => {
    const address = hosts[hostname] ?? hostname;
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  };
  const agentFor = (url: URL) => {
    let agent = agents.get(url.host);
    if (!agent) {
      const common = { keepAlive: true, maxSockets: run.maxSockets ?? 512, maxFreeSockets: run.maxSockets ?? 512, scheduling: 'lifo' as const };
      agent = url.protocol === 'https:' ? new https.Agent({ ...common, ca: run.tls?.caPem, lookup }) : new http.Agent(common);
      agents.set(url.host, agent);
    }
    return agent;
  };
  const inFlight = new Set<InFlight>();
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  const startedAt = Date.now();

  const phases: PhaseAcc[] = [];
  let at = t0;
  for (const [index, spec] of run.phases.entries()) {
    phases.push({
      index,
      start: at,
      spec,
      issued: 0,
      ok: 0,
      failed: 0,
      latencies: [],
      byPath: { direct: [], rescueHit: [], rescueMiss: [] },
      lags: [],
      bytes: 0,
      rxBytes: 0,
      redirected: 0,
      rescuedByName: 0,
      errors: new Map(),
      servedBy: new Map(),
      timeline: Array.from({ length: Math.ceil(spec.seconds) }, (_, t) => ({ t, due: 0, ok: 0, redirected: 0, failed: 0 })),
    });
    at += spec.seconds * 1000;
  }
  const end = at;
  const phaseAt = (now: number) => {
    for (let i = phases.length - 1; i >= 0; i--) if (now >= phases[i].start) return now < phases[i].start + phases[i].spec.seconds * 1000 ? phases[i] : undefined;
    return undefined;
  };
  const slot = (f: InFlight) => f.phase.timeline[Math.min(f.phase.timeline.length - 1, Math.floor((f.due - f.phase.start) / 1000))];

  const finish = (f: InFlight, error?: string, host?: string, xCache?: string, via?: string) => {
    if (f.done) return;
    f.done = true;
    inFlight.delete(f);
    const now = performance.now();
    const p = f.phase;
    const s = slot(f);
    if (error) {
      p.failed++;
      s.failed++;
      p.errors.set(error, (p.errors.get(error) ?? 0) + 1);
      return;
    }
    p.ok++;
    s.ok++;
    p.latencies.push(now - f.due);
    p.byPath[!f.redirected ? 'direct' : /^(HIT|STALE)/i.test(xCache ?? '') ? 'rescueHit' : 'rescueMiss'].push(now - f.due);
    p.bytes += f.bytes;
    if (host) p.servedBy.set(host, (p.servedBy.get(host) ?? 0) + 1);
    if (!f.redirected && /peerdial-rescue/.test(via ?? '')) p.rescuedByName++;
    if (f.redirected) {
      p.redirected++;
      s.redirected++;
      if (p.firstRedirected === undefined) p.firstRedirected = now - p.start;
    }
  };

  const get = (f: InFlight, url: URL, address?: string) => {
    const write = f.file.method === 'POST' && f.hops === 0;
    // By name: to the address DNS gave, with the name as Host (one agent per address).
    const target = address ? new URL(url.href.replace(url.hostname, address)) : url;
    const headers: Record<string, string> = { 'user-agent': 'peerdial-rescue-load/1', accept: '*/*', ...(address ? { host: url.host } : {}) };
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(target, { method: write ? 'POST' : 'GET', agent: agentFor(target), headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (f.hops >= maxRedirects) return finish(f, 'too many redirects');
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          return finish(f, 'bad Location');
        }
        f.hops++;
        f.redirected = true;
        if (!f.done) get(f, next);
        return;
      }
      if (status !== 200) {
        res.resume();
        return finish(f, `status ${status}${f.redirected ? ' after redirect' : ''}`);
      }
      const hash = verify === 'sha1' && f.file.sha1 ? createHash('sha1') : undefined;
      res.on('data', (chunk: Buffer) => {
        f.bytes += chunk.length;
        const p = phaseAt(performance.now());
        if (p) p.rxBytes += chunk.length;
        hash?.update(chunk);
      });
      res.on('end', () => {
        if (verify === 'status' ? f.bytes === 0 : f.bytes !== f.file.size) return finish(f, `short body${f.redirected ? ' after redirect' : ''}`);
        if (hash && hash.digest('hex') !== f.file.sha1) return finish(f, `altered body${f.redirected ? ' after redirect' : ''}`);
        finish(f, undefined, target.host, String(res.headers['x-cache'] ?? ''), String(res.headers.via ?? ''));
      });
      res.on('error', (e: NodeJS.ErrnoException) => finish(f, e.code ?? e.message));
      res.on('aborted', () => finish(f, 'aborted'));
    });
    f.req = req;
    req.on('error', (e: NodeJS.ErrnoException) => finish(f, `${e.code ?? e.message}${f.redirected ? ' after redirect' : ''}`));
    req.end(write ? f.file.body : undefined);
  };

  const base = new URL(run.baseUrl);
  const fire = (due: number, phase: PhaseAcc) => {
    const file = run.files[Math.floor(random() * run.files.length)];
    const f: InFlight = { due, phase, file, redirected: false, hops: 0, bytes: 0, done: false };
    phase.issued++;
    slot(f).due++;
    phase.lags.push(performance.now() - due);
    inFlight.add(f);
    const url = new URL(file.path, base);
    if (!run.byName) return get(f, url);
    resolver.resolve4(url.hostname).then(
      (addresses) => (f.done ? undefined : addresses.length ? get(f, url, addresses[0]) : finish(f, 'DNS: no address')),
      (e: NodeJS.ErrnoException) => finish(f, `DNS: ${e.code ?? e.message}`),
    );
  };
  const resolver = new dns.Resolver({ timeout: 1_000, tries: 2 });

  // Requests past their deadline fail as "timeout"; checked a few times a second.
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const f of inFlight) {
      if (now - f.due > timeoutMs) {
        finish(f, 'timeout');
        f.req?.destroy();
      }
    }
  }, 100);

  // Open loop: each phase's requests are due at even intervals; each tick sends all that are due.
  await new Promise<void>((resolve) => {
    let phaseIndex = 0;
    let next = phases[0]?.start ?? end;
    const tick = () => {
      const now = performance.now();
      while (phaseIndex < phases.length) {
        const p = phases[phaseIndex];
        const phaseEnd = p.start + p.spec.seconds * 1000;
        if (p.spec.rate <= 0 || next >= phaseEnd) {
          phaseIndex++;
          next = phases[phaseIndex]?.start ?? end;
          continue;
        }
        if (next > now) break;
        fire(next, p);
        next += 1000 / p.spec.rate;
      }
      if (phaseIndex >= phases.length) return resolve();
      setTimeout(tick, Math.max(0, Math.min(next, end) - performance.now()));
    };
    tick();
  });
  // Wait for the last ones (each is bounded by the timeout).
  while (inFlight.size) await new Promise((r) => setTimeout(r, 20));
  clearInterval(sweeper);
  for (const agent of agents.values()) agent.destroy();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpuBefore);

  return {
    startedAt,
    wallMs: Math.round(wallMs),
    cpuCores: round((cpu.user + cpu.system) / 1000 / wallMs, 2),
    phases: phases.map((p) => {
      const sorted = p.latencies.sort((a, b) => a - b);
      const lags = p.lags.sort((a, b) => a - b);
      return {
        rate: p.spec.rate,
        seconds: p.spec.seconds,
        issued: p.issued,
        ok: p.ok,
        failed: p.failed,
        success: p.issued ? round(p.ok / p.issued, 4) : 1,
        latencyMs: {
          p50: round(quantile(sorted, 0.5)),
          p95: round(quantile(sorted, 0.95)),
          p99: round(quantile(sorted, 0.99)),
          max: round(sorted[sorted.length - 1] ?? 0),
          mean: round(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)),
        },
        bytes: p.bytes,
        mbps: round((p.bytes * 8) / p.spec.seconds / 1e6, 2),
        rxMbps: round((p.rxBytes * 8) / p.spec.seconds / 1e6, 2),
        redirected: p.redirected,
        redirectedShare: p.ok ? round(p.redirected / p.ok, 3) : 0,
        firstRedirectedMs: p.firstRedirected === undefined ? undefined : Math.round(p.firstRedirected),
        byPath: Object.fromEntries(
          Object.entries(p.byPath).map(([k, xs]) => {
            const sortedPath = xs.sort((a, b) => a - b);
            return [k, { ok: xs.length, p50: round(quantile(sortedPath, 0.5)), p95: round(quantile(sortedPath, 0.95)) }];
          }),
        ) as PhaseResult['byPath'],
        errors: Object.fromEntries(p.errors),
        servedBy: Object.fromEntries(p.servedBy),
        ...(run.byName ? { rescuedByName: p.rescuedByName } : {}),
        sendLagMs: { p99: round(quantile(lags, 0.99)), max: round(lags[lags.length - 1] ?? 0) },
        timeline: p.timeline,
      };
    }),
  };
}

/** One GET without following redirects (status pages, probes): status, headers, body as text. */
export function getOnce(url: string, timeoutMs = 5_000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { 'user-agent': 'peerdial-rescue-load/1', accept: '*/*' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 4 * 1024 * 1024) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), bytes: size }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

type Command = { id: number; op: 'run'; run: LoadRun } | { id: number; op: 'get'; url: string; timeoutMs?: number } | { id: number; op: 'quit' };

/** Worker mode: commands on stdin, answers on stdout, one JSON object per line. Runs one command at a time. */
async function serve(): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin });
  const send = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  send({ ready: true, pid: process.pid });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let command: Command;
    try {
      command = JSON.parse(line) as Command;
    } catch {
      send({ id: -1, ok: false, error: `not JSON: ${line.slice(0, 80)}` });
      continue;
    }
    if (command.op === 'quit') break;
    try {
      const result = command.op === 'run' ? await runLoad(command.run) : await getOnce(command.url, command.timeoutMs);
      send({ id: command.id, ok: true, result });
    } catch (error) {
      send({ id: command.id, ok: false, error: (error as Error).message });
    }
  }
  process.exit(0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--serve')) await serve();
