// A private BitTorrent mainline DHT in a lab host's namespace (a public host of the NAT lab, a
// host of a test LAN): COUNT bittorrent-dht nodes on the host's address, in a process of their
// own (test/netns/private-dht-host.ts), so nodes on other networks reach it only through the lab's
// routes. Its bootstrap list is what `--dht-bootstrap` takes.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../support/node-process.js';
import { spawnIn, type LanHost } from './lan.js';

const SCRIPT = path.join(REPO_ROOT, 'test/netns/private-dht-host.ts');

export interface LabDht {
  /** HOST:PORT of its first nodes: a --dht-bootstrap list. */
  bootstrap: string[];
  output(): string;
  stop(): Promise<void>;
}

export async function startLabDht(host: LanHost, count = 60, readyMs = 30_000): Promise<LabDht> {
  const child: ChildProcess = spawnIn(host.ns, process.execPath, ['--import', 'tsx', SCRIPT, host.address, String(count)], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the private DHT in ${host.ns} was not ready within ${readyMs} ms:\n${out}`)), readyMs);
      const check = () => {
        const m = /^bootstrap: (.+)$/m.exec(out);
        if (!m) return;
        clearTimeout(timer);
        resolve(m[1]);
      };
      child.stdout!.on('data', check);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the private DHT in ${host.ns} exited with ${code ?? signal} before it was ready:\n${out}`));
      });
    });
    return { bootstrap: line.trim().split(/\s+/), output: () => out, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
