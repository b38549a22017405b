// The command line's one parser, and the flags `peerdial node` and `peerdial origin` share.
// Every bad flag becomes a UsageError: one line that says what to change.
import { isIP } from 'node:net';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isHostPort } from '../roots/node-engine.js';

export class UsageError extends Error {}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
type FlagValue<F> = F extends { type: 'boolean' } ? boolean : F extends { multiple: true } ? string[] : string;
/** What a parse gives: each flag's value, undefined when the flag was not given. */
export type FlagValues<O> = { [K in keyof O]?: FlagValue<O[K]> };

/** Flags that mean the same in every command. */
export const SHARED_FLAGS = {
  'data-dir': { type: 'string' },
  'sip-port': { type: 'string' },
  bind: { type: 'string' },
  overlay: { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagOptions;

/**
 * Parses `args` against the shared flags plus the command's own, and checks the shared ones.
 * `command` is how the user typed it ("peerdial", "peerdial origin"), for the help hint.
 */
export function parseFlags<const O extends FlagOptions>(command: string, args: string[], own: O): FlagValues<typeof SHARED_FLAGS & O> {
  let values;
  try {
    values = parseArgs({ args, strict: true, allowPositionals: false, options: { ...SHARED_FLAGS, ...own } }).values;
  } catch (error) {
    const message = (error as Error).message;
    const ambiguous = /^Option '(--[\w-]+)[^']*' argument is ambiguous/.exec(message);
    if (ambiguous) {
      throw new UsageError(`${ambiguous[1]} needs a value before the next option (for a value that starts with a dash, write ${ambiguous[1]}=VALUE).`);
    }
    const first = message.split('\n')[0].replace(/\. To specify.*$/s, '').replace(/\.$/, '');
    throw new UsageError(`${first}. Run "${command} --help" for the options.`);
  }
  const v = values as FlagValues<typeof SHARED_FLAGS & O>;
  if (v.help) return v;
  if (v['data-dir'] === '') throw new UsageError('--data-dir needs a directory.');
  if (v.bind !== undefined && !isIP(v.bind)) throw new UsageError(`--bind must be an IP address such as 127.0.0.1 or 0.0.0.0 (got "${v.bind}").`);
  port(v['sip-port'], '--sip-port', { anyFree: true });
  if (v.overlay !== undefined && !/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(v.overlay)) {
    throw new UsageError(`--overlay must be a name of letters, digits, dots and dashes, such as "peerdial" or "office.example" (got "${v.overlay}").`);
  }
  for (const b of v.bootstrap ?? []) {
    if (!isHostPort(b)) throw new UsageError(`--bootstrap must be HOST:PORT, such as 192.0.2.10:5060 (got "${b}").`);
  }
  return v;
}

/** A port flag's value, or undefined when the flag was not given; `anyFree` lets 0 mean any free port. */
export function port(value: string | undefined, flag: string, options: { anyFree?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined;
  const lowest = options.anyFree ? 0 : 1;
  if (!/^\d+$/.test(value) || Number(value) < lowest || Number(value) > 65535) {
    throw new UsageError(`${flag} must be a port number from ${lowest} to 65535${options.anyFree ? ' (0: any free port)' : ''} (got "${value}").`);
  }
  return Number(value);
}

/** `[ADDRESS]:PORT` (`:80`, `127.0.0.1:8081`, `[::1]:80`); an empty address is `defaultHost`. */
export function listenAddress(value: string, flag: string, defaultHost: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const host = m ? (m[1] ?? m[2] ?? '') || defaultHost : '';
  const portNumber = m ? Number(m[3]) : NaN;
  if (!m || portNumber > 65535 || (host !== defaultHost && !isIP(host) && host !== 'localhost')) {
    throw new UsageError(`${flag} must be [ADDRESS]:PORT, such as :80 or 127.0.0.1:8081 (got "${value}").`);
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: portNumber };
}

/** The data dir as an absolute path: the flag's, or the command's default. */
export function dataDir(value: string | undefined, fallback: string): string {
  return path.resolve(value ?? fallback);
}

/** Runs a command, turning its UsageError into one line on stderr and exit code 2. */
export async function runCommand(prefix: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${prefix}: ${error.message}\n`);
    return 2;
  }
}
