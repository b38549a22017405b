// bench:rescue's DNS round robin part (issue 18 item 2): the same site, cap and K rescue nodes,
// but users arrive by the site's name. knot holds the zone (www.rescue.test -> the origin) and
// takes the origin's signed updates (`peerdial origin --dns-update`); unbound, in front of it,
// is the users' resolver (it caches by TTL and rotates the addresses it answers); the load
// generator, in a namespace whose resolv.conf names unbound, looks the name up for every request
// and connects to the first address. The rescue nodes run their rescue servers on port 80, the
// site's port, so the origin can add them to the name. The ramp is the other K's: the last rate
// that passes, against K=0's maxRps, gives dnsRoundRobin.improvementAt10.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OriginView } from '../native/services/rescue/rescue-view.js';
import { startLabDns } from '../test/netns/lab-dns.js';
import { startLabResolver } from '../test/netns/lab-resolver.js';
import type { LanHost } from '../test/netns/lan.js';
import type { LoadFile, PhaseResult } from './rescue-load.js';
import type { RescueHost, RescueNet } from './rescue-netns.js';
import type { Site } from './rescue-nginx.js';
import { LoadWorker, rescueNodeArgs, startPeerdial, type CpuMeter, type Peerdial } from './rescue-processes.js';
import { ramp, type Ramp, type StepRecord } from './rescue-ramp.js';
import { originSummary } from './rescue-report.js';
import { CAP_MBIT, flags, log, ORIGIN_STATUS_PORT, OUT, PER_K_MS, REPO, round, sleep, STEP_S, TIMEOUT_MS } from './rescue-run.js';

export const DNS_ZONE = 'rescue.test';
export const DNS_NAME = `www.${DNS_ZONE}`;

export interface DnsRoundRobinFigures {
  k: number;
  /** maxRps with K rescuers in the zone, users arriving by name. */
  maxRps: number;
  maxMbps: number;
  /** maxRps / the K=0 maxRps it is compared with. */
  improvementAt10: number | null;
  baselineRps: number | null;
  /** Where the K=0 figure came from: this run, or the report already in OUT. */
  baselineFrom: string;
  ttlSeconds: number;
  ramp: Ramp;
  /** What the origin's status page said at the end: the addresses in the zone, updates, what came by name. */
  originAtEnd?: { dns?: OriginView['dns']; byName: number; refusedHosts: number; redirected: number; requests: number };
  notes: string[];
}

/** A step, with what arrived at rescue servers by name and how many of them the zone held after it. */
type DnsStep = StepRecord & { rescuedByName?: number; addressesInZone?: number };

/** A RescueHost as the test LAN's DNS helpers take it. */
const lanHost = (h: RescueHost): LanHost => ({ ns: h.ns, address: h.address, iface: h.iface, bridge: 0 });

