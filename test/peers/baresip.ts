// A real softphone for the call interop tests: baresip, headless. It plays a WAV as its
// microphone (aufile), writes what it hears to a WAV (sndfile), and is driven over ctrl_tcp,
// which takes netstrings of JSON commands and sends back responses and events the same way.
// Everything lives in a temporary directory: config, accounts, recordings.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/node-process.js';
import { makeSelfSignedCertificate } from '../../native/wire/crypto/certificate.js';

export const BARESIP_INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s baresip-core)';
const MODULE_PATH = '/usr/lib/baresip/modules';

/** Throws a sentence that says how to install baresip when it is missing. */
export function requireBaresip(): string {
  const probe = spawnSync('baresip', ['-h'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`baresip is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${BARESIP_INSTALL_HINT}`);
  const version = /baresip v(\S+)/.exec(probe.stdout + probe.stderr)?.[1];
  if (!version) throw new Error(`\`baresip -h\` did not print a version: ${BARESIP_INSTALL_HINT}`);
  return version;
}

/** An event as ctrl_tcp reports it (CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED, CALL_DTMF_START, ...). */
export interface BaresipEvent {
  type: string;
  class?: string;
  direction?: 'incoming' | 'outgoing';
  peeruri?: string;
  id?: string;
  /** The digit for CALL_DTMF_START, the reason for CALL_CLOSED, the peer for most call events. */
  param?: string;
  /** When it arrived (Date.now()). */
  at: number;
}

interface CommandResponse {
  ok: boolean;
  data: string;
}

export interface BaresipOptions {
  user?: string;
  /** How an incoming call is answered: at once ('auto'), or when told to (`accept()`). */
  answerMode: 'auto' | 'manual';
  /** The WAV played as the microphone (8 kHz mono 16-bit). baresip hangs up when it ends: pad it with silence. */
  source: string;
  /**
   * Registers to a registrar instead of taking calls at its own address: the AOR, the digest
   * credentials and the outbound proxy (HOST:PORT) it sends everything through.
   */
  register?: { aor: string; username: string; password: string; proxy: string };
  /** Its contact list (the contact module): `message TEXT` goes to the first. */
  contacts?: string[];
  /** Media encryption (the account's `mediaenc`): SDES with the srtp module, or DTLS-SRTP. */
  mediaenc?: 'srtp' | 'srtp-mand' | 'dtls_srtp';
  /** Listen for SIP over TLS too (on the SIP port + 1), with a self-signed certificate. */
  tls?: boolean;
  /** Offer and take RTCP on the RTP port (RFC 5761); baresip's default is off. */
  rtcpMux?: boolean;
  /** The one codec it offers and takes (its opus or g722 module); PCMU and PCMA when not given. */
  codec?: 'opus' | 'G722';
  /** Its audio device rate (ausrc_srate, auplay_srate; default 8000): the source WAV's rate. */
  sampleRate?: number;
}

/** baresip's module and account `audio_codecs` for each codec: named NAME/RATE/CHANNELS as its module registers it (Opus opus/48000/2, G.722 G722/16000/1); a name it does not match makes it offer every codec it has. */
const CODEC_SETTINGS = {
  opus: { module: 'opus.so', codecs: 'opus/48000/2' },
  G722: { module: 'g722.so', codecs: 'G722/16000/1' },
};

export interface Baresip {
  /** Where to call it: sip:USER@127.0.0.1:PORT. */
  uri: string;
  /** With `tls`: where to call it over TLS. */
  tlsUri?: string;
  dir: string;
  events: BaresipEvent[];
  command(name: string, params?: string): Promise<CommandResponse>;
  dial(uri: string): Promise<void>;
  accept(): Promise<void>;
  hangup(): Promise<void>;
  /** RFC 4733 telephone-events, one per character, through the menu's `sndcode`. */
  sendDtmf(digits: string): Promise<void>;
  /** Resolves with the first event (already seen or still to come) of `type` that `matches`. */
  waitFor(type: string, matches?: (e: BaresipEvent) => boolean, ms?: number): Promise<BaresipEvent>;
  /** The digits reported by CALL_DTMF_START events, in order. */
  dtmfReceived(): string;
  /** The WAV sndfile wrote of what baresip received and decoded (its speaker), once a call ran. */
  receivedRecording(): string;
  output(): string;
  /** Quits baresip (which finalises its recordings) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A block of `count` consecutive UDP ports free on 127.0.0.1, for baresip's RTP/RTCP pairs. */
async function freeUdpRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 4_000);
    const sockets: dgram.Socket[] = [];
    let free = true;
    for (let port = base; port < base + count && free; port++) {
      const socket = dgram.createSocket('udp4');
      free = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, '127.0.0.1', () => resolve(true));
      });
      sockets.push(socket);
    }
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (free) return base;
  }
  throw new Error('found no free UDP port range for baresip RTP');
}

