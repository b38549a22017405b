// Starts `peerdial node` (the built CLI, as a user runs it) in a child process and reads
// the UI URL and SIP contact it prints. Every test that needs a whole node uses this.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO_ROOT, 'bin/peerdial.js');

/**
 * The overlay's puzzles at 8 zero bits (256 hashes on average) for test nodes: real proofs, but
 * not the default's second of one core per fresh node. A test that sets a difficulty keeps it.
 */
export const TEST_DIFFICULTY = { idDifficulty: 8, nameDifficulty: 8 };

/** PEERDIAL_CHORD with the test difficulties added where it names none (left as it is when it is not JSON). */
export function withTestDifficulty(raw: string | undefined): string {
  try {
    return JSON.stringify({ ...TEST_DIFFICULTY, ...(raw ? (JSON.parse(raw) as object) : {}) });
  } catch {
    return raw ?? '';
  }
}

export interface NodeProcess {
  child: ChildProcess;
  dataDir: string;
  uiUrl: string;
  /** `sip:USER@127.0.0.1:PORT` when started with a user. */
  sipContact?: string;
  sipPort: number;
  output(): string;
  /** SIGTERM, and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function tempDataDir(prefix = 'peerdial-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Runs the CLI to completion (for flag errors and --help). */
export function runCli(args: string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`peerdial ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function startNode(options: { user?: string; dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? (await tempDataDir());
  const args = ['node', '--data-dir', dataDir, '--bind', '127.0.0.1', ...(options.user ? ['--user', options.user] : []), ...(options.args ?? [])];
  // Port 0: the node binds whatever port is free and prints it; a port picked here first could be
  // taken by another socket before the node binds it.
  if (!args.includes('--sip-port')) args.push('--sip-port', '0');
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env, PEERDIAL_CHORD: withTestDifficulty(options.env?.PEERDIAL_CHORD ?? process.env.PEERDIAL_CHORD) } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not become ready:\n${out}`)), 15_000);
    const check = () => {
      if (/^sip: .*$/m.test(out) && /^ui: .*$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before it was ready:\n${out}`));
    });
  });
  const uiUrl = /^ui: (\S+)$/m.exec(out)![1];
  const sipLine = /^sip: (\S+)/m.exec(out)![1];
  const sipContact = sipLine.startsWith('sip:') ? sipLine : undefined;
  const sipPort = Number(/:(\d+)(?:\s|$)/.exec(sipContact ?? /listening on \S+:(\d+)/.exec(out)![0])![1]);
  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return {
    child,
    dataDir,
    uiUrl,
    sipContact,
    sipPort,
    output: () => out,
    stop: () => terminate('SIGTERM'),
    kill: (signal = 'SIGKILL') => terminate(signal),
  };
}

/** A port free for both UDP and TCP on 127.0.0.1, for tests that must name one. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}
