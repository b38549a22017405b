// Starts `peerdial origin` (the built CLI, as a site owner runs it) in front of an upstream web
// server, reads the site, status and SIP addresses it prints, and reads its status JSON. The
// rescue tests (e2e, integration) use this for the web-site side of DotSlash.
import { spawn, type ChildProcess } from 'node:child_process';
import type { OriginView } from '../../native/control/api.js';
import { CLI, tempDataDir } from './node-process.js';

export interface OriginOptions {
  /** The web server the origin stands in front of, e.g. http://127.0.0.1:8080. */
  upstream: string;
  /** The site's egress capacity, e.g. '1mbit'. */
  capacity: string;
  /** LOW-HIGH, e.g. '0.3-0.6' (the CLI's default when left out). */
  band?: string;
  /** Rescue servers' SIP addresses (HOST:PORT) to ask directly. */
  rescuers?: string[];
  /** Overlay members (HOST:PORT) to find rescue servers through. */
  bootstrap?: string[];
  /** Where users reach the site; a free port on 127.0.0.1 when left out. */
  listen?: string;
  dataDir?: string;
  sipPort?: number;
  /** More flags, as given on the command line. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for "peerdial origin is ready" (ms). */
  readyMs?: number;
}

export interface OriginProcess {
  child: ChildProcess;
  dataDir: string;
  /** The site's URL as users reach it (the printed `site:` line). */
  siteUrl: string;
  /** The status page (the printed `status:` line). */
  statusUrl: string;
  /** The origin's SIP contact for the rescue protocol, when printed. */
  sipContact?: string;
  /** The origin's ID, when printed. */
  originId?: string;
  sipPort: number;
  /** The status page's JSON: what the site owner sees. */
  status(): Promise<OriginView>;
  output(): string;
  /** SIGTERM (the origin releases its rescuers first), and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The status JSON's address: the status URL with `status.json` appended. */
export function statusJsonUrl(statusUrl: string): string {
  return `${statusUrl}${statusUrl.endsWith('/') ? '' : '/'}status.json`;
}

export async function startOrigin(options: OriginOptions): Promise<OriginProcess> {
  const dataDir = options.dataDir ?? (await tempDataDir('peerdial-origin-'));
  // Port 0: the origin binds a free port itself (one picked here first could be taken meanwhile);
  // the site's port is read back from the printed `site:` line.
  const sipPort = options.sipPort ?? 0;
  const listen = options.listen ?? '127.0.0.1:0';
  const args = [
    'origin',
    '--upstream',
    options.upstream,
    '--listen',
    listen,
    '--capacity',
    options.capacity,
    ...(options.band ? ['--band', options.band] : []),
    ...(options.rescuers ?? []).flatMap((r) => ['--rescuer', r]),
    ...(options.bootstrap ?? []).flatMap((b) => ['--bootstrap', b]),
    '--data-dir',
    dataDir,
    '--sip-port',
    String(sipPort),
    '--bind',
    '127.0.0.1',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const readyMs = options.readyMs ?? 15_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peerdial origin did not become ready within ${readyMs} ms:\n${out}`));
    }, readyMs);
    const check = () => {
      if (/^peerdial origin is ready$/m.test(out) && /^site: \S+$/m.test(out) && /^status: \S+$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peerdial origin exited with ${code} before it was ready:\n${out}`));
    });
  });
  const siteUrl = /^site: (\S+)$/m.exec(out)![1];
  const statusUrl = /^status: (\S+)$/m.exec(out)![1];
  const sipContact = /^sip: (\S+)$/m.exec(out)?.[1];
  const originId = /^origin: (\S+)$/m.exec(out)?.[1];
  const boundSipPort = sipPort || Number(/:(\d+)(?:[;>]|$)/.exec(sipContact ?? '')?.[1] ?? 0);
  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return {
    child,
    dataDir,
    siteUrl,
    statusUrl,
    sipContact,
    originId,
    sipPort: boundSipPort,
    async status() {
      const response = await fetch(statusJsonUrl(statusUrl));
      if (!response.ok) throw new Error(`the origin's status page answered ${response.status}`);
      return (await response.json()) as OriginView;
    },
    output: () => out,
    stop: () => terminate('SIGTERM'),
    kill: (signal = 'SIGKILL') => terminate(signal),
  };
}