export async function dnsRoundRobinPart(input: {
  net: RescueNet;
  site: Site;
  originHost: RescueHost;
  rescuers: RescueHost[];
  k: number;
  meter: CpuMeter;
  baseline: { rps: number | undefined; from: string };
  dir(name: string): Promise<string>;
}): Promise<DnsRoundRobinFigures> {
  const { net, site, originHost, rescuers, k, meter } = input;
  const ttl = Number(flags['dns-ttl']);
  const notes: string[] = [];
  const dnsHost = await net.addHost('dns', { address: '10.78.0.3' });
  const resolverHost = await net.addHost('resolver', { address: '10.78.0.4' });
  const usersHost = await net.addHost('users', { address: '10.78.0.5' });
  const secret = Buffer.from(`bench rescue dns round robin ${process.pid}`).toString('base64');
  const key = { name: 'peerdial-origin', algorithm: 'hmac-sha256', secret };
  // The site's own record at the rescuers' TTL (docs/rescue.md: an RRset has one TTL), so resolvers see a change within it.
  const dns = await startLabDns(lanHost(dnsHost), { [DNS_ZONE]: `www ${ttl} A ${originHost.address}` }, { updateKeys: [{ ...key, zones: [DNS_ZONE] }] });
  const resolver = await startLabResolver(lanHost(resolverHost), { [DNS_ZONE]: dnsHost.address });
  const nodes: Peerdial[] = [];
  let origin: Peerdial | undefined;
  let users: LoadWorker | undefined;
  try {
    // The users' resolv.conf must be in place before their load generator starts (ip netns exec mounts it then).
    await resolver.serve([lanHost(usersHost)]);
    users = await LoadWorker.start(usersHost.ns);
    const keyFile = path.join(await input.dir('dns-key'), 'origin.key');
    await writeFile(keyFile, `key "${key.name}" {\n\talgorithm ${key.algorithm};\n\tsecret "${secret}";\n};\n`, { mode: 0o600 });

    log(`DNS round robin: ${k} rescue nodes on port 80, knot at ${dnsHost.address}, unbound at ${resolverHost.address}, TTL ${ttl} s`);
    const ready = { ready: /peerdial node is ready/, keys: ['rescue'] };
    const boot = `${rescuers[0].address}:5060`;
    nodes.push(await startPeerdial(rescuers[0].ns, [...rescueNodeArgs(await input.dir('dns-r1'), 'r1', rescuers[0].address, 5060, CAP_MBIT), '--rescue-port', '80'], ready));
    nodes.push(
      ...(await Promise.all(
        rescuers.slice(1, k).map(async (r, i) => startPeerdial(r.ns, [...rescueNodeArgs(await input.dir(`dns-r${i + 2}`), `r${i + 2}`, r.address, 5060, CAP_MBIT, boot), '--rescue-port', '80'], ready)),
      )),
    );
    await sleep(3_000 + 300 * k);
    origin = await startPeerdial(
      originHost.ns,
      [
        'origin',
        '--upstream', 'http://127.0.0.1:8080',
        '--listen', `${originHost.address}:80`,
        '--capacity', `${CAP_MBIT}mbit`,
        '--data-dir', await input.dir('dns-origin'),
        '--bind', originHost.address,
        '--sip-port', '5060',
        '--site', `http://${DNS_NAME}/`,
        '--status-listen', `${originHost.address}:${ORIGIN_STATUS_PORT}`,
        '--bootstrap', boot,
        '--dns-update', dnsHost.address,
        '--tsig-key-file', keyFile,
        '--dns-ttl', String(ttl),
      ],
      { ready: /peerdial origin is ready/, keys: ['site', 'status', 'origin', 'dns'] },
    );
    if (/cannot be updated/.test(origin.output())) throw new Error(`the origin cannot update the zone: ${/^dns: .*$/m.exec(origin.output())?.[0]}`);
    const statusJson = `http://${originHost.address}:${ORIGIN_STATUS_PORT}/status.json`;
    const originView = async () => {
      try {
        const r = await users!.get(statusJson, 3_000);
        return r.status === 200 ? (JSON.parse(r.body) as OriginView) : undefined;
      } catch {
        return undefined;
      }
    };
    const siteUrl = `http://${DNS_NAME}`;
    const probe = await users.run({ baseUrl: siteUrl, files: site.files.slice(0, 3), phases: [{ rate: 3, seconds: 1 }], timeoutMs: TIMEOUT_MS, byName: true });
    if (probe.phases[0].ok === 0) throw new Error(`users cannot reach ${siteUrl} by name: ${JSON.stringify(probe.phases[0].errors)}`);

    const start = (input.baseline.rps ?? (CAP_MBIT * 1e6) / 8 / site.mix.actual.mean) * 0.8;
    const byNameAt = new Map<number, number>();
    const stepRun = async (rate: number): Promise<PhaseResult> => {
      const phase = (await users!.run({ baseUrl: siteUrl, files: site.files as LoadFile[], phases: [{ rate, seconds: STEP_S }], timeoutMs: TIMEOUT_MS, seed: 2000 + k, byName: true })).phases[0];
      byNameAt.set(rate, phase.rescuedByName ?? 0);
      return phase;
    };
    const r = await ramp({
      label: `DNS K=${k}`,
      run: stepRun,
      startRps: start,
      budgetMs: PER_K_MS,
      stepSeconds: STEP_S,
      before: () => meter.reset(),
      annotate: async (step: DnsStep) => {
        step.cpu = meter.read();
        step.rescuedByName = byNameAt.get(step.rate);
        const view = await originView();
        if (view) {
          step.origin = originSummary(view);
          step.addressesInZone = view.dns?.addresses.length;
        }
      },
      abort: () => {
        const dead = [origin, ...nodes].filter((p) => p?.crash);
        return dead.length ? `${dead.map((p) => p!.crash!.role).join(', ')} exited during the step` : undefined;
      },
    });
    // On a shared machine other programs' CPU is a reason a step fails that is none of the system's doing: say how much there was.
    const others = r.steps.map((st) => st.cpu?.cores.others ?? 0);
    const meanOthers = others.length ? others.reduce((a, b) => a + b, 0) / others.length : 0;
    if (meanOthers > 0.25) notes.push(`the machine was shared: programs outside this benchmark used ${round(meanOthers)} of its ${os.cpus().length} cores on average over the ramp (${round(others[others.length - 1] ?? 0)} in the step that failed)`);
    if (r.stoppedBy === 'time budget') notes.push(`the ${PER_K_MS / 1000} s budget ran out before a step failed: maxRps is a lower bound`);
    const end = await originView();
    const baselineRps = input.baseline.rps ?? null;
    log(`DNS round robin K=${k}: maxRps ${r.maxRps} (${r.maxMbps} Mbit/s), ${r.stoppedBy}; against K=0 ${baselineRps ?? '?'} (${input.baseline.from})`);
    return {
      k,
      maxRps: r.maxRps,
      maxMbps: r.maxMbps,
      improvementAt10: baselineRps ? round(r.maxRps / baselineRps) : null,
      baselineRps,
      baselineFrom: input.baseline.from,
      ttlSeconds: ttl,
      ramp: r,
      originAtEnd: end ? { dns: end.dns, byName: end.totals.byName, refusedHosts: end.totals.refusedHosts, redirected: end.totals.redirected, requests: end.totals.requests } : undefined,
      notes,
    };
  } finally {
    users?.kill();
    await origin?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await resolver.stop().catch(() => undefined);
    await dns.stop().catch(() => undefined);
  }
}

/** `--dns-only`: puts the DNS figures into the report already in OUT, keeping every other key. */
export async function mergeDnsIntoReport(figures: DnsRoundRobinFigures): Promise<void> {
  if (!OUT) return;
  const file = path.resolve(REPO, OUT);
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // none yet
  }
  report.dnsRoundRobin = figures;
  report.targets = { ...((report.targets as Record<string, unknown> | undefined) ?? {}), dnsRoundRobin: dnsTarget(figures) };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  log(`wrote dnsRoundRobin into ${OUT} (other keys kept)`);
}

export function dnsTarget(figures: DnsRoundRobinFigures | undefined): { target: string; value: number | null; met: boolean } {
  const value = figures?.improvementAt10 ?? null;
  return { target: '>= 10', value, met: value !== null && value >= 10 };
}

/** The K=0 figure from the report already in OUT, for a --dns-only run that measures no K=0 of its own. */
export async function baselineFromReport(): Promise<number | undefined> {
  if (!OUT) return undefined;
  try {
    const report = JSON.parse(await readFile(path.resolve(REPO, OUT), 'utf8')) as { maxRps?: Record<string, number> };
    return report.maxRps?.['0'];
  } catch {
    return undefined;
  }
}
