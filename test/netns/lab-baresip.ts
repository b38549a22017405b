// baresip (a real softphone, headless) on a host of the NAT lab, with its ICE, STUN and TURN
// modules loaded, for interop calls through NATs. It plays a WAV as its microphone (aufile) and
// writes what it hears to a WAV (sndfile). Its control socket (ctrl_tcp: netstrings of JSON) is
// on loopback inside the host's namespace, which the test cannot reach: a small Node process in
// the same namespace carries that connection over its stdin and stdout.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnIn, type LanHost } from './lan.js';

const MODULE_PATH = '/usr/lib/baresip/modules';
const CTRL_PORT = 4444;
export const BARESIP_SIP_PORT = 5062;

/** Connects to ctrl_tcp (again every 100 ms until it listens) and pipes it to stdin/stdout. */
const CTRL_PIPE = `
const net = require('node:net');
const connect = () => {
  const socket = net.connect(${CTRL_PORT}, '127.0.0.1');
  socket.once('error', () => setTimeout(connect, 100));
  socket.once('connect', () => {
    socket.removeAllListeners('error');
    socket.on('error', () => process.exit(0));
    socket.on('close', () => process.exit(0));
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
  });
};
connect();`;

export interface BaresipEvent {
  type: string;
  class?: string;
  direction?: string;
  peeruri?: string;
  param?: string;
}

export interface LabBaresip {
  /** sip:USER@ADDRESS:5062, its address on its own network. */
  uri: string;
  events: BaresipEvent[];
  command(name: string, params?: string): Promise<{ ok: boolean; data: string }>;
  /** Resolves with the first event (seen already or still to come) of `type`. */
  waitFor(type: string, ms?: number): Promise<BaresipEvent>;
  /** The WAV sndfile writes of what baresip hears (decoded), once a call has audio. */
  receivedRecording(): string | undefined;
  output(): string;
  /** Quits baresip (ending its call, closing its recordings) and waits for it to exit. */
  stop(): Promise<void>;
  /** Removes its directory (config, recordings). */
  remove(): Promise<void>;
}

export interface LabBaresipOptions {
  user: string;
  /** The WAV it plays (8 kHz mono 16-bit); baresip hangs up when it ends. */
  source: string;
  /** Account parameters after the AOR, e.g. `;medianat=ice;stunserver=stun:HOST:PORT`. */
  account: string;
  /** Debug logging (`-v`): ICE pairs, checks and the selected pair. */
  verbose?: boolean;
  /** SIP transports it listens on (default `udp`). */
  transports?: string;
  /** Registers this AOR (e.g. sip:carol@example.test) instead of taking calls at its own address. */
  aor?: string;
  /** Loads the uuid module: an instance ID (+sip.instance), which RFC 5626 outbound (`sipnat=outbound`) needs. */
  instanceId?: boolean;
}

export function requireBaresipIce(): void {
  const probe = spawnSync('baresip', ['-h'], { encoding: 'utf8' });
  if (probe.error) throw new Error('baresip is not installed: run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s baresip-core)');
  for (const module of ['ice', 'stun', 'turn']) {
    const found = spawnSync('test', ['-f', path.join(MODULE_PATH, `${module}.so`)]);
    if (found.status !== 0) throw new Error(`baresip's ${module} module is missing from ${MODULE_PATH}`);
  }
}

/** Takes whole netstrings (`LEN:PAYLOAD,`) off the front of `buffer`; returns the rest. */
function takeNetstrings(buffer: Buffer, onPayload: (payload: string) => void): Buffer {
  for (;;) {
    const colon = buffer.indexOf(0x3a);
    if (colon < 0) return buffer;
    const end = colon + 1 + Number(buffer.toString('latin1', 0, colon));
    if (buffer.length < end + 1) return buffer;
    onPayload(buffer.toString('utf8', colon + 1, end));
    buffer = buffer.subarray(end + 1);
  }
}

