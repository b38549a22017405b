// Zero configuration on a LAN: how long three fresh nodes on one bridge (network namespaces) take
// from start to one ring, for each way discovery can run. The LAN issue's target is 5 s; the
// tests only require that the ring forms. Writes bench/results/lan.json:
//   ringMs.<mode>: { p50, max, runs } over --runs runs (default 3), and the target.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { requireNetnsPrivileges } from '../test/netns/lan.js';
import { formLanRing, type RingOptions } from '../test/netns/lan-ring.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
  console.error(`bench:lan: --runs must be a whole number from 1 to 50 (got "${values.runs}")`);
  process.exit(2);
}
await requireNetnsPrivileges();

const MODES: Record<string, RingOptions> = {
  mdnsAndMulticast: {},
  multicastRegisterOnly: { blockMdns: true },
  mdnsOnly: { args: ['--no-multicast-register'] },
  multicastRegisterBoundToAddress: { blockMdns: true, bindToAddress: true },
};
const TARGET_MS = 5_000;

const ringMs: Record<string, { p50: number; max: number; runs: number[] }> = {};
for (const [mode, options] of Object.entries(MODES)) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ring = await formLanRing(options);
    times.push(ring.ringMs);
    await ring.stop();
    console.log(JSON.stringify({ mode, ringMs: ring.ringMs }));
  }
  const sorted = [...times].sort((a, b) => a - b);
  ringMs[mode] = { p50: sorted[Math.floor((sorted.length - 1) / 2)], max: sorted[sorted.length - 1], runs: times };
}

const report = {
  measuredAt: new Date().toISOString(),
  ringMs,
  targetMs: TARGET_MS,
  metTarget: Object.values(ringMs).every((r) => r.p50 <= TARGET_MS),
  conditions: 'three nodes, one bridge, fresh data directories, default Chord timers; from spawning the processes to one ring in ID order (successor and predecessor of each), polled every 50 ms',
};
const out = path.join('bench', 'results', 'lan.json');
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
