// coturn's turnserver on loopback with one long-term user, for the TURN interop tests and the
// TURN benchmark: started under a deadline (a crashed run cannot leave it behind), ready once it
// answers a STUN Binding request, stopped and its directory removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface LoopbackCoturnOptions {
  host: string;
  realm: string;
  user: string;
  password: string;
  /** Its relay ports (coturn's default range otherwise). */
  relayPorts?: { min: number; max: number };
  /** Session lines (created, refreshed, deleted) in its log. */
  verbose?: boolean;
  /** More turnserver.conf lines. */
  extraConfig?: string[];
}

export interface LoopbackCoturn {
  server: { address: string; port: number };
  /** turnserver itself (not the `timeout` in front of it): the process to measure. */
  pid: number;
  /** What it printed and logged so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on `host` right now (coturn listens on both). */
export async function freeUdpTcpPort(host: string): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, host, resolve));
    const port = udp.address().port;
    const tcp = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, host, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (free) await new Promise((resolve) => tcp.close(resolve));
    if (free) return port;
  }
}

export async function startLoopbackCoturn(options: LoopbackCoturnOptions): Promise<LoopbackCoturn> {
  const { host } = options;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-coturn-'));
  const port = await freeUdpTcpPort(host);
  const logFile = path.join(dir, 'turn.log');
  const pidFile = path.join(dir, 'turn.pid');
  const conf = path.join(dir, 'turnserver.conf');
  await writeFile(conf, [
    `listening-ip=${host}`,
    `relay-ip=${host}`,
    `listening-port=${port}`,
    ...(options.relayPorts ? [`min-port=${options.relayPorts.min}`, `max-port=${options.relayPorts.max}`] : []),
    `realm=${options.realm}`,
    'lt-cred-mech',
    `user=${options.user}:${options.password}`,
    'fingerprint',
    'allow-loopback-peers',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-rfc5780',
    'no-tcp-relay',
    'simple-log',
    ...(options.verbose ? ['verbose'] : []),
    `userdb=${path.join(dir, 'turndb')}`,
    `log-file=${logFile}`,
    `pidfile=${pidFile}`,
    ...(options.extraConfig ?? []),
  ].join('\n') + '\n');
  const child: ChildProcess = spawn('timeout', ['-k', '5', '300', 'turnserver', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `turnserver exited with ${code ?? signal}`;
      resolve();
    }),
  );
  child.once('error', (error) => (exited = `turnserver could not start (is the coturn package installed?): ${error.message}`));
  const log = async () => `${output}${await readFile(logFile, 'utf8').catch(() => '')}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await answersBinding(host, port, () => exited, log);
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (!pid) throw new Error(`coturn wrote no pid file:\n${await log()}`);
    return { server: { address: host, port }, pid, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Sends a bare Binding request every 100 ms until one is answered (coturn opens TCP before UDP). */
async function answersBinding(host: string, port: number, exited: () => string | undefined, log: () => Promise<string>): Promise<void> {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, host, resolve));
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0);
  request.writeUInt32BE(0x2112a442, 4);
  const answered = once(probe, 'message');
  const deadline = Date.now() + 10_000;
  const ask = setInterval(() => probe.send(request, port, host), 100);
  try {
    for (;;) {
      const done = await Promise.race([answered.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100))]);
      if (done) return;
      if (exited() || Date.now() > deadline) throw new Error(`coturn did not answer on ${host}:${port} (${exited() ?? 'no answer in 10 s'}):\n${await log()}`);
    }
  } finally {
    clearInterval(ask);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}