function config(options: { sipPort: number; ctrlPort: number; rtpBase: number; source: string; recordings: string; contacts: boolean; certificate?: string; mediaenc?: string; rtcpMux?: boolean; codec?: 'opus' | 'G722'; sampleRate?: number }): string {
  return [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${options.sipPort}`,
    'sip_transports udp',
    // `lo` is refused: baresip wants the address.
    'net_interface 127.0.0.1',
    `audio_source aufile,${options.source}`,
    // No sound card: the speaker is a null bridge, and sndfile taps the decoded stream.
    'audio_player aubridge,nil',
    'audio_alert aubridge,nil',
    `ausrc_srate ${options.sampleRate ?? 8000}`,
    `auplay_srate ${options.sampleRate ?? 8000}`,
    'ausrc_channels 1',
    'auplay_channels 1',
    `rtp_ports ${options.rtpBase}-${options.rtpBase + 9}`,
    ...(options.rtcpMux ? ['rtcp_mux yes'] : []),
    `snd_path ${options.recordings}`,
    `ctrl_tcp_listen 127.0.0.1:${options.ctrlPort}`,
    `module_path ${MODULE_PATH}`,
    'module g711.so',
    ...(options.codec ? [`module ${CODEC_SETTINGS[options.codec].module}`] : []),
    'module aufile.so',
    'module aubridge.so',
    'module sndfile.so',
    'module_tmp account.so',
    ...(options.contacts ? ['module contact.so'] : []),
    ...(options.mediaenc === 'dtls_srtp' ? ['module dtls_srtp.so'] : options.mediaenc ? ['module srtp.so'] : []),
    ...(options.certificate ? [`sip_certificate ${options.certificate}`] : []),
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    '',
  ].join('\n');
}

/** Splits ctrl_tcp's stream into netstrings (`LEN:PAYLOAD,`); returns the unconsumed rest. */
function takeNetstrings(buffer: Buffer, onPayload: (payload: string) => void): Buffer {
  for (;;) {
    const colon = buffer.indexOf(0x3a);
    if (colon < 0) return buffer;
    const length = Number(buffer.toString('latin1', 0, colon));
    if (!Number.isInteger(length)) throw new Error(`baresip ctrl_tcp sent a malformed netstring: ${buffer.toString('latin1', 0, 40)}`);
    const end = colon + 1 + length;
    if (buffer.length < end + 1) return buffer;
    onPayload(buffer.toString('utf8', colon + 1, end));
    buffer = buffer.subarray(end + 1);
  }
}

async function connectWithRetry(port: number, child: ChildProcess, output: () => string): Promise<net.Socket> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`baresip exited with ${child.exitCode}:\n${output()}`);
    const socket = await new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) return socket;
    if (Date.now() > deadline) throw new Error(`baresip's ctrl_tcp did not listen on ${port}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts baresip; when it exits at once because a port it wanted was taken meanwhile (exit 98:
 * it also binds TCP and TLS next to its SIP port, which freePort cannot reserve), tries again
 * with fresh ports.
 */
export async function startBaresip(options: BaresipOptions): Promise<Baresip> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startBaresipOnce(options);
    } catch (error) {
      if (attempt >= 3 || !/exited with 98/.test(String(error))) throw error;
    }
  }
}

