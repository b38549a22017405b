// `npm start` (after `npm run build`): the desktop app when Electron's runtime is installed,
// otherwise the headless node with the same UI in the browser. Extra arguments
// (`npm start -- --data-dir DIR`) go to whichever starts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FALLBACK_SENTENCE =
  "Electron's runtime is not available here, so Peerdial runs headless with the same UI in your browser: open the ui: address below.";

/**
 * The Electron executable if it is installed and runs, else undefined. Reads what the
 * `electron` package's installer wrote instead of requiring the package, because requiring
 * it starts a download when the binary is missing.
 */
export function electronRuntime() {
  let packageDir;
  try {
    packageDir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  let relative;
  try {
    relative = readFileSync(path.join(packageDir, 'path.txt'), 'utf8').trim();
  } catch {
    relative = undefined;
  }
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const executable = override ? path.join(override, relative || 'electron') : relative ? path.join(packageDir, 'dist', relative) : undefined;
  if (!executable || !existsSync(executable)) return undefined;
  const probe = spawnSync(executable, ['--version'], { encoding: 'utf8', timeout: 15_000, env: electronEnv() });
  return probe.status === 0 && /^v?\d+\./.test(probe.stdout.trim()) ? executable : undefined;
}

/** Without ELECTRON_RUN_AS_NODE, which would make Electron a plain Node and never open the app. */
function electronEnv() {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  return env;
}

/** Runs a child in its own process group and passes SIGINT/SIGTERM on once, then exits as it does. */
function runForwardingSignals(command, args, env = process.env) {
  // Detached on POSIX: a terminal's Ctrl-C then reaches only us, and we pass it on once;
  // otherwise the child would see it twice and take the second as "stop now, skip cleanup".
  const detached = process.platform !== 'win32';
  const child = spawn(command, args, { stdio: 'inherit', cwd: ROOT, detached, env });
  // Under `npm start` one Ctrl-C can reach us twice (from the terminal, and from npm passing it
  // on); pass one on, and another only when it comes later, from a user who insists.
  let lastForwarded = 0;
  const forward = (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (Date.now() - lastForwarded < 1_000) return;
    lastForwarded = Date.now();
    child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => forward(signal));
  child.on('error', (error) => {
    process.stderr.write(`peerdial: could not start ${command}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code) => process.exit(code ?? 1));
}

export function main(argv) {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  const electron = electronRuntime();
  if (electron) {
    runForwardingSignals(electron, [ROOT, ...args], electronEnv());
    return;
  }
  process.stdout.write(`${FALLBACK_SENTENCE}\n`);
  runForwardingSignals(process.execPath, [path.join(ROOT, 'bin/peerdial.js'), 'node', ...args]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
