// `npm run bench:sip-server`: a Peerdial member as a SIP server beside Kamailio, both on
// loopback, driven by the same sipp scenarios in one run (bench/sipp/, bench/kamailio-sip-server.cfg):
//   register       REGISTER with digest authentication (401, then the answer, 200) per call
//   proxyMessage   MESSAGE proxied to a registered sipp UAS
//   callsPerSecond INVITE-180-200-ACK-BYE proxied to a registered sipp UAS (record-routed)
// Each scenario runs open loop at rising rates for a few seconds a step; its figure is the
// highest rate with every call successful. For Peerdial the UAS is the user's phone and the
// Request-URI the contact the node publishes for it (sip:alice@HOST:PORT;pdphone=ID), so the
// node proxies to the phone alone, as Kamailio proxies to the one contact of the AOR.
// A figure at the top step means the server did not fail there: its ceiling is higher.
// RSS: the node's own; Kamailio's sums its processes, which counts their shared memory once each.
// Writes bench/results/sip-server.json. Knobs: SIP_SERVER_STEP_SECONDS (default 5).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKamailio, requireKamailio } from '../test/peers/kamailio.js';
import { requireSipp, runSipp, startSipp } from '../test/peers/sipp.js';
import { controlOf } from '../test/support/control.js';
import { freePort, removeDir, startNode } from '../test/support/node-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = path.join(here, 'sipp');
const STEP_S = Number(process.env.SIP_SERVER_STEP_SECONDS ?? 5);
const STEPS = {
  register: [500, 1000, 2000, 3000, 3500, 4000, 5000, 6000, 8000, 10000, 12000],
  proxyMessage: [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 6000, 8000],
  callsPerSecond: [100, 200, 400, 500, 600, 700, 800, 1000, 1200, 1600, 2000, 2400],
};
type Scenario = keyof typeof STEPS;
const PASSWORD = 'bench-secret-8d2f';

interface Server {
  name: 'peerdial' | 'kamailio';
  address: string;
  pid: number;
  /** Credentials a phone registers with. */
  username: string;
  password: string;
  /** The Request-URI that reaches the registered UAS through this server. */
  ruri(): Promise<string>;
  stop(): Promise<void>;
}

interface StepResult {
  rate: number;
  successful: number;
  failed: number;
  rssMb?: number;
}

function rssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Kamailio's main process and its workers: their RSS together. */
function groupRssMb(pid: number): number {
  let total = 0;
  for (const line of readFileSync('/proc/' + pid + '/task/' + pid + '/children', 'utf8').trim().split(/\s+/).filter(Boolean)) total += rssMb(Number(line));
  return Math.round((total + rssMb(pid)) * 10) / 10;
}

async function registerContact(server: Server, contactPort: number): Promise<void> {
  const run = await runSipp({
    scenario: path.join(SCENARIOS, 'register-auth-load.xml'),
    remote: server.address,
    service: 'alice',
    localPort: await freePort(),
    keys: { domain: 'peerdial', contactport: String(contactPort) },
    extraArgs: ['-au', server.username, '-ap', server.password],
  });
  if (run.successful !== 1) throw new Error(`${server.name}: the UAS's registration failed:\n${run.output.slice(-2_000)}`);
}

/** Runs `scenario` at each rate until a step fails; the last clean step is the figure. */
async function ramp(server: Server, scenario: Scenario): Promise<{ best: number; steps: StepResult[]; rssMbAtBest?: number }> {
  const steps: StepResult[] = [];
  let uas: ReturnType<typeof startSipp> | undefined;
  let uasPort = await freePort();
  if (scenario !== 'register') {
    uas = startSipp({ scenario: path.join(SCENARIOS, scenario === 'proxyMessage' ? 'message-uas-load.xml' : 'call-uas-load.xml'), localPort: uasPort, calls: 100_000_000, timeoutS: 3_600, extraArgs: ['-max_recv_loops', '5000'] });
    await new Promise((r) => setTimeout(r, 300));
    await registerContact(server, uasPort);
  } else {
    uasPort = 5999;
  }
  const ruri = await server.ruri();
  let best = 0;
  let rssMbAtBest: number | undefined;
  try {
    for (const rate of STEPS[scenario]) {
      const calls = rate * STEP_S;
      const run = await runSipp({
        scenario: path.join(SCENARIOS, scenario === 'register' ? 'register-auth-load.xml' : scenario === 'proxyMessage' ? 'message-load.xml' : 'call-load.xml'),
        remote: server.address,
        service: 'alice',
        localPort: await freePort(),
        rate,
        calls,
        timeoutS: STEP_S + 30,
        keys: { domain: 'peerdial', contactport: String(uasPort), ruri },
        extraArgs: ['-au', server.username, '-ap', server.password, '-max_recv_loops', '5000', '-recv_timeout', '8000', '-default_behaviors', 'all,-abortunexp'],
      });
      const step: StepResult = { rate, successful: run.successful, failed: run.failed, rssMb: server.name === 'peerdial' ? rssMb(server.pid) : groupRssMb(server.pid) };
      steps.push(step);
      console.log(`${server.name} ${scenario} ${rate}/s: ${run.successful} ok, ${run.failed} failed, RSS ${step.rssMb} MB`);
      if (run.failed > 0 || run.successful < calls) {
        if (run.successful === 0) console.log(run.output.slice(-1_500));
        break;
      }
      best = rate;
      rssMbAtBest = step.rssMb;
    }
  } finally {
    uas?.stop();
    await uas?.done;
  }
  return { best, steps, rssMbAtBest };
}

