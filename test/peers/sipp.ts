// Runs sipp (Debian's sip-tester) with one of the scenarios beside this file, for the interop
// tests and the load benchmark. sipp writes its logs into the working directory, so every run
// gets a temporary one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCENARIOS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sipp');
export const INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s sip-tester, which provides sipp)';

/** Throws a sentence that says how to install sipp when it is missing. */
export function requireSipp(): string {
  const probe = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`sipp is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${INSTALL_HINT}`);
  const version = /SIPp v(\S+)/.exec(probe.stdout + probe.stderr)?.[1];
  if (!version) throw new Error(`\`sipp -v\` did not print a version: ${INSTALL_HINT}`);
  return version;
}

export interface SippRun {
  code: number | null;
  output: string;
  successful: number;
  failed: number;
}

export interface SippOptions {
  scenario: string;
  /** HOST:PORT for a client; omitted for a server. */
  remote?: string;
  localPort?: number;
  transport?: 'udp' | 'tcp';
  /** Username in the Request-URI ([service]). */
  service?: string;
  calls?: number;
  rate?: number;
  keys?: Record<string, string>;
  extraArgs?: string[];
  timeoutS?: number;
}

/** Starts sipp; `done` resolves when it exits. */
export function startSipp(options: SippOptions): { child: ChildProcess; done: Promise<SippRun>; stop(): void } {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'peerdial-sipp-'));
  const args = [
    ...(options.remote ? [options.remote] : []),
    '-sf', path.isAbsolute(options.scenario) ? options.scenario : path.join(SCENARIOS, options.scenario),
    '-i', '127.0.0.1',
    '-p', String(options.localPort ?? 0),
    '-t', options.transport === 'tcp' ? 't1' : 'u1',
    '-m', String(options.calls ?? 1),
    '-nostdin',
    '-timeout', `${options.timeoutS ?? 20}s`,
    '-recv_timeout', '10000',
    ...(options.service ? ['-s', options.service] : []),
    ...(options.rate ? ['-r', String(options.rate)] : []),
    ...Object.entries(options.keys ?? {}).flatMap(([k, v]) => ['-key', k, v]),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const done = new Promise<SippRun>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`could not run sipp (${e.message}): ${INSTALL_HINT}`)));
    child.on('exit', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, output, successful: statistic(output, 'Successful call'), failed: statistic(output, 'Failed call') });
    });
  });
  return { child, done, stop: () => child.kill('SIGUSR1') };
}

export function runSipp(options: SippOptions): Promise<SippRun> {
  return startSipp(options).done;
}

/** The "Cumulative" column of a line of sipp's final statistics screen. */
function statistic(output: string, label: string): number {
  const lines = output.split('\n').filter((l) => l.includes(label));
  const last = lines[lines.length - 1];
  if (!last) return 0;
  const numbers = last.split('|').map((cell) => Number(cell.trim())).filter((n) => Number.isFinite(n));
  return numbers.length ? numbers[numbers.length - 1] : 0;
}