export async function startLabBaresip(host: LanHost, options: LabBaresipOptions): Promise<LabBaresip> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-lab-baresip-'));
  const recordings = path.join(dir, 'recordings');
  await mkdir(recordings);
  const uri = `sip:${options.user}@${host.address}:${BARESIP_SIP_PORT}`;
  await writeFile(path.join(dir, 'config'), [
    'poll_method epoll',
    `sip_listen ${host.address}:${BARESIP_SIP_PORT}`,
    `sip_transports ${options.transports ?? 'udp'}`,
    `net_interface ${host.iface}`,
    `audio_source aufile,${options.source}`,
    'audio_player aubridge,nil',
    'audio_alert aubridge,nil',
    'ausrc_srate 8000',
    'auplay_srate 8000',
    'ausrc_channels 1',
    'auplay_channels 1',
    // One ICE component, as Peerdial offers (RTP and RTCP on one port, RFC 5761).
    'rtcp_mux yes',
    'rtp_ports 20000-20019',
    `snd_path ${recordings}`,
    `ctrl_tcp_listen 127.0.0.1:${CTRL_PORT}`,
    `module_path ${MODULE_PATH}`,
    'module g711.so',
    'module aufile.so',
    'module aubridge.so',
    'module sndfile.so',
    'module stun.so',
    'module turn.so',
    'module ice.so',
    ...(options.instanceId ? ['module_tmp uuid.so'] : []),
    'module_tmp account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    '',
  ].join('\n'));
  const account = options.aor ? `<${options.aor}>;regint=600` : `<${uri}>;regint=0`;
  await writeFile(path.join(dir, 'accounts'), `${account};answermode=auto;audio_codecs=PCMU,PCMA${options.account}\n`);
  await writeFile(path.join(dir, 'contacts'), '');

  const child = spawnIn(host.ns, 'timeout', ['-k', '5', '300', 'baresip', '-f', dir, ...(options.verbose ? ['-v'] : [])], { cwd: dir });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pipe: ChildProcess = spawnIn(host.ns, process.execPath, ['-e', CTRL_PIPE], { stdio: ['pipe', 'pipe', 'pipe'] });

  const events: BaresipEvent[] = [];
  const waiters = new Set<() => void>();
  const pending = new Map<string, (r: { ok: boolean; data: string }) => void>();
  let token = 1;
  let buffer: Buffer = Buffer.alloc(0);
  pipe.stdout!.on('data', (chunk: Buffer) => {
    buffer = takeNetstrings(Buffer.concat([buffer, chunk]), (payload) => {
      const message = JSON.parse(payload) as Record<string, unknown>;
      if (message.event) {
        events.push(message as unknown as BaresipEvent);
        waiters.forEach((w) => w());
      } else if (message.response && typeof message.token === 'string') {
        pending.get(message.token)?.({ ok: Boolean(message.ok), data: String(message.data ?? '') });
        pending.delete(message.token);
      }
    });
  });

  const command = (name: string, params = '') =>
    new Promise<{ ok: boolean; data: string }>((resolve, reject) => {
      const id = String(token++);
      const payload = Buffer.from(JSON.stringify({ command: name, params, token: id }));
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`baresip did not answer ${name} ${params}:\n${out.slice(-3000)}`));
      }, 10_000);
      pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      pipe.stdin!.write(Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(',')]));
    });

  const waitFor = (type: string, ms = 20_000) =>
    new Promise<BaresipEvent>((resolve, reject) => {
      const check = () => {
        const found = events.find((e) => e.type === type);
        if (!found) return false;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`baresip reported no ${type} within ${ms} ms; events: ${events.map((e) => `${e.type}(${e.param ?? ''})`).join(' ')}\n${out.slice(-4000)}`));
      }, ms);
      if (!check()) waiters.add(check);
    });

  const baresip: LabBaresip = {
    uri,
    events,
    command,
    waitFor,
    receivedRecording() {
      const decoded = readdirSync(recordings).filter((f) => f.endsWith('-dec.wav')).sort();
      return decoded.length ? path.join(recordings, decoded[decoded.length - 1]) : undefined;
    },
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // `quit` may exit before it answers.
        command('quit').catch(() => undefined);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      pipe.kill();
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  // Ready once ctrl_tcp answers.
  try {
    await Promise.race([command('reginfo'), exited.then(() => Promise.reject(new Error(`baresip exited:\n${out}`)))]);
  } catch (error) {
    await baresip.stop();
    await baresip.remove();
    throw error;
  }
  return baresip;
}