async function startBaresipOnce(options: BaresipOptions): Promise<Baresip> {
  const user = options.user ?? 'baresip';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-baresip-'));
  const recordings = path.join(dir, 'recordings');
  await mkdir(recordings);
  const sipPort = await freePort();
  const ctrlPort = await freePort();
  const rtpBase = await freeUdpRange(10);
  const uri = `sip:${user}@127.0.0.1:${sipPort}`;
  let certificate: string | undefined;
  if (options.tls) {
    // libre reads the key and the certificate from one PEM file.
    const credentials = await makeSelfSignedCertificate(`baresip-${user}`);
    certificate = path.join(dir, 'cert.pem');
    await writeFile(certificate, credentials.keyPem + credentials.certPem);
  }
  await writeFile(path.join(dir, 'config'), config({ sipPort, ctrlPort, rtpBase, source: options.source, recordings, contacts: !!options.contacts?.length, certificate, mediaenc: options.mediaenc, rtcpMux: options.rtcpMux, codec: options.codec, sampleRate: options.sampleRate }));
  // regint=0: no registrar, calls go by direct URI. PCMU first, as most phones offer.
  const r = options.register;
  const codecs = options.codec ? CODEC_SETTINGS[options.codec].codecs : 'PCMU,PCMA';
  const account = r
    ? `<${r.aor}>;auth_user=${r.username};auth_pass=${r.password};outbound="sip:${r.proxy}";regint=600;answermode=${options.answerMode};audio_codecs=${codecs}`
    : `<${uri}>;regint=0;answermode=${options.answerMode};audio_codecs=${codecs}`;
  const mediaenc = options.mediaenc ? `;mediaenc=${options.mediaenc}` : '';
  await writeFile(path.join(dir, 'accounts'), account + mediaenc + '\n');
  await writeFile(path.join(dir, 'contacts'), (options.contacts ?? []).map((c) => `<${c}>\n`).join(''));

  // Line-buffered, so what it prints (a MESSAGE received, say) shows while it runs.
  const child = spawn('stdbuf', ['-oL', 'baresip', '-f', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.on('error', (e) => (out += `\nspawn error: ${e.message} (${BARESIP_INSTALL_HINT})`));
  const socket = await connectWithRetry(ctrlPort, child, () => out);

  const events: BaresipEvent[] = [];
  const eventWaiters = new Set<() => void>();
  const pending = new Map<string, { resolve(r: CommandResponse): void; reject(e: Error): void }>();
  let nextToken = 1;
  let buffer: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffer = takeNetstrings(Buffer.concat([buffer, chunk]), (payload) => {
      const message = JSON.parse(payload) as Record<string, unknown>;
      if (message.event) {
        events.push({ ...(message as unknown as BaresipEvent), at: Date.now() });
        eventWaiters.forEach((w) => w());
      } else if (message.response && typeof message.token === 'string') {
        pending.get(message.token)?.resolve({ ok: Boolean(message.ok), data: String(message.data ?? '') });
        pending.delete(message.token);
      }
    });
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('baresip closed its control connection'));
    pending.clear();
  });

  const command = (name: string, params = ''): Promise<CommandResponse> =>
    new Promise((resolve, reject) => {
      const token = String(nextToken++);
      const payload = Buffer.from(JSON.stringify({ command: name, params, token }));
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip did not answer the command ${name} ${params}:\n${out.slice(-2_000)}`));
      }, 5_000);
      pending.set(token, {
        resolve(r) {
          clearTimeout(timer);
          resolve(r);
        },
        reject(e) {
          clearTimeout(timer);
          reject(e);
        },
      });
      socket.write(Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(',')]));
    });
  const mustSucceed = async (name: string, params = '') => {
    const r = await command(name, params);
    if (!r.ok) throw new Error(`baresip refused ${name} ${params}: ${r.data}`);
  };

  const waitFor = (type: string, matches: (e: BaresipEvent) => boolean = () => true, ms = 10_000): Promise<BaresipEvent> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find((e) => e.type === type && matches(e));
        if (!found) return false;
        clearTimeout(timer);
        eventWaiters.delete(check);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        eventWaiters.delete(check);
        reject(new Error(`baresip reported no ${type} within ${ms} ms; events: ${events.map((e) => `${e.type}(${e.param ?? ''})`).join(' ')}`));
      }, ms);
      if (!check()) eventWaiters.add(check);
    });

  return {
    uri,
    ...(options.tls ? { tlsUri: `sip:${user}@127.0.0.1:${sipPort + 1};transport=tls` } : {}),
    dir,
    events,
    command,
    dial: (target) => mustSucceed('dial', target),
    accept: () => mustSucceed('accept'),
    hangup: () => mustSucceed('hangup'),
    sendDtmf: (digits) => mustSucceed('sndcode', digits),
    waitFor,
    dtmfReceived: () =>
      events
        .filter((e) => e.type === 'CALL_DTMF_START')
        .map((e) => e.param ?? '')
        .join(''),
    receivedRecording() {
      const decoded = readdirSync(recordings).filter((f) => f.endsWith('-dec.wav')).sort();
      if (!decoded.length) throw new Error(`baresip wrote no recording in ${recordings}`);
      return path.join(recordings, decoded[decoded.length - 1]);
    },
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // `quit` ends calls (sending BYE) and closes the sndfile recordings properly.
      // It may exit before it answers, so the answer is not awaited.
      command('quit').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      socket.destroy();
    },
  };
}
