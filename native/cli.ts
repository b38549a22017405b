// `peerdial`: the headless face. Every bad flag gets one line that says what to change.
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, VERSION } from './engine.js';

const HELP = `Peerdial ${VERSION}: a peer-to-peer SIP softphone.

Usage:
  peerdial node [options]     run a headless node with its UI served on 127.0.0.1
  peerdial --help             show this help
  peerdial --version          show the version

Options for "node":
  --data-dir DIR       where the identity, messages and settings live
                       (default: ${defaultDataDir()})
  --sip-port N         SIP port for UDP and TCP (default: 5060 when free, else any free port)
  --bind ADDR          address the SIP sockets listen on (default: 0.0.0.0, all IPv4 addresses)
  --ui-port N          port of the browser UI on 127.0.0.1 (default: the last one used, else any)
  --user NAME          create the identity NAME on first run, skipping the first-run screen
  --display-name TEXT  the display name for --user (default: NAME)

Once ready it prints the UI address (with its access token) and its SIP contact.
Stop it with Ctrl-C (SIGINT) or SIGTERM.
`;

class UsageError extends Error {}

export function defaultDataDir(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Peerdial');
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Peerdial');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'Peerdial');
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new UsageError(`${flag} must be a port number from 1 to 65535 (got "${value}").`);
  }
  return Number(value);
}

function parseNodeFlags(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        'data-dir': { type: 'string' },
        'sip-port': { type: 'string' },
        'ui-port': { type: 'string' },
        bind: { type: 'string' },
        user: { type: 'string' },
        'display-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify.*$/s, '').replace(/\.$/, '');
    throw new UsageError(`${message}. Run "peerdial --help" for the options.`);
  }
  const v = parsed.values;
  if (v.bind !== undefined && !isIP(v.bind)) throw new UsageError(`--bind must be an IP address such as 127.0.0.1 or 0.0.0.0 (got "${v.bind}").`);
  if (v['display-name'] !== undefined && v.user === undefined) throw new UsageError('--display-name goes with --user NAME.');
  if (v['data-dir'] === '') throw new UsageError('--data-dir needs a directory.');
  return {
    help: v.help ?? false,
    dataDir: path.resolve(v['data-dir'] ?? defaultDataDir()),
    sipPort: port(v['sip-port'], '--sip-port'),
    uiPort: port(v['ui-port'], '--ui-port'),
    bind: v.bind,
    user: v.user === undefined ? undefined : { userName: v.user, displayName: v['display-name'] },
  };
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (command !== 'node') {
    process.stderr.write(`peerdial: unknown command "${command}". Run "peerdial --help" for the commands.\n`);
    return 2;
  }
  let flags;
  try {
    flags = parseNodeFlags(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`peerdial: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let engine: Engine;
  try {
    engine = await Engine.start({
      dataDir: flags.dataDir,
      sipPort: flags.sipPort,
      uiPort: flags.uiPort,
      bind: flags.bind,
      user: flags.user,
      serveUi: true,
    });
  } catch (error) {
    process.stderr.write(`peerdial: ${startFailure(error, flags)}\n`);
    return 1;
  }
  // Handlers go in before the ready lines, so a signal right after them still stops cleanly.
  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals > 1) process.exit(130);
      // Stop in reverse order within 2 s, whatever a service does.
      setTimeout(() => process.exit(1), 2_000).unref();
      engine.stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const status = engine.status();
  process.stdout.write(
    [
      'peerdial node is ready',
      `ui: ${engine.uiUrl}`,
      engine.sipContact
        ? `sip: ${engine.sipContact}`
        : `sip: listening on ${status.sipAddress}:${status.sipPort} (no identity yet: open the UI to create one, or pass --user NAME)`,
      '',
    ].join('\n'),
  );
  await stopped;
  return 0;
}

function startFailure(error: unknown, flags: { sipPort?: number; uiPort?: number; bind?: string; dataDir: string }): string {
  const e = error as NodeJS.ErrnoException & { code?: string };
  if (e.code === 'PORT_IN_USE' && /^UI/.test(e.message)) return `${e.message}: pick another with --ui-port N, or leave it out to use any free port.`;
  if (e.code === 'PORT_IN_USE') return `${e.message}: pick another with --sip-port N, or leave it out to use any free port.`;
  if (e.code === 'EADDRNOTAVAIL') return `--bind ${flags.bind} is not an address of this machine: use one it has, or 0.0.0.0.`;
  if (e.code === 'EACCES' || e.code === 'EPERM') return `cannot use ${flags.dataDir} or a port below 1024 (${e.message}): pick another --data-dir or port.`;
  if ((e as { name?: string }).name === 'UserError') return `${e.message} (check --user)`;
  if (e.code === 'SQLITE_CANTOPEN' || e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') return `cannot open the database in ${flags.dataDir} (${e.message}): is --data-dir right?`;
  return `could not start: ${e.message ?? String(error)}`;
}
