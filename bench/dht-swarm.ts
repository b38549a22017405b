// A private BitTorrent mainline DHT of N bittorrent-dht nodes on loopback, in a child process of
// bench/dht.ts so that its nodes do not share the measured engines' event loop. Nodes join in
// waves of 50, each from 8 random nodes already up: when all bootstrap at once from a few seeds
// (test/support/private-dht.ts), the seeds' socket buffers overflow and at 1,000 nodes half the
// routing tables stay empty (measured: median 0 entries; with waves: median 60).
// Tells the parent over IPC { bootstrap, nodes, tableSizes } when all are ready; stops on 'stop'.
import DHT from 'bittorrent-dht';
import { verifyEd25519 } from '../test/support/private-dht.js';

const count = Number(process.argv[2] ?? 1_000);
const WAVE = 50;
const SEEDS = 4;
const host = '127.0.0.1';
const nodes: DHT[] = [];
const addresses: string[] = [];
const listen = (dht: DHT) => new Promise<void>((resolve) => dht.listen(0, host, () => resolve()));
const ready = (dht: DHT) => new Promise<void>((resolve) => ((dht as unknown as { ready: boolean }).ready ? resolve() : dht.once('ready', () => resolve())));
const portOf = (dht: DHT) => (dht.address() as { port: number }).port;

const startedAt = performance.now();
for (let i = 0; i < SEEDS; i++) {
  const dht = new DHT({ bootstrap: false, verify: verifyEd25519 });
  await listen(dht);
  nodes.push(dht);
  addresses.push(`${host}:${portOf(dht)}`);
}
for (const a of nodes) for (const b of nodes) if (a !== b) a.addNode({ host, port: portOf(b) });
while (nodes.length < count) {
  const wave: DHT[] = [];
  for (let i = 0; i < WAVE && nodes.length + wave.length < count; i++) {
    const from = new Set(Array.from({ length: 8 }, () => addresses[Math.floor(Math.random() * addresses.length)]));
    wave.push(new DHT({ bootstrap: [...from], verify: verifyEd25519 }));
  }
  await Promise.all(wave.map(async (dht) => (await listen(dht), await ready(dht))));
  for (const dht of wave) {
    nodes.push(dht);
    addresses.push(`${host}:${portOf(dht)}`);
  }
}
const tableSizes = nodes.map((n) => n.toJSON().nodes.length).sort((a, b) => a - b);
process.send!({ bootstrap: addresses.slice(0, SEEDS), nodes: nodes.length, startMs: Math.round(performance.now() - startedAt), tableSizes });
process.on('message', (message) => {
  if (message !== 'stop') return;
  void Promise.all(nodes.map((n) => new Promise<void>((resolve) => n.destroy(() => resolve())))).then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
