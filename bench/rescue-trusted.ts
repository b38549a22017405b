// Trusted rescue in the rescue benchmark (issue 18 items 3 and 4), in the same namespaces as the
// K runs: K = 0 (the origin alone) against K = 10 rescuers the site pinned by key.
//   dynamic:      a small app in the origin's namespace (test/support/dynamic-app.ts) whose every
//                 page is one query on its single database connection (QUERY_MS each) and says
//                 max-age=0; a read-heavy mix (99% GET /api/items/N over ITEMS items, 1% POST
//                 that changes one item and purges it and the list pages at every trusted
//                 rescuer); `peerdial origin --dynamic /api/ --trusted-rescuer KEY ...`.
//   httpsTrusted: the static site (nginx, the same file mix) served over HTTPS by `peerdial origin
//                 --tls-cert ...`, each rescuer pinned as rN.rescue.bench.test with a certificate
//                 the origin issues it from a CA made for the run; the load generator trusts only
//                 that CA and resolves the names itself, and follows the redirects over HTTPS.
// improvementAt10 is maxRps[10] / maxRps[0] of each, by the same ramp and pass rule as the K runs.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { OriginView } from '../native/services/rescue/rescue-view.js';
import { issueRescueCertificate, makeRescueCa, makeRescueTlsKey, certificatePem } from '../native/wire/rescue/rescue-certificate.js';
import type { LoadFile } from './rescue-load.js';
import { spawnIn, type RescueHost } from './rescue-netns.js';
import type { Site } from './rescue-nginx.js';
import { rescueNodeArgs, startPeerdial, type CpuMeter, type LoadWorker, type Peerdial } from './rescue-processes.js';
import { ramp, type Ramp, type StepRecord } from './rescue-ramp.js';
import { originSummary } from './rescue-report.js';
import { CAP_MBIT, log, ORIGIN_SITE_PORT, ORIGIN_STATUS_PORT, PER_K_MS, REPO, round, sleep, STEP_S, TIMEOUT_MS } from './rescue-run.js';

export const QUERY_MS = 5;
export const ITEMS = 200;
const APP_PORT = 8091;
const TLS_PORT = 443;
const SITE_NAME = 'www.bench.test';
const K = 10;
const WARMUP_S = 15;
export const DYNAMIC_BAND = '0.4-0.6';

export interface TrustedScenario {
  maxRps: { '0': number; '10': number };
  improvementAt10: number | null;
  target: string;
  met: boolean;
  runs: Array<{
    k: number;
    ramp: Ramp;
    startupSeconds: number;
    /** K > 0: the crowd before the ramp that engages the rescuers (not counted in maxRps). */
    warmup?: { rps: number; seconds: number; success: number; p95Ms: number; redirectedShare: number; firstRedirectedMs?: number };
  }>;
  notes: string[];
}

interface Context {
  originHost: RescueHost;
  rescuers: RescueHost[];
  client: LoadWorker;
  site: Site;
  meter: CpuMeter;
  dir(name: string): Promise<string>;
}

/** The read-heavy dynamic mix: 99 reads (uniform over the items) to 1 write. */
function dynamicMix(): LoadFile[] {
  const files: LoadFile[] = [];
  for (let i = 0; i < 99 * 4; i++) files.push({ path: `/api/items/${i % ITEMS}`, size: 0 });
  for (let i = 0; i < 4; i++) files.push({ path: `/api/items/${(i * 53) % ITEMS}`, size: 0, method: 'POST', body: `written-${i}` });
  return files;
}

async function startRescuers(ctx: Context, k: number, tag: string): Promise<Peerdial[]> {
  const ready = { ready: /peerdial node is ready/, keys: ['rescue', 'rescue key'] };
  return Promise.all(ctx.rescuers.slice(0, k).map(async (r, i) => startPeerdial(r.ns, [...rescueNodeArgs(await ctx.dir(`${tag}-r${i + 1}`), `r${i + 1}`, r.address, 5060, CAP_MBIT), '--no-mdns'], ready)));
}

