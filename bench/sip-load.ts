// Transaction memory under load: sipp sends OPTIONS open loop at a fixed rate to a headless node
// (the built CLI) for ~20 s while the node's RSS is sampled every second from /proc. The
// transaction layer keeps completed server transactions for Timer J (32 s on UDP) but at most
// maxServerTransactions of them, so RSS should level off instead of growing with the run.
// Writes bench/results/sip-load.json. Knobs: SIP_LOAD_RATE (calls/s), SIP_LOAD_SECONDS,
// SIP_LOAD_TRANSPORT (udp|tcp).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireSipp, startSipp } from '../test/peers/sipp.js';
import { controlOf } from '../test/support/control.js';
import { removeDir, startNode } from '../test/support/node-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const rate = Number(process.env.SIP_LOAD_RATE ?? 4000);
// 40 s: past Timer J (32 s), so the run shows where memory settles, not only the climb.
const durationS = Number(process.env.SIP_LOAD_SECONDS ?? 40);
const transport = process.env.SIP_LOAD_TRANSPORT === 'tcp' ? 'tcp' : 'udp';

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

const sippVersion = requireSipp();
// The load is the point here: the per-source limits (--sip-method-limits) would refuse most of it.
const node = await startNode({ user: 'bob', args: ['--sip-method-limits', 'off'] });
const pid = node.child.pid!;
try {
  // The node's own count of server transactions, through its control API.
  const control = controlOf(node);
  let serverTransactionsPeak = 0;
  let evictedTransactions = 0;
  const samples: Array<{ t: number; rssMb: number }> = [];
  const started = Date.now();
  const sample = () => {
    samples.push({ t: Math.round((Date.now() - started) / 100) / 10, rssMb: rssMb(pid) });
    control
      .invoke('node.status', {})
      .then((s) => {
        serverTransactionsPeak = Math.max(serverTransactionsPeak, s.sip.serverTransactions);
        evictedTransactions = s.sip.evictedTransactions;
      })
      .catch(() => undefined);
  };
  sample();
  const sampler = setInterval(sample, 1_000);

  const sipp = startSipp({
    scenario: 'options-load.xml',
    remote: `127.0.0.1:${node.sipPort}`,
    transport,
    service: 'bob',
    rate,
    calls: rate * durationS,
    timeoutS: durationS + 40,
    extraArgs: ['-max_recv_loops', '5000', '-recv_timeout', '5000'],
  });
  const run = await sipp.done;
  // Keep sampling past the end of the load: Timer J lets the last transactions go after 32 s.
  await new Promise((r) => setTimeout(r, 5_000));
  clearInterval(sampler);
  sample();
  await new Promise((r) => setTimeout(r, 200));
  control.close();

  const during = samples.filter((s) => s.t <= (Date.now() - started) / 1000);
  const result = {
    rate,
    durationS,
    transport,
    successful: run.successful,
    failed: run.failed,
    rssStartMb: samples[0].rssMb,
    rssPeakMb: Math.max(...during.map((s) => s.rssMb)),
    rssEndMb: samples[samples.length - 1].rssMb,
    rssSamplesMb: samples.map((s) => s.rssMb),
    serverTransactionsPeak,
    evictedTransactions,
    sipp: sippVersion,
    nodeVersion: process.version,
    at: new Date().toISOString(),
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results/sip-load.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ ...result, rssSamplesMb: undefined }, null, 2));
  if (run.code !== 0 && run.successful === 0) {
    console.error(run.output.slice(-3_000));
    process.exitCode = 1;
  }
} finally {
  await node.stop();
  await removeDir(node.dataDir);
}
