// The overlay over real UDP on loopback: 50+ `peerdial node` processes with the default
// timings. Reports how long a node takes to join (until it is a member, registered and its
// successor is right), lookup latency as the engine measures it, and MESSAGE delivery latency by AOR.
import type { MessageView, OverlayStatus } from '../native/control/api.js';
import { controlOf, type NodeControl } from '../test/support/control.js';
import { removeDir, startNode, type NodeProcess } from '../test/support/node-process.js';

interface Running {
  user: string;
  proc: NodeProcess;
  control: NodeControl;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2)) : NaN;
};

async function poll<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

export async function overlayOverUdp(options: { nodes: number; lookups: number; messages: number; log: (m: string) => void }) {
  const running: Running[] = [];
  const joinMs: number[] = [];
  try {
    const first = await startNode({ user: 'u0' });
    running.push({ user: 'u0', proc: first, control: controlOf(first) });
    const bootstrap = `127.0.0.1:${first.sipPort}`;
    // Five at a time: joins overlap as they would in a real overlay, without starving two cores.
    for (let i = 1; i < options.nodes; i += 5) {
      const batch = Array.from({ length: Math.min(5, options.nodes - i) }, (_, k) => `u${i + k}`);
      await Promise.all(
        batch.map(async (user) => {
          const started = performance.now();
          const proc = await startNode({ user, args: ['--bootstrap', bootstrap] });
          const control = controlOf(proc);
          running.push({ user, proc, control });
          const joined = await poll(async () => {
            const s = await control.invoke('overlay.status', {});
            return s.role === 'member' && s.successors.length > 0 && s.registration.state === 'registered' ? s : undefined;
          }, 30_000);
          if (joined) joinMs.push(performance.now() - started);
        }),
      );
    }
    options.log(`udp: ${running.length} nodes started`);
    // Wait for a correct ring: every successor pointer names the next node by ID.
    const correct = await poll(async () => {
      const statuses: OverlayStatus[] = await Promise.all(running.map((r) => r.control.invoke('overlay.status', {})));
      const ids = statuses.map((s) => s.nodeId).sort();
      const ok = statuses.every((s) => s.successors[0]?.id === ids[(ids.indexOf(s.nodeId) + 1) % ids.length]);
      return ok ? true : undefined;
    }, 120_000);
    options.log(`udp: ring ${correct ? 'correct' : 'NOT correct after 120 s'}`);

    const lookupMs: number[] = [];
    let lookupFailures = 0;
    for (let i = 0; i < options.lookups; i++) {
      const from = running[i % running.length];
      const target = running[(i * 7 + 3) % running.length];
      try {
        const found = await from.control.invoke('overlay.lookup', { aor: target.user });
        if (found.contacts.length) lookupMs.push(found.ms);
        else lookupFailures++;
      } catch {
        lookupFailures++;
      }
    }

    const messageMs: number[] = [];
    let messageFailures = 0;
    for (let i = 0; i < options.messages; i++) {
      const from = running[(i * 3) % running.length];
      const to = running[(i * 11 + 5) % running.length];
      if (from === to) continue;
      const text = `bench ${i}`;
      const outcome = new Promise<MessageView | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 15_000);
        const stop = from.control.subscribe(undefined, (item) => {
          if (item.type !== 'message.updated' || (item.data as MessageView).text !== text) return;
          clearTimeout(timer);
          stop();
          resolve(item.data as MessageView);
        });
      });
      await new Promise((r) => setTimeout(r, 20)); // let the subscription's reset arrive first
      const started = performance.now();
      await from.control.invoke('im.send', { to: `sip:${to.user}@peerdial`, text });
      const done = await outcome;
      if (done?.status === 'delivered') messageMs.push(performance.now() - started);
      else messageFailures++;
    }
    return {
      nodes: running.length,
      processes: 'one `peerdial node` per node, loopback UDP, default Chord timings',
      ringCorrect: Boolean(correct),
      joinMsP50: percentile(joinMs, 50),
      joinMsP99: percentile(joinMs, 99),
      lookups: lookupMs.length + lookupFailures,
      lookupFailures,
      lookupMsP50: percentile(lookupMs, 50),
      lookupMsP99: percentile(lookupMs, 99),
      messages: messageMs.length + messageFailures,
      messageFailures,
      messageMsP50: percentile(messageMs, 50),
      messageMsP99: percentile(messageMs, 99),
    };
  } finally {
    for (const r of running) r.control.close();
    await Promise.all(running.map((r) => r.proc.stop().catch(() => undefined)));
    await Promise.all(running.map((r) => removeDir(r.proc.dataDir)));
  }
}