async function runScenario(
  ctx: Context,
  name: string,
  options: {
    originArgs(nodes: Peerdial[]): string[];
    baseUrl: string;
    files: LoadFile[];
    verify: 'sha1' | 'status';
    tls?: { caPem: string; hosts: Record<string, string> };
    startRps: number;
  },
): Promise<TrustedScenario> {
  const maxRps = { '0': 0, '10': 0 };
  const runs: TrustedScenario['runs'] = [];
  const notes: string[] = [];
  for (const k of [0, K]) {
    const t0 = Date.now();
    const nodes = k ? await startRescuers(ctx, k, `${name}-k${k}`) : [];
    let origin: Peerdial | undefined;
    try {
      origin = await startPeerdial(ctx.originHost.ns, [...options.originArgs(nodes), '--data-dir', await ctx.dir(`${name}-k${k}-origin`)], { ready: /peerdial origin is ready/, keys: ['site', 'status', 'origin'] });
      const statusJson = `http://${ctx.originHost.address}:${ORIGIN_STATUS_PORT}/status.json`;
      const annotate = async (step: StepRecord) => {
        step.cpu = ctx.meter.read();
        try {
          const r = await ctx.client.get(statusJson, 3_000);
          if (r.status === 200) step.origin = originSummary(JSON.parse(r.body) as OriginView);
        } catch {
          // no figure for this step
        }
      };
      const startupSeconds = round((Date.now() - t0) / 1000, 1);
      log(`${name} K=${k}: ready in ${startupSeconds} s`);
      const start = k === 0 ? options.startRps : Math.max(options.startRps, maxRps['0'] * 0.8);
      let seed = 2000 + k;
      let warmup: TrustedScenario['runs'][number]['warmup'];
      if (k > 0) {
        // As the K runs' largest K meets its spike before its ramp: a crowd at twice what the
        // origin alone passed engages the rescuers and fills their caches (not counted), and the
        // ramp then measures what they carry, not how fast they start.
        const high = Math.round(Math.max(options.startRps, maxRps['0']) * 2);
        const w = await ctx.client.run({ baseUrl: options.baseUrl, files: options.files, phases: [{ rate: Math.round(start / 2), seconds: 3 }, { rate: high, seconds: WARMUP_S }], timeoutMs: TIMEOUT_MS, seed: seed++, verify: options.verify, ...(options.tls ? { tls: options.tls } : {}) });
        const phase = w.phases[1];
        warmup = { rps: high, seconds: WARMUP_S, success: phase.success, p95Ms: phase.latencyMs.p95, redirectedShare: phase.redirectedShare, firstRedirectedMs: phase.firstRedirectedMs };
        log(`${name} K=${k}: warm-up at ${high} req/s: success ${(phase.success * 100).toFixed(1)}% p95 ${phase.latencyMs.p95} ms, redirected ${(phase.redirectedShare * 100).toFixed(0)}%, first redirect after ${phase.firstRedirectedMs ?? '-'} ms`);
      }
      const r = await ramp({
        label: `${name} K=${k}`,
        run: async (rate) => (await ctx.client.run({ baseUrl: options.baseUrl, files: options.files, phases: [{ rate, seconds: STEP_S }], timeoutMs: TIMEOUT_MS, seed: seed++, verify: options.verify, ...(options.tls ? { tls: options.tls } : {}) })).phases[0],
        startRps: start,
        budgetMs: PER_K_MS,
        stepSeconds: STEP_S,
        annotate,
        before: () => ctx.meter.reset(),
        abort: () => ([origin, ...nodes].some((p) => p?.crash) ? 'a peerdial process exited during the step' : undefined),
      });
      if (r.stoppedBy === 'time budget') notes.push(`K=${k}: the ${PER_K_MS / 1000} s budget ran out before a step failed: maxRps is a lower bound`);
      maxRps[String(k) as '0' | '10'] = r.maxRps;
      runs.push({ k, ramp: r, startupSeconds, ...(warmup ? { warmup } : {}) });
      log(`${name} K=${k}: maxRps ${r.maxRps}, ${r.stoppedBy}`);
    } finally {
      await origin?.stop();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }
  const improvementAt10 = maxRps['0'] ? round(maxRps['10'] / maxRps['0']) : null;
  const goal = name === 'dynamic' ? 5 : 10;
  return { maxRps, improvementAt10, target: `>= ${goal}`, met: improvementAt10 !== null && improvementAt10 >= goal, runs, notes };
}

function siteOriginArgs(ctx: Context, upstream: string, capacity: string, nodes: Peerdial[]): string[] {
  return [
    'origin',
    '--upstream', upstream,
    '--listen', `${ctx.originHost.address}:${ORIGIN_SITE_PORT}`,
    '--capacity', capacity,
    '--bind', ctx.originHost.address,
    '--sip-port', '5060',
    '--status-listen', `${ctx.originHost.address}:${ORIGIN_STATUS_PORT}`,
    '--no-mdns',
    ...nodes.flatMap((_, i) => ['--rescuer', `${ctx.rescuers[i].address}:5060`]),
  ];
}

/** The dynamic mix through K=10 trusted rescuers against the origin alone. */
export async function dynamicPart(ctx: Context): Promise<TrustedScenario & { mix: Record<string, unknown> }> {
  const app: ChildProcess = spawnIn(ctx.originHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO, 'test/support/dynamic-app.ts'), String(APP_PORT), String(QUERY_MS), String(ITEMS)], { cwd: REPO });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the dynamic app did not start: ${out}`)), 20_000);
      app.stdout!.on('data', (d) => {
        out += d;
        if (/dynamic app ready/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      app.stderr!.on('data', (d) => (out += d));
      app.on('exit', (code) => reject(new Error(`the dynamic app exited (${code}): ${out}`)));
    });
    const files = dynamicMix();
    // One query of QUERY_MS at a time is 1000/QUERY_MS pages a second of ~3.1 KB: the egress the
    // app can make, which is what the site owner gives as --capacity for a database-bound site.
    const capacityMbit = round(((1000 / QUERY_MS) * 3_150 * 8) / 1e6, 1);
    const result = await runScenario(ctx, 'dynamic', {
      originArgs: (nodes) => [
        ...siteOriginArgs(ctx, `http://127.0.0.1:${APP_PORT}`, `${capacityMbit}mbit`, nodes),
        '--site', `http://${ctx.originHost.address}/`,
        // The load figure is egress against --capacity; for a database-bound site the owner keeps
        // the band lower, so queueing at the database starts after the redirects do.
        '--band', DYNAMIC_BAND,
        // Marked paths need pinned rescuers: the origin alone (K = 0) runs without both.
        ...(nodes.length ? ['--dynamic', '/api/'] : []),
        ...nodes.flatMap((n) => ['--trusted-rescuer', n.lines['rescue key']]),
      ],
      baseUrl: `http://${ctx.originHost.address}:${ORIGIN_SITE_PORT}`,
      files,
      verify: 'status',
      startRps: 60,
    });
    return {
      ...result,
      mix: {
        app: 'test/support/dynamic-app.ts: one database connection, each page one query',
        queryMs: QUERY_MS,
        items: ITEMS,
        itemBytes: 3_150,
        reads: 0.99,
        writes: 0.01,
        cacheControl: 'max-age=0',
        originCapacity: `${capacityMbit}mbit (the app's query-bound egress)`,
        band: DYNAMIC_BAND,
      },
    };
  } finally {
    app.kill('SIGTERM');
  }
}

