// A real SIP proxy for the call interop tests: Kamailio, stateful, record-routing every INVITE
// and loose-routing whatever comes back inside a dialog (RFC 3261 16.6 step 4, 16.12). It
// relays by Request-URI alone (no registrar), so a caller reaches a node by putting the node's
// own address in the Request-URI and sending the request to the proxy. Kamailio runs in the
// foreground from a config written to a temporary directory, one per test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/node-process.js';

export const KAMAILIO_INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s kamailio)';

/** Throws a sentence that says how to install Kamailio when it is missing. */
export function requireKamailio(): string {
  const probe = spawnSync('kamailio', ['-v'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`kamailio is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${KAMAILIO_INSTALL_HINT}`);
  const version = /kamailio (\d+\.\d+\.\d+)/.exec(probe.stdout + probe.stderr)?.[1];
  if (!version) throw new Error(`\`kamailio -v\` did not print a version: ${KAMAILIO_INSTALL_HINT}`);
  return version;
}

export interface Kamailio {
  port: number;
  /** The main process (its workers are its children). */
  pid: number;
  /** HOST:PORT, where requests for the proxy go. */
  address: string;
  /** The URI its Record-Route carries, without parameters. */
  uri: string;
  output(): string;
  /** SIGTERM to the main process (which stops its children), and wait until none is left. */
  stop(): Promise<void>;
}

/**
 * The routing logic: OPTIONS to the proxy itself is answered (the readiness probe); requests
 * with a To tag must carry a Route to us (loose_route), except the ACK of a non-2xx, which
 * belongs to a transaction we hold; initial INVITEs are record-routed and relayed to their
 * Request-URI.
 */
function config(port: number): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${port}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && uri == myself) { sl_send_reply("200", "OK"); exit; }
  if (has_totag()) {
    if (loose_route()) { route(RELAY); exit; }
    if (is_method("ACK")) { if (t_check_trans()) route(RELAY); exit; }
    sl_send_reply("404", "No Route to this proxy in an in-dialog request");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
  t_check_trans();
  if (is_method("INVITE")) record_route();
  if (uri == myself) { sl_send_reply("404", "This proxy has no users"); exit; }
  route(RELAY);
}
route[RELAY] {
  if (!t_relay()) sl_reply_error();
  exit;
}
`;
}

/** Resolves once the proxy answers an OPTIONS to itself with 200, polling every 100 ms. */
async function answersOptions(port: number, child: ChildProcess, output: () => string, timeoutMs = 10_000): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      const onExit = (code: number | null) => finish(new Error(`kamailio exited with ${code} before it answered OPTIONS:\n${output()}`));
      child.on('exit', onExit);
      socket.on('message', (data) => {
        if (/^SIP\/2\.0 200 /.test(data.toString('latin1'))) finish();
      });
      const probe = () => {
        if (Date.now() > deadline) return finish(new Error(`kamailio did not answer OPTIONS within ${timeoutMs} ms:\n${output()}`));
        const callId = randomBytes(8).toString('hex');
        const options = [
          `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${callId}`,
          'Max-Forwards: 70',
          `From: <sip:probe@127.0.0.1:${local}>;tag=${callId}`,
          `To: <sip:127.0.0.1:${port}>`,
          `Call-ID: ${callId}@127.0.0.1`,
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
        socket.send(options, port, '127.0.0.1');
        timer = setTimeout(probe, 100);
      };
      probe();
    });
  } finally {
    socket.close();
  }
}

/** Whether any process is left in the group the main process led. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startKamailio(options: { port?: number; config?: (port: number) => string; shmMb?: number } = {}): Promise<Kamailio> {
  requireKamailio();
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-kamailio-'));
  const cfg = path.join(dir, 'kamailio.cfg');
  await writeFile(cfg, (options.config ?? config)(port));
  // -DD: stay in the foreground but still fork the workers; -E: log to stderr. Its own process
  // group, so that stop() can see whether any worker outlived the main process.
  const child = spawn('kamailio', ['-f', cfg, '-P', path.join(dir, 'kamailio.pid'), '-Y', dir, '-m', String(options.shmMb ?? 32), '-M', '4', '-DD', '-E'], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (e) => resolve(e));
  });
  if (spawned) throw new Error(`could not run kamailio (${spawned.message}): ${KAMAILIO_INSTALL_HINT}`);
  const pgid = child.pid!;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    // Kamailio's main process signals its workers before it exits; give stragglers a moment, then force them.
    for (let i = 0; i < 20 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 50));
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await answersOptions(port, child, () => out);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, pid: pgid, address: `127.0.0.1:${port}`, uri: `sip:127.0.0.1:${port}`, output: () => out, stop };
}
