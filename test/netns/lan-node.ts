// `peerdial node` (the built CLI, as a user runs it) inside a namespace of a test LAN, with its
// control API reached through a relay started in the same namespace.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import type { CommandName, ParamsOf, ResultOf } from '../../native/control/api.js';
import { CLI, REPO_ROOT, withTestDifficulty } from '../support/node-process.js';
import { spawnIn, type LanHost } from './lan.js';

export interface LanNode {
  host: LanHost;
  /** What it printed: the UI URL, SIP contact, node ID. */
  uiUrl: string;
  nodeId: string;
  aor?: string;
  /** Milliseconds from spawn until it printed that it was ready. */
  readyAfterMs: number;
  invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>>;
  output(): string;
  stop(): Promise<void>;
  /** Kills the node at once (SIGKILL): no goodbye to anyone, as when a computer loses power. */
  kill(): Promise<void>;
}

const RELAY = path.join(REPO_ROOT, 'test/netns/control-relay.ts');

/** Starts the CLI in `host`'s namespace with `args` after `node`; resolves once it is ready and its relay is up. */
export async function startLanNode(host: LanHost, args: string[], env: NodeJS.ProcessEnv = {}): Promise<LanNode> {
  const started = Date.now();
  // The overlay's puzzles at the test difficulty, as for every test node (node-process.ts).
  const child = spawnIn(host.ns, process.execPath, [CLI, 'node', ...args], { env: { ...process.env, ...env, PEERDIAL_CHORD: withTestDifficulty(env.PEERDIAL_CHORD ?? process.env.PEERDIAL_CHORD) } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node in ${host.ns} did not become ready:\n${out}`)), 20_000);
    const check = () => {
      if (/^overlay: .*$/m.test(out) && /^ui: .*$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node in ${host.ns} exited with ${code} before it was ready:\n${out}`));
    });
  });
  const readyAfterMs = Date.now() - started;
  const uiUrl = /^ui: (\S+)$/m.exec(out)![1];
  const nodeId = /^overlay: .* node ([0-9a-f]{40})$/m.exec(out)![1];
  const aor = /^aor: (\S+)$/m.exec(out)?.[1];
  const relay = spawnIn(host.ns, process.execPath, ['--import', 'tsx', RELAY, uiUrl], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
  let relayErrors = '';
  relay.stderr!.on('data', (d) => (relayErrors += d));
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  createInterface({ input: relay.stdout! }).on('line', (line) => {
    const answer = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; error?: string };
    const waiting = pending.get(answer.id);
    pending.delete(answer.id);
    if (answer.ok) waiting?.resolve(answer.value);
    else waiting?.reject(new Error(answer.error));
  });
  let nextId = 1;
  const invoke = <N extends CommandName>(name: N, params: ParamsOf<N>) =>
    new Promise<ResultOf<N>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name} in ${host.ns} got no answer within 10 s ${relayErrors}`));
      }, 10_000);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as ResultOf<N>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      relay.stdin!.write(JSON.stringify({ id, command: name, params }) + '\n');
    });
  // The relay is up once it answers.
  await invoke('node.status', {});
  return {
    host,
    uiUrl,
    nodeId,
    aor,
    readyAfterMs,
    invoke,
    output: () => out,
    stop: async () => {
      relay.stdin!.end();
      await Promise.all([terminate(relay), terminate(child)]);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }
      relay.stdin!.end();
      await terminate(relay);
    },
  };
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
