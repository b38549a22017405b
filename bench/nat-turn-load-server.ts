// The TURN server that bench/nat-turn-load.ts loads, alone in its own Node process so that its
// CPU can be read from /proc/PID/stat and one process stands for one core. It is a member's
// TurnRelayServer on loopback with a fixed test user (the `password` lookup), loopback peers
// allowed and the donation limits out of the way. It prints one JSON line, {"port": N}, when it
// listens; each "stats" line on stdin is answered with one line of counters and event-loop use; it stops when stdin
// closes (the bench ended, or died) or on SIGTERM.
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { TurnRelayServer } from '../native/services/nat/turn-relay-server.js';

const { values } = parseArgs({
  options: {
    address: { type: 'string', default: '127.0.0.1' },
    realm: { type: 'string', default: 'bench.peerdial.test' },
    user: { type: 'string', default: 'bench' },
    password: { type: 'string', default: 'bench-password' },
    'relay-min': { type: 'string', default: '49152' },
    'relay-max': { type: 'string', default: '65535' },
  },
});

const relay = new TurnRelayServer();
const { port } = await relay.start({
  address: values.address!,
  port: 0,
  realm: values.realm!,
  password: (username) => (username === values.user ? values.password : undefined),
  relayPorts: { min: Number(values['relay-min']), max: Number(values['relay-max']) },
  // uclient leaves its UDP allocations to expire, so a few runs pile up: the caps must not bite.
  policy: { allowedPeers: ['127.0.0.0/8'], maxAllocations: 1_000_000, maxAllocationsPerUser: 1_000_000, bandwidthBitsPerSecond: 0, dailyVolumeBytes: 0 },
  tcp: false,
});

let stopping: Promise<void> | undefined;
const stop = () => {
  // process.exit() after stop() also writes the --cpu-prof profile, when asked for.
  stopping ??= relay.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() !== 'stats') return;
  const { perAllocation: _, ...stats } = relay.stats();
  // How busy the event loop has been since the start: the share of time not waiting for I/O,
  // system calls included, which is what "this one thread is full" means.
  const { idle, active } = performance.eventLoopUtilization();
  process.stdout.write(JSON.stringify({ stats, loop: { idleMs: idle, activeMs: active } }) + '\n');
});
lines.on('close', stop);

process.stdout.write(JSON.stringify({ port }) + '\n');