async function peerdialServer(): Promise<Server> {
  // One sipp is one source: the per-source rate limit (which Kamailio here has not) is off.
  const node = await startNode({ user: 'alice', args: ['--no-mdns', '--no-multicast-register', '--no-relay', '--sip-rate-limit', '0', '--sip-method-limits', 'off'] });
  const control = controlOf(node);
  const phone = await control.invoke('phones.add', { name: 'bench' });
  return {
    name: 'peerdial',
    address: `127.0.0.1:${node.sipPort}`,
    pid: node.child.pid!,
    username: phone.username,
    password: phone.password,
    ruri: async () => `sip:alice@127.0.0.1:${node.sipPort};pdphone=${phone.phone.id}`,
    async stop() {
      control.close();
      await node.stop();
      await removeDir(node.dataDir);
    },
  };
}

async function kamailioServer(): Promise<Server> {
  const template = readFileSync(path.join(here, 'kamailio-sip-server.cfg'), 'utf8');
  const kamailio = await startKamailio({ config: (port) => template.replaceAll('@PORT@', String(port)).replaceAll('@PASSWORD@', PASSWORD), shmMb: 256 });
  return {
    name: 'kamailio',
    address: kamailio.address,
    pid: kamailio.pid,
    username: 'alice',
    password: PASSWORD,
    ruri: async () => 'sip:alice@peerdial',
    stop: () => kamailio.stop(),
  };
}

const sippVersion = requireSipp();
const kamailioVersion = requireKamailio();
const results: Record<Scenario, { peerdial: number; kamailio: number; ratio: number; steps: Record<string, StepResult[]> }> = {} as never;
let rssAtBest: number | undefined;
for (const scenario of Object.keys(STEPS) as Scenario[]) {
  const byServer: Record<string, { best: number; steps: StepResult[]; rssMbAtBest?: number }> = {};
  for (const make of [peerdialServer, kamailioServer]) {
    const server = await make();
    try {
      byServer[server.name] = await ramp(server, scenario);
    } finally {
      await server.stop();
    }
  }
  const p = byServer.peerdial;
  const k = byServer.kamailio;
  const top = STEPS[scenario][STEPS[scenario].length - 1];
  results[scenario] = { peerdial: p.best, kamailio: k.best, ratio: k.best ? Math.round((p.best / k.best) * 100) / 100 : 0, steps: { peerdial: p.steps, kamailio: k.steps } };
  if (k.best === top) console.log(`kamailio ${scenario}: clean at the top step (${top}/s); its ceiling is higher, the ratio an upper bound`);
  if (p.rssMbAtBest !== undefined) rssAtBest = Math.max(rssAtBest ?? 0, p.rssMbAtBest);
}

const report = {
  register: { peerdial: results.register.peerdial, kamailio: results.register.kamailio, ratio: results.register.ratio },
  proxyMessage: { peerdial: results.proxyMessage.peerdial, kamailio: results.proxyMessage.kamailio, ratio: results.proxyMessage.ratio },
  callsPerSecond: { peerdial: results.callsPerSecond.peerdial, kamailio: results.callsPerSecond.kamailio, ratio: results.callsPerSecond.ratio },
  rssMb: { peerdial: rssAtBest },
  /** Scenarios where Kamailio did not fail at the highest rate tried: its ceiling, and so the ratio's true value, is lower than shown for us. */
  kamailioCleanAtTopStep: (Object.keys(STEPS) as Scenario[]).filter((s) => results[s].kamailio === STEPS[s][STEPS[s].length - 1]),
  targets: { ratio: 0.5, rssMb: 300 },
  unit: 'calls/s with 0 failed, open loop, ' + STEP_S + ' s a step (register: one authenticated registration, two transactions)',
  steps: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.steps])),
  kamailio: { version: kamailioVersion, children: 4, config: 'bench/kamailio-sip-server.cfg' },
  sipp: sippVersion,
  nodeVersion: process.version,
  at: new Date().toISOString(),
};
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/sip-server.json'), JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify({ ...report, steps: undefined }, null, 2));