/** The static site over HTTPS through K=10 trusted rescuers, each with a certificate for rN.rescue.bench.test. */
export async function httpsPart(ctx: Context): Promise<TrustedScenario> {
  const dir = await ctx.dir('tls');
  await mkdir(dir, { recursive: true });
  const ca = await makeRescueCa('Peerdial bench rescue CA');
  const siteKey = makeRescueTlsKey();
  const now = Date.now();
  const siteCert = await issueRescueCertificate({ ca, host: SITE_NAME, spki: siteKey.spki, notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const files = { caCert: path.join(dir, 'ca.pem'), caKey: path.join(dir, 'ca.key'), cert: path.join(dir, 'site.pem'), key: path.join(dir, 'site.key') };
  await writeFile(files.caCert, ca.certPem);
  await writeFile(files.caKey, ca.keyPem, { mode: 0o600 });
  await writeFile(files.cert, certificatePem(siteCert));
  await writeFile(files.key, siteKey.keyPem, { mode: 0o600 });
  const hosts: Record<string, string> = { [SITE_NAME]: ctx.originHost.address };
  ctx.rescuers.slice(0, K).forEach((r, i) => (hosts[`r${i + 1}.rescue.bench.test`] = r.address));
  const result = await runScenario(ctx, 'httpsTrusted', {
    originArgs: (nodes) => [
      ...siteOriginArgs(ctx, 'http://127.0.0.1:8080', `${CAP_MBIT}mbit`, nodes),
      '--site', `https://${SITE_NAME}/`,
      '--tls-cert', files.cert, '--tls-key', files.key, '--tls-listen', `${ctx.originHost.address}:${TLS_PORT}`,
      ...(nodes.length ? ['--rescue-ca-cert', files.caCert, '--rescue-ca-key', files.caKey] : []),
      ...nodes.flatMap((n, i) => ['--trusted-rescuer', `${n.lines['rescue key']}=r${i + 1}.rescue.bench.test`]),
    ],
    baseUrl: `https://${SITE_NAME}:${TLS_PORT}`,
    files: ctx.site.files,
    verify: 'sha1',
    tls: { caPem: ca.certPem, hosts },
    startRps: 20,
  });
  await sleep(500);
  return result;
}
