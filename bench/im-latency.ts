// IM benchmark: two engines on loopback UDP. Reports how long a MESSAGE takes from im.send to
// the recipient's message.added event and to the sender's "delivered", one at a time and
// with many in flight. Writes bench/results/im.json.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { MessageView } from '../native/control/api.js';
import { Engine } from '../native/roots/node-engine.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '2000' }, burst: { type: 'string', default: '200' }, out: { type: 'string', default: 'bench/results/im.json' } } });
const total = Number(values.messages);
const burst = Number(values.burst);

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3));
};

async function main() {
  const dirs = [await mkdtemp(path.join(os.tmpdir(), 'pd-bench-a')), await mkdtemp(path.join(os.tmpdir(), 'pd-bench-b'))];
  const alice = await Engine.start({ dataDir: dirs[0], bind: '127.0.0.1', user: { userName: 'alice' } });
  const bob = await Engine.start({ dataDir: dirs[1], bind: '127.0.0.1', user: { userName: 'bob' } });
  const sentAt = new Map<string, number>();
  const receivedMs: number[] = [];
  const deliveredMs: number[] = [];
  const deliveredAt = new Map<number, number>();
  const waiters = new Map<string, () => void>();
  bob.api.subscribe(undefined, (item) => {
    if (item.type !== 'message.added') return;
    const text = (item.data as MessageView).text;
    const t0 = sentAt.get(text);
    if (t0 !== undefined) receivedMs.push(performance.now() - t0);
  });
  alice.api.subscribe(undefined, (item) => {
    if (item.type !== 'message.updated') return;
    const m = item.data as MessageView;
    if (m.status !== 'delivered') return;
    deliveredAt.set(m.id, performance.now());
    const t0 = sentAt.get(m.text);
    if (t0 !== undefined) deliveredMs.push(performance.now() - t0);
    waiters.get(m.text)?.();
  });
  const send = (text: string) =>
    new Promise<void>((resolve) => {
      waiters.set(text, resolve);
      sentAt.set(text, performance.now());
      void alice.api.invoke('im.send', { to: bob.sipContact!, text });
    });

  for (let i = 0; i < total; i++) await send(`sequential ${i}`);
  const sequential = { received: [...receivedMs], delivered: [...deliveredMs] };
  receivedMs.length = 0;
  deliveredMs.length = 0;

  const t0 = performance.now();
  await Promise.all(Array.from({ length: burst }, (_, i) => send(`burst ${i}`)));
  const burstSeconds = (performance.now() - t0) / 1000;

  const report = {
    benchmark: 'im-latency',
    at: new Date().toISOString(),
    transport: 'udp',
    messages: total,
    receivedMsP50: percentile(sequential.received, 50),
    receivedMsP99: percentile(sequential.received, 99),
    deliveredMsP50: percentile(sequential.delivered, 50),
    deliveredMsP99: percentile(sequential.delivered, 99),
    burst: { messages: burst, seconds: Number(burstSeconds.toFixed(3)), perSecond: Math.round(burst / burstSeconds), deliveredMsP99: percentile(deliveredMs, 99) },
    lost: total + burst - sequential.delivered.length - deliveredMs.length,
  };
  await alice.stop();
  await bob.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  await mkdir(path.dirname(values.out!), { recursive: true });
  await writeFile(values.out!, JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
}

await main();
