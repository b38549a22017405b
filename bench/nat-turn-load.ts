// The TURN part of bench:nat's media section: how many relayed calls one member's TURN server
// carries on one core, and how its relaying throughput compares with coturn's under the same
// turnutils_uclient load.
//
// relayedCallsPerCore: the server (native/services/nat/turn-relay-server.ts) runs alone in a Node
// process (bench/nat-turn-load-server.ts), so that /proc/PID/stat gives its CPU and one process
// stands for one core. This process simulates N relayed G.711 calls: each is one allocation made
// by our TurnClient over UDP, with a permission and a channel to a "peer" UDP socket; every 20 ms
// the client sends a 172-byte RTP packet (12-byte header, 160 bytes of PCMU) through the relay to
// the peer, and the peer sends one back through the relay, each stream on its own 20 ms clock
// (two independent RTP streams, as in a call, not an echo). The 2N streams are spread evenly
// over the 20 ms. A packet is lost when it never arrives (or not within a second), and late when
// it arrives more than 40 ms after it was actually sent: the send time written into the packet is
// read from the clock just before the send call, so a generator that falls behind its schedule
// sends late but does not make the packet late (and a slot it misses by more than 20 ms is
// skipped, not sent in a catch-up burst). 40 ms is two packet times, what a small jitter buffer
// absorbs. N goes up step by step (10 s each) until lost + late reaches 1% (in two tries: the
// machine is shared) or the server's thread reaches ~100% of a core; the answer is the largest N
// under 1%. The generator's CPU, event-loop use, schedule lag and skips, the time each side
// waited for a CPU, and the kernel's receive-buffer drops at each side's sockets are reported
// beside the server's, so a step that failed because of the generator or of a busy machine
// shows it.
//
// turnThroughput: coturn's turnutils_uclient (-c: no RTCP allocations) with turnutils_peer echoing,
// the same load against our server, against a coturn started here on loopback with its default
// threads, and against one with a single relay thread (ours has one); all check the same fixed
// test user with the long-term mechanism (our server: the `password` lookup; coturn: `user=`).
// The load offers more than the servers relay on this machine, so what gets through is each
// server's throughput: echoed messages per second while uclient's sessions were all sending, read
// from its once-a-second progress lines (the brief's tot_recv_msgs / "Total transmit time" is
// reported too, but a server that loses anything pays uclient's 10 s wait for the missing
// answers in it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TurnClient } from '../native/proto/nat/turn-client.js';
import { now as wallClock, realTimers } from '../native/transport/clock.js';
import type { TransportAddress } from '../native/wire/stun/message.js';
import { freeUdpTcpPort, startLoopbackCoturn } from '../test/support/coturn.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..');
const HOST = '127.0.0.1';
const REALM = 'bench.peerdial.test';
const USER = 'bench';
const PASSWORD = 'bench-password';
/** Above Linux's ephemeral range (32768-60999): relay ports never collide with the generator's sockets. */
const RELAY_PORTS = { min: 61000, max: 64999 };
/** G.711 at 20 ms: a 12-byte RTP header and 160 samples. */
const PACKET_BYTES = 172;
const RTP_HEADER = 12;
const PTIME_MS = 20;
/** Receipts of packets sent in a window are awaited this long after it; later ones are lost. */
const GRACE_MS = 1000;
/** Histograms of milliseconds in 0.1 ms buckets, up to the grace. */
const BUCKETS = GRACE_MS * 10 + 1;
/** /proc/PID/stat counts CPU in clock ticks; Linux's USER_HZ is 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

export interface TurnLoadOptions {
  /** Calls at each step of the ramp. */
  steps?: number[];
  stepSeconds?: number;
  /** A packet arriving later than this after it was sent is late. */
  lateMs?: number;
  /** Stop at the first step whose lost + late reaches this fraction... */
  failFraction?: number;
  /** ...in each of 1 + retries tries. */
  retries?: number;
  /** turnutils_uclient's load: sessions, messages per session, ms between a session's messages. */
  uclient?: { sessions: number; messages: number; intervalMs: number };
  /** Runs the server processes with --cpu-prof, writing their profiles here. */
  profileDir?: string;
  /** Progress lines (default: stderr, so that stdout stays the JSON). */
  log?: (line: string) => void;
  /** Aborting stops every process and removes every file the measurement made; its promise then rejects. */
  signal?: AbortSignal;
}

export interface RelayedCallsStep {
  calls: number;
  lossFraction: number;
  lateFraction: number;
  /** The server process (all its threads), percent of one core. */
  serverCpuPercent: number;
  /** The server's JavaScript thread alone: at 100 it cannot do more. */
  serverMainThreadCpuPercent: number;
  /** The share of wall time the server's event loop was not waiting for I/O (0-1): at 1 its thread is full, whatever /proc charged it. */
  serverLoopUtilization: number;
  /** How much of the time the server's thread was ready to run but waited for a CPU: the machine, not the server, was short. */
  serverWaitingForCpuPercent: number;
  /** This process, the generator, percent of one core, and how busy its event loop was (0-1). */
  generatorCpuPercent: number;
  generatorLoopUtilization: number;
  generatorWaitingForCpuPercent: number;
  /** All processes on the machine, percent of one core (200 = two cores busy). */
  machineCpuPercent: number;
  /** What was neither the server nor the generator: other processes (other work on the machine, the kernel's ksoftirqd). */
  othersCpuPercent: number;
  packetsSent: number;
  lost: number;
  late: number;
  /** Datagrams the kernel dropped for a full receive buffer: at the server's listening socket, its relay ports, and the generator's sockets. */
  kernelDropsAtListener: number;
  kernelDropsAtRelayPorts: number;
  kernelDropsAtGenerator: number;
  transitMsP50: number;
  transitMsP99: number;
  /** How far behind its 20 ms schedule the generator sent (its own lateness, not counted against the server). */
  sendLagMsP99: number;
  /** Packets the generator did not send because it was more than 20 ms behind (not counted as sent or lost). */
  generatorSkipped: number;
  allocationsLost: number;
  /** 1, or 2 when the step was tried again after failing. */
  attempt: number;
}

export interface UclientRun {
  /** Echoed messages per second while every session was sending (the middle of the run). */
  messagesPerSecond: number;
  /** tot_recv_msgs / "Total transmit time": includes the 1-6 s over which sessions start and, after any loss, uclient's 10 s wait for answers. */
  overallMessagesPerSecond: number;
  sent: number;
  received: number;
  lossFraction: number;
  transmitSeconds: number;
  connectSeconds: number;
  /** The seconds of uclient's clock the middle of the run spans. */
  window: [number, number];
  /** Over that window, percent of one core: the server (all its threads), how long its threads waited for a CPU, uclient, turnutils_peer, and everything else on the machine. */
  serverCpuPercent: number;
  serverWaitingForCpuPercent: number;
  uclientCpuPercent: number;
  peerCpuPercent: number;
  othersCpuPercent: number;
}

export interface TurnLoadResult {
  relayedCallsPerCore: { calls: number; steps: RelayedCallsStep[]; note: string; lateRule: string; listenerReceiveBufferBytes?: number };
  turnThroughput: {
    peerdial: number;
    coturn: number;
    ratio: number;
    /** Each round's ratio, in the order run. */
    ratioRounds: number[];
    unit: string;
    load: string;
    /** coturn with one relay thread (relay-threads=0), as our server has one: throughput per core. */
    coturnOneRelayThread: number;
    ratioToOneRelayThread: number;
    runs: { peerdial: UclientRun; coturn: UclientRun; coturnOneRelayThread: UclientRun };
    note: string;
  };
}

const DEFAULTS = {
  steps: [50, 100, 200, 300, 400, 500, 600, 800, 1000],
  stepSeconds: 10,
  lateMs: 40,
  failFraction: 0.01,
  retries: 1,
  uclient: { sessions: 50, messages: 8000, intervalMs: 1 },
};

/** Both measurements, one after the other (about 3-4 minutes). */
export async function measureTurnLoad(options: TurnLoadOptions = {}): Promise<TurnLoadResult> {
  const relayedCallsPerCore = await measureRelayedCalls(options);
  options.signal?.throwIfAborted();
  const turnThroughput = await measureTurnThroughput(options);
  return { relayedCallsPerCore, turnThroughput };
}

export async function measureRelayedCalls(options: TurnLoadOptions = {}): Promise<TurnLoadResult['relayedCallsPerCore']> {
  const cleanup = new Cleanup(options.signal);
  try {
    return await relayedCallsPerCore(
      {
        steps: options.steps ?? DEFAULTS.steps,
        stepSeconds: options.stepSeconds ?? DEFAULTS.stepSeconds,
        lateMs: options.lateMs ?? DEFAULTS.lateMs,
        failFraction: options.failFraction ?? DEFAULTS.failFraction,
        retries: options.retries ?? DEFAULTS.retries,
        profileDir: options.profileDir,
        log: options.log ?? logToStderr,
      },
      cleanup,
    );
  } finally {
    await cleanup.run();
  }
}

export async function measureTurnThroughput(options: TurnLoadOptions = {}): Promise<TurnLoadResult['turnThroughput']> {
  const cleanup = new Cleanup(options.signal);
  try {
    return await turnThroughput(options.uclient ?? DEFAULTS.uclient, options.profileDir, options.log ?? logToStderr, cleanup);
  } finally {
    await cleanup.run();
  }
}

const logToStderr = (line: string) => console.error(line);

// --- What must be undone, also on failure ------------------------------------------------------

class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private running: Promise<void> = Promise.resolve();

  /** Undoes everything as soon as `signal` aborts; whatever is started after that is undone at once and the measurement stops. */
  constructor(private readonly signal?: AbortSignal) {
    signal?.throwIfAborted();
    signal?.addEventListener('abort', () => void this.run().catch(() => {}), { once: true });
  }

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
    if (this.signal?.aborted) {
      void this.run().catch(() => {});
      this.signal.throwIfAborted();
    }
  }

  /** Last in, first out; every step runs even when one throws. A call during a run waits for it. */
  run(): Promise<void> {
    this.running = this.running
      .catch(() => {})
      .then(async () => {
        const errors: unknown[] = [];
        for (const step of this.steps.splice(0).reverse()) {
          try {
            await step();
          } catch (error) {
            errors.push(error);
          }
        }
        if (errors.length) throw new AggregateError(errors, 'bench cleanup failed');
      });
    return this.running;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** Ends a child (SIGTERM, then SIGKILL) and waits for it. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// --- CPU and drops, from /proc -----------------------------------------------------------------

/** utime + stime of a process (or, with `thread`, of one of its threads), in seconds. */
async function cpuSeconds(pid: number, thread?: number): Promise<number> {
  const file = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  // The command name in parentheses may hold spaces: fields are counted after its closing one.
  const fields = (await readFile(file, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Seconds a thread has spent runnable but waiting for a CPU (the scheduler's run queue). */
async function runQueueWaitSeconds(pid: number, thread = pid): Promise<number> {
  const [, waitNs] = (await readFile(`/proc/${pid}/task/${thread}/schedstat`, 'utf8')).trim().split(' ').map(Number);
  return waitNs / 1e9;
}

/** The same, summed over all of a process's threads. */
async function processRunQueueWaitSeconds(pid: number): Promise<number> {
  const threads = await readdir(`/proc/${pid}/task`);
  const waits = await Promise.all(threads.map((t) => runQueueWaitSeconds(pid, Number(t)).catch(() => 0)));
  return waits.reduce((a, b) => a + b, 0);
}

/** The first child of a process (the command a `timeout` runs). */
async function childOf(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const child = Number(text.trim().split(/\s+/)[0]);
  return child || undefined;
}

/**
 * CPU seconds of every process on the machine, by pid. (Not /proc/stat: in this VM its per-CPU
 * ticks lose much of the time spent in the network stack under UDP load, while the processes'
 * own counts add up.)
 */
async function processTimes(): Promise<Map<number, number>> {
  const times = new Map<number, number>();
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    pids.map(async (pid) => {
      const seconds = await cpuSeconds(Number(pid)).catch(() => undefined);
      if (seconds !== undefined) times.set(Number(pid), seconds);
    }),
  );
  return times;
}

/** CPU seconds all processes used between two snapshots; a process started meanwhile counts whole, one that ended is missed. */
function busyBetween(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, t] of after) seconds += t - (before.get(pid) ?? 0);
  return seconds;
}

/** Receive-buffer drops of this network namespace's IPv4 UDP sockets bound to 127.0.0.1, by port. */
async function udpDrops(): Promise<Map<number, number>> {
  const drops = new Map<number, number>();
  for (const line of (await readFile('/proc/net/udp', 'utf8')).split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13 || !fields[1].startsWith('0100007F:')) continue;
    const port = parseInt(fields[1].slice(9), 16);
    drops.set(port, (drops.get(port) ?? 0) + Number(fields[12]));
  }
  return drops;
}

function dropsAt(before: Map<number, number>, after: Map<number, number>, ports: Iterable<number>): number {
  let n = 0;
  for (const port of ports) n += Math.max(0, (after.get(port) ?? 0) - (before.get(port) ?? 0));
  return n;
}

// --- Our TURN server in its own process --------------------------------------------------------

interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** The server's event-loop time so far, busy and idle, in ms. */
  loop(): Promise<{ activeMs: number; idleMs: number }>;
  /** The kernel receive buffer its UDP listener got, as of the last loop() (capped by net.core.rmem_max). */
  receiveBufferBytes(): number | undefined;
  stop(): Promise<void>;
}

async function startServer(profileDir: string | undefined, cleanup: Cleanup): Promise<ServerProcess> {
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', path.join(here, 'nat-turn-load-server.ts'), '--realm', REALM, '--user', USER, '--password', PASSWORD, '--relay-min', String(RELAY_PORTS.min), '--relay-max', String(RELAY_PORTS.max)],
    // Its stdin is ours: if this process dies, the pipe closes and the server stops by itself.
    { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  // Closing stdin asks for a clean stop, which also writes the --cpu-prof profile.
  const stop = async () => {
    child.stdin!.end();
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  cleanup.add(stop);
  let errors = '';
  child.stderr!.on('data', (chunk) => (errors += chunk));
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the TURN server process did not start in 30 s:\n${errors}`)), 30_000);
    child.once('exit', (code, signal) => reject(new Error(`the TURN server process exited with ${code ?? signal}:\n${errors}`)));
    void nextLine().then((line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  let receiveBuffer: number | undefined;
  const loop = async () => {
    const answer = nextLine();
    child.stdin!.write('stats\n');
    const reply = JSON.parse(await answer) as { loop: { activeMs: number; idleMs: number }; stats: { listenerReceiveBufferBytes?: number } };
    receiveBuffer = reply.stats.listenerReceiveBufferBytes;
    return reply.loop;
  };
  return { child, pid: child.pid!, port, loop, receiveBufferBytes: () => receiveBuffer, stop };
}

// --- relayedCallsPerCore -----------------------------------------------------------------------

/** One packet stream on its own 20 ms clock: a call's client side or its peer side. */
interface Stream {
  due: number;
  seq: number;
  send(): void;
}

interface Call {
  client: TurnClient;
  clientSocket: dgram.Socket;
  peerSocket: dgram.Socket;
  relayed: TransportAddress;
  peer: TransportAddress;
  streams: [Stream, Stream];
}

/** What happened to the packets sent in one measuring window. */
class Window {
  sent = 0;
  received = 0;
  late = 0;
  /** Slots the generator was too far behind to send in. */
  skipped = 0;
  readonly transit = new Uint32Array(BUCKETS);
  readonly sendLag = new Uint32Array(BUCKETS);
  constructor(
    readonly start: number,
    readonly end: number,
    readonly lateMs: number,
  ) {}

  sentAt(at: number, due: number): void {
    if (at < this.start || at >= this.end) return;
    this.sent++;
    this.sendLag[bucket(at - due)]++;
  }

  arrived(sentAt: number, at: number): void {
    if (sentAt < this.start || sentAt >= this.end || at - this.end > GRACE_MS) return;
    this.received++;
    const transit = at - sentAt;
    if (transit > this.lateMs) this.late++;
    this.transit[bucket(transit)]++;
  }
}

function bucket(ms: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.round(ms * 10)));
}

function percentileMs(histogram: Uint32Array, p: number): number {
  let total = 0;
  for (const n of histogram) total += n;
  if (!total) return 0;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i];
    if (seen >= rank) return i / 10;
  }
  return (histogram.length - 1) / 10;
}

/** A 172-byte RTP packet (PCMU silence) carrying, after its header, the time it is sent. */
const TEMPLATE = (() => {
  const packet = Buffer.alloc(PACKET_BYTES, 0xff);
  packet[0] = 0x80; // RTP version 2
  packet[1] = 0; // PT 0, PCMU
  return packet;
})();

function rtpPacket(ssrc: number, seq: number, sentAt: number): Buffer {
  const packet = Buffer.allocUnsafe(PACKET_BYTES);
  TEMPLATE.copy(packet);
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE((seq * 160) >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  packet.writeDoubleLE(sentAt, RTP_HEADER);
  return packet;
}

function sentAtOf(data: Buffer): number | undefined {
  return data.length === PACKET_BYTES ? data.readDoubleLE(RTP_HEADER) : undefined;
}

class CallGenerator {
  private readonly calls: Call[] = [];
  /** Every stream, ordered by its place in the 20 ms; `cursor` is the next one due. */
  private ring: Stream[] = [];
  private cursor = 0;
  private ticker?: NodeJS.Timeout;
  window?: Window;
  allocationsLost = 0;

  constructor(private readonly server: TransportAddress) {}

  get count(): number {
    return this.calls.length;
  }

  /** Ports of our sockets, and of the server's relay ports for our allocations. */
  ports(): { generator: number[]; relays: number[] } {
    return {
      generator: this.calls.flatMap((c) => [c.clientSocket.address().port, c.peerSocket.address().port]),
      relays: this.calls.map((c) => c.relayed.port),
    };
  }

  /** Sets up calls until there are `target`, a few at a time, while the existing ones keep sending. */
  async grow(target: number): Promise<void> {
    const batch = 25;
    while (this.calls.length < target) {
      const n = Math.min(batch, target - this.calls.length);
      const made = await Promise.all(Array.from({ length: n }, (_, i) => this.makeCall(this.calls.length + i)));
      this.calls.push(...made);
    }
    this.respace();
    this.ticker ??= setInterval(() => this.tick(), 1);
  }

  /** Spreads every stream evenly over the 20 ms (calls were added, so their places change). */
  private respace(): void {
    const streams = this.calls.flatMap((c) => c.streams);
    const base = performance.now() + 5;
    streams.forEach((s, k) => (s.due = base + (k * PTIME_MS) / streams.length));
    this.ring = streams;
    this.cursor = 0;
  }

  /**
   * Sends what is due. A slot the generator missed by more than a packet time is skipped rather
   * than sent late in a burst: a burst it made itself would overflow the server's receive buffer
   * and count against the server. Skipped packets are counted, neither sent nor lost.
   */
  private tick(): void {
    const ring = this.ring;
    if (!ring.length) return;
    const now = performance.now();
    for (let sent = 0; sent < ring.length && ring[this.cursor].due <= now; sent++) {
      const stream = ring[this.cursor];
      while (now - stream.due > PTIME_MS) {
        stream.due += PTIME_MS;
        if (this.window && now >= this.window.start && now < this.window.end) this.window.skipped++;
      }
      stream.send();
      stream.due += PTIME_MS;
      this.cursor = (this.cursor + 1) % ring.length;
    }
  }

  private receive(data: Buffer): void {
    const at = performance.now();
    const sentAt = sentAtOf(data);
    if (sentAt !== undefined) this.window?.arrived(sentAt, at);
  }

  private async makeCall(index: number): Promise<Call> {
    const clientSocket = dgram.createSocket('udp4');
    const peerSocket = dgram.createSocket('udp4');
    await Promise.all([bindSocket(clientSocket), bindSocket(peerSocket)]);
    // Connected sockets: no address lookup per send, and only the server (or the relay port) is heard.
    await connectSocket(clientSocket, this.server);
    const client = new TurnClient({
      server: this.server,
      transport: 'udp',
      username: USER,
      password: PASSWORD,
      timers: realTimers,
      now: wallClock,
      send: (bytes) => clientSocket.send(bytes),
      onData: (data) => this.receive(data),
      onFailed: () => this.allocationsLost++,
      rtoMs: 250,
    });
    clientSocket.on('message', (bytes) => client.receive(bytes));
    clientSocket.on('error', () => {});
    peerSocket.on('error', () => {});
    const closeSockets = () => {
      clientSocket.close();
      peerSocket.close();
    };
    const allocation = await client.allocate();
    if (!allocation.ok) {
      closeSockets();
      throw new Error(`call ${index}: the allocation failed: ${allocation.reason}`);
    }
    const peer = { address: HOST, port: peerSocket.address().port };
    if (!(await client.permit(peer))) {
      await client.close();
      closeSockets();
      throw new Error(`call ${index}: no permission for the peer`);
    }
    await connectSocket(peerSocket, allocation.relayed);
    peerSocket.on('message', (data) => this.receive(data));
    const fromClient: Stream = { due: 0, seq: 0, send: () => {} };
    const fromPeer: Stream = { due: 0, seq: 0, send: () => {} };
    fromClient.send = () => {
      const at = performance.now();
      client.sendTo(peer, rtpPacket(index * 2, fromClient.seq++, at));
      this.window?.sentAt(at, fromClient.due);
    };
    fromPeer.send = () => {
      const at = performance.now();
      peerSocket.send(rtpPacket(index * 2 + 1, fromPeer.seq++, at));
      this.window?.sentAt(at, fromPeer.due);
    };
    const streams: [Stream, Stream] = [fromClient, fromPeer];
    return { client, clientSocket, peerSocket, relayed: allocation.relayed, peer, streams };
  }

  /** Stops sending, frees the allocations (Refresh with LIFETIME 0) and closes every socket. */
  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.ring = [];
    const calls = this.calls.splice(0);
    // A server that is gone answers nothing: do not wait out every retransmission.
    await Promise.race([Promise.all(calls.map((c) => c.client.close())), sleep(5000)]);
    await Promise.all(calls.flatMap((c) => [closeSocket(c.clientSocket), closeSocket(c.peerSocket)]));
  }
}

function bindSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function connectSocket(socket: dgram.Socket, to: TransportAddress): Promise<void> {
  return new Promise((resolve, reject) => socket.connect(to.port, to.address, (error?: Error) => (error ? reject(error) : resolve())));
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

async function relayedCallsPerCore(
  options: Required<Pick<TurnLoadOptions, 'steps' | 'stepSeconds' | 'lateMs' | 'failFraction' | 'retries' | 'log'>> & { profileDir?: string },
  cleanup: Cleanup,
): Promise<TurnLoadResult['relayedCallsPerCore']> {
  const server = await startServer(options.profileDir, cleanup);
  const generator = new CallGenerator({ address: HOST, port: server.port });
  cleanup.add(() => generator.close());
  const steps: RelayedCallsStep[] = [];
  const failed = (s: RelayedCallsStep) => s.lossFraction + s.lateFraction >= options.failFraction;
  let stopReason = `the ramp ended at ${options.steps[options.steps.length - 1]} calls`;
  ramp: for (const target of options.steps) {
    await generator.grow(target);
    for (let attempt = 1; ; attempt++) {
      // A second for the new calls' streams to settle into their places in the 20 ms.
      await sleep(1000);
      const step = { ...(await measureStep(server, generator, options)), attempt };
      steps.push(step);
      options.log(JSON.stringify({ relayedCalls: step }));
      // On a machine shared with other work one bad window can be someone else's: a step fails when every try fails.
      if (failed(step) && attempt <= options.retries) continue;
      if (failed(step)) {
        stopReason = `at ${target} calls lost + late reached ${round(100 * (step.lossFraction + step.lateFraction), 2)}%${attempt > 1 ? ` (in each of ${attempt} tries)` : ''}`;
        break ramp;
      }
      if (step.serverMainThreadCpuPercent >= 95) {
        stopReason = `at ${target} calls the server's thread used ${step.serverMainThreadCpuPercent}% of a core`;
        break ramp;
      }
      break;
    }
  }
  const listenerReceiveBufferBytes = server.receiveBufferBytes();
  await generator.close();
  await server.stop();

  const passed = steps.filter((s) => !failed(s));
  const calls = passed.length ? passed[passed.length - 1].calls : 0;
  return {
    calls,
    steps,
    note: describeRamp(calls, steps, stopReason, options.failFraction),
    listenerReceiveBufferBytes,
    lateRule: `late: arrived more than ${options.lateMs} ms after it was actually sent (the send time is read just before the send call and carried in the packet, so the generator's own delays in sending do not count); lost: never arrived, or not within ${GRACE_MS} ms of the window's end. A step passes when lost + late < ${options.failFraction * 100}%; a failed step is tried ${options.retries} more time(s) and fails when every try does.`,
  };
}

/** One measuring window at the current number of calls. */
async function measureStep(server: ServerProcess, generator: CallGenerator, options: { stepSeconds: number; lateMs: number }): Promise<Omit<RelayedCallsStep, 'attempt'>> {
  const ports = generator.ports();
  const dropsBefore = await udpDrops();
  const sample = () =>
    Promise.all([cpuSeconds(server.pid), cpuSeconds(server.pid, server.pid), runQueueWaitSeconds(server.pid), runQueueWaitSeconds(process.pid), processTimes()]);
  const [[serverCpu0, serverMain0, serverWait0, generatorWait0, machine0], serverLoop0] = await Promise.all([sample(), server.loop()]);
  const generatorCpu0 = process.cpuUsage();
  const loop0 = performance.eventLoopUtilization();
  const start = performance.now();
  const window = new Window(start, start + options.stepSeconds * 1000, options.lateMs);
  generator.window = window;
  const lostBefore = generator.allocationsLost;
  await sleep(options.stepSeconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  const [[serverCpu1, serverMain1, serverWait1, generatorWait1, machine1], serverLoop1, dropsAfter] = await Promise.all([sample(), server.loop(), udpDrops()]);
  const serverActive = serverLoop1.activeMs - serverLoop0.activeMs;
  const serverIdle = serverLoop1.idleMs - serverLoop0.idleMs;
  const generatorCpu = process.cpuUsage(generatorCpu0);
  const loop = performance.eventLoopUtilization(loop0);
  // Packets sent near the window's end are still on their way.
  await sleep(GRACE_MS + 50);
  generator.window = undefined;
  const lost = Math.max(0, window.sent - window.received);
  const percent = (seconds: number) => Math.round((100 * seconds) / elapsed);
  const serverCpuPercent = percent(serverCpu1 - serverCpu0);
  const generatorCpuPercent = percent((generatorCpu.user + generatorCpu.system) / 1e6);
  const machineCpuPercent = percent(busyBetween(machine0, machine1));
  return {
    calls: generator.count,
    lossFraction: window.sent ? round(lost / window.sent, 5) : 1,
    lateFraction: window.sent ? round(window.late / window.sent, 5) : 0,
    serverCpuPercent,
    serverMainThreadCpuPercent: percent(serverMain1 - serverMain0),
    generatorCpuPercent,
    serverLoopUtilization: serverActive + serverIdle > 0 ? round(serverActive / (serverActive + serverIdle), 2) : 0,
    serverWaitingForCpuPercent: percent(serverWait1 - serverWait0),
    generatorLoopUtilization: round(loop.utilization, 2),
    generatorWaitingForCpuPercent: percent(generatorWait1 - generatorWait0),
    machineCpuPercent,
    othersCpuPercent: Math.max(0, machineCpuPercent - serverCpuPercent - generatorCpuPercent),
    packetsSent: window.sent,
    lost,
    late: window.late,
    kernelDropsAtListener: dropsAt(dropsBefore, dropsAfter, [server.port]),
    kernelDropsAtRelayPorts: dropsAt(dropsBefore, dropsAfter, ports.relays),
    kernelDropsAtGenerator: dropsAt(dropsBefore, dropsAfter, ports.generator),
    transitMsP50: percentileMs(window.transit, 50),
    transitMsP99: percentileMs(window.transit, 99),
    sendLagMsP99: percentileMs(window.sendLag, 99),
    generatorSkipped: window.skipped,
    allocationsLost: generator.allocationsLost - lostBefore,
  };
}

/** Says what limited the ramp: the server, the generator, or a machine shared with other work. */
function describeRamp(calls: number, steps: RelayedCallsStep[], stopReason: string, failFraction: number): string {
  const last = steps[steps.length - 1];
  const cores = os.cpus().length;
  const parts = [`${calls} relayed G.711 calls with under ${failFraction * 100}% lost + late, the server in one Node process (one core); ${stopReason}.`];
  if (last) {
    const generatorBusy = last.generatorLoopUtilization >= 0.9 || last.generatorCpuPercent >= 90;
    const serverBusy = last.serverMainThreadCpuPercent >= 90 || last.serverLoopUtilization >= 0.9;
    parts.push(
      `At the last step the server's thread used ${last.serverMainThreadCpuPercent}% of a core (process ${last.serverCpuPercent}%; its event loop was ${Math.round(100 * last.serverLoopUtilization)}% busy), the generator ${last.generatorCpuPercent}% (event loop ${Math.round(100 * last.generatorLoopUtilization)}% busy), other work on the machine ${last.othersCpuPercent}%, of the ${cores * 100}% its ${cores} cores have.`,
    );
    const drops = last.kernelDropsAtListener + last.kernelDropsAtRelayPorts + last.kernelDropsAtGenerator;
    if (last.lost) {
      parts.push(
        `Of ${last.lost} lost packets, the kernel dropped ${drops} for a full receive buffer: ${last.kernelDropsAtListener} at the server's listening socket (client to peer), ${last.kernelDropsAtRelayPorts} at its relay ports (peer to client), ${last.kernelDropsAtGenerator} at the generator's sockets.`,
      );
    }
    const starved = last.serverWaitingForCpuPercent >= 5;
    if (starved) {
      parts.push(
        `The server's thread spent ${last.serverWaitingForCpuPercent}% of the time ready to run but waiting for a CPU (the generator ${last.generatorWaitingForCpuPercent}%): the machine's cores were short, and the server's socket buffers overflowed while it waited.`,
      );
    } else if (!serverBusy && last.lost && last.kernelDropsAtListener + last.kernelDropsAtRelayPorts >= last.lost / 2) {
      parts.push("The server had CPU to spare, so the loss came in bursts: whenever its thread did not run for a few ms (garbage collection, most likely) its listening socket's receive buffer (the kernel default) overflowed.");
    }
    if (last.generatorSkipped) parts.push(`The generator fell more than 20 ms behind for ${last.generatorSkipped} of its packets and skipped them.`);
    if (serverBusy && !starved) parts.push('The server was the limit.');
    else if (generatorBusy || starved) {
      parts.push(
        `${generatorBusy ? 'The generator was near a core of its own' : 'The server waited for a CPU'}: the figure is what this ${cores}-core machine shows with the generator (and whatever else runs) beside the server, a lower bound for the server on a core of its own.`,
      );
    }
  }
  return parts.join(' ');
}

// --- turnThroughput: turnutils_uclient against our server and coturn ----------------------------

/** turnutils_peer echoes every datagram; it is ready once one comes back. */
async function startEchoPeer(cleanup: Cleanup): Promise<{ port: number; pid: number }> {
  const port = await freeUdpTcpPort(HOST);
  const child = spawn('timeout', ['-k', '5', '300', 'turnutils_peer', '-L', HOST, '-p', String(port)], { stdio: 'ignore' });
  cleanup.add(() => stopChild(child));
  const probe = dgram.createSocket('udp4');
  await bindSocket(probe);
  try {
    const echoed = once(probe, 'message');
    const ask = setInterval(() => probe.send('ready?', port, HOST), 50);
    const failed = new Promise<never>((_, reject) => {
      child.once('exit', () => reject(new Error('turnutils_peer exited before it echoed (is the coturn package installed?)')));
      setTimeout(() => reject(new Error('turnutils_peer did not echo within 10 s')), 10_000).unref();
    });
    await Promise.race([echoed, failed]).finally(() => clearInterval(ask));
  } finally {
    await closeSocket(probe);
  }
  const pid = await childOf(child.pid!);
  if (!pid) throw new Error('turnutils_peer is not running under its timeout');
  return { port, pid };
}

interface Coturn {
  port: number;
  pid: number;
}

async function startCoturn(cleanup: Cleanup, extraConfig: string[] = []): Promise<Coturn> {
  const coturn = await startLoopbackCoturn({ host: HOST, realm: REALM, user: USER, password: PASSWORD, relayPorts: RELAY_PORTS, extraConfig });
  cleanup.add(() => coturn.stop());
  return { port: coturn.server.port, pid: coturn.pid };
}

const PROGRESS = /^(\d+): : start_mclient: msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/;

/** Reads uclient's report. */
export function parseUclient(output: string): Omit<UclientRun, 'serverCpuPercent' | 'serverWaitingForCpuPercent' | 'uclientCpuPercent' | 'peerCpuPercent' | 'othersCpuPercent'> {
  const totals = output.match(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/);
  const transmit = output.match(/Total transmit time is (\d+)/);
  const connect = output.match(/Total connect time is (\d+)/);
  if (!totals || !transmit) throw new Error(`turnutils_uclient printed no totals:\n${output.slice(-3000)}`);
  const sent = Number(totals[1]);
  const received = Number(totals[2]);
  const transmitSeconds = Number(transmit[1]);
  // Once a second uclient prints its running totals, the second first. The middle of the run
  // (from 20% to 80% of the messages sent) is when its sessions, which start 1-6 s apart, all send.
  const progress = output
    .split('\n')
    .map((line) => line.match(PROGRESS))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ second: Number(m[1]), sent: Number(m[2]), received: Number(m[3]) }));
  const middle = progress.filter((p) => p.sent >= 0.2 * sent && p.sent <= 0.8 * sent);
  const first = middle[0];
  const last = middle[middle.length - 1];
  const overall = transmitSeconds ? received / transmitSeconds : 0;
  const steady = first && last && last.second - first.second >= 2;
  const messagesPerSecond = steady ? (last.received - first.received) / (last.second - first.second) : overall;
  const window: [number, number] = steady ? [first.second, last.second] : [0, progress.length ? progress[progress.length - 1].second : transmitSeconds];
  return {
    window,
    messagesPerSecond: Math.round(messagesPerSecond),
    overallMessagesPerSecond: Math.round(overall),
    sent,
    received,
    lossFraction: sent ? round(1 - received / sent, 4) : 1,
    transmitSeconds,
    connectSeconds: connect ? Number(connect[1]) : 0,
  };
}

interface Sample {
  at: number;
  server: number;
  serverWait: number;
  uclient: number;
  peer: number;
  machine: Map<number, number>;
}

/** The rate of one counter between two times, from samples taken along the way (nearest samples). */
function rateBetween(samples: Sample[], from: number, to: number, pick: (s: Sample) => number): number {
  const near = (t: number) => samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  const a = near(from);
  const b = near(to);
  return b.at > a.at ? (pick(b) - pick(a)) / (b.at - a.at) : 0;
}

function machinePercent(samples: Sample[], from: number, to: number): number {
  const near = (t: number) => samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  const a = near(from);
  const b = near(to);
  return b.at > a.at ? Math.round((100 * busyBetween(a.machine, b.machine)) / (b.at - a.at)) : 0;
}

async function runUclient(server: { port: number; pid: number }, peer: { port: number; pid: number }, load: NonNullable<TurnLoadOptions['uclient']>, log: (line: string) => void, cleanup: Cleanup): Promise<UclientRun> {
  const args = ['-c', '-u', USER, '-w', PASSWORD, '-e', HOST, '-r', String(peer.port), '-L', HOST, '-m', String(load.sessions), '-n', String(load.messages), '-z', String(load.intervalMs), '-l', String(PACKET_BYTES), '-p', String(server.port), HOST];
  const start = performance.now();
  const child = spawn('timeout', ['-k', '5', '180', 'turnutils_uclient', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.add(() => stopChild(child));
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  // Sampled along the run, so that CPU can be read over the window uclient's lines give.
  const samples: Sample[] = [];
  let uclientPid: number | undefined;
  let uclientCpu = 0;
  const sample = async () => {
    uclientPid ??= await childOf(child.pid!);
    if (uclientPid) uclientCpu = await cpuSeconds(uclientPid).catch(() => uclientCpu);
    const [serverCpu, serverWait, peerCpu, machine] = await Promise.all([cpuSeconds(server.pid), processRunQueueWaitSeconds(server.pid), cpuSeconds(peer.pid), processTimes()]);
    samples.push({ at: (performance.now() - start) / 1000, server: serverCpu, serverWait, uclient: uclientCpu, peer: peerCpu, machine });
  };
  await sample();
  const sampler = setInterval(() => void sample().catch(() => {}), 250);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(sampler);
  if (code !== 0) throw new Error(`turnutils_uclient ${args.join(' ')} exited with ${code}:\n${output.slice(-3000)}`);
  const parsed = parseUclient(output);
  const [from, to] = parsed.window;
  const percent = (pick: (s: Sample) => number) => Math.round(100 * rateBetween(samples, from, to, pick));
  const serverCpuPercent = percent((s) => s.server);
  const uclientCpuPercent = percent((s) => s.uclient);
  const peerCpuPercent = percent((s) => s.peer);
  const run: UclientRun = {
    ...parsed,
    serverCpuPercent,
    serverWaitingForCpuPercent: percent((s) => s.serverWait),
    uclientCpuPercent,
    peerCpuPercent,
    othersCpuPercent: Math.max(0, machinePercent(samples, from, to) - serverCpuPercent - uclientCpuPercent - peerCpuPercent),
  };
  log(JSON.stringify({ uclient: run }));
  return run;
}

/** Side-by-side rounds: the machine is shared, so one round's ratio can be off either way; the median round is reported. */
const THROUGHPUT_ROUNDS = 3;

async function turnThroughput(load: NonNullable<TurnLoadOptions['uclient']>, profileDir: string | undefined, log: (line: string) => void, cleanup: Cleanup): Promise<TurnLoadResult['turnThroughput']> {
  const peer = await startEchoPeer(cleanup);
  const ratio = (a: number, b: number) => (b ? round(a / b, 2) : 0);
  const rounds: { peerdial: UclientRun; coturn: UclientRun; coturnOneRelayThread: UclientRun; ratio: number }[] = [];
  for (let i = 0; i < THROUGHPUT_ROUNDS; i++) {
    const ours = await startServer(profileDir, cleanup);
    const peerdial = await runUclient(ours, peer, load, log, cleanup);
    await ours.stop();
    const defaultThreads = await startCoturn(cleanup);
    const coturn = await runUclient(defaultThreads, peer, load, log, cleanup);
    await stopPid(defaultThreads.pid);
    // RFC-free detail of coturn: relay-threads=0 relays in the listener's thread (authentication keeps its own).
    const oneThread = await startCoturn(cleanup, ['relay-threads=0']);
    const coturnOneRelayThread = await runUclient(oneThread, peer, load, log, cleanup);
    await stopPid(oneThread.pid);
    rounds.push({ peerdial, coturn, coturnOneRelayThread, ratio: ratio(peerdial.messagesPerSecond, coturn.messagesPerSecond) });
    log(JSON.stringify({ turnThroughputRound: i + 1, peerdial: peerdial.messagesPerSecond, coturn: coturn.messagesPerSecond, ratio: rounds[i].ratio }));
  }
  await cleanup.run();
  const { peerdial, coturn, coturnOneRelayThread } = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
  const offered = Math.round((load.sessions * 1000) / load.intervalMs);
  return {
    peerdial: peerdial.messagesPerSecond,
    coturn: coturn.messagesPerSecond,
    ratio: ratio(peerdial.messagesPerSecond, coturn.messagesPerSecond),
    ratioRounds: rounds.map((r) => r.ratio),
    unit: `echoed ${PACKET_BYTES}-byte messages per second received back by turnutils_uclient while all its sessions were sending (each crosses the relay twice: client to peer, peer to client)`,
    load: `turnutils_uclient -c -m ${load.sessions} -n ${load.messages} -z ${load.intervalMs} -l ${PACKET_BYTES} (${offered} messages/s offered), turnutils_peer echoing, UDP, channels, long-term credentials; ${coturnVersion()} with its default threads, then with relay-threads=0; ${THROUGHPUT_ROUNDS} rounds of the three, the round with the median ratio reported`,
    coturnOneRelayThread: coturnOneRelayThread.messagesPerSecond,
    ratioToOneRelayThread: ratio(peerdial.messagesPerSecond, coturnOneRelayThread.messagesPerSecond),
    runs: { peerdial, coturn, coturnOneRelayThread },
    note: describeThroughput(peerdial, coturn, coturnOneRelayThread, offered),
  };
}

function describeThroughput(peerdial: UclientRun, coturn: UclientRun, oneThread: UclientRun, offered: number): string {
  const line = (name: string, r: UclientRun) =>
    `${name}: ${r.messagesPerSecond}/s, ${Math.round(100 * r.lossFraction)}% lost, server ${r.serverCpuPercent}% CPU (waiting for a CPU ${r.serverWaitingForCpuPercent}%), uclient ${r.uclientCpuPercent}%, turnutils_peer ${r.peerCpuPercent}%, other work ${r.othersCpuPercent}%`;
  return [
    `${offered} messages/s offered each way. Over the middle of each run: ${line('Peerdial', peerdial)}; ${line('coturn', coturn)}; ${line('coturn with one relay thread', oneThread)}.`,
    `All of it shares ${os.cpus().length} cores: a server that needs more than what uclient, turnutils_peer and other work leave is held to it.`,
  ].join(' ');
}

/** Stops a process we know only by pid (coturn behind its `timeout`), and waits until it is gone. */
async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

function coturnVersion(): string {
  const version = spawnSync('turnserver', ['--version'], { encoding: 'utf8' });
  const line = `${version.stdout ?? ''}${version.stderr ?? ''}`.trim().split('\n').pop() ?? '';
  return /^\d+\.\d+/.test(line) ? `coturn ${line}` : 'coturn';
}

// --- Run directly: print the JSON --------------------------------------------------------------

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string' },
      'step-seconds': { type: 'string' },
      'late-ms': { type: 'string' },
      'uclient-sessions': { type: 'string' },
      'uclient-messages': { type: 'string' },
      'uclient-interval': { type: 'string' },
      retries: { type: 'string' },
      'profile-dir': { type: 'string' },
      /** `calls` or `throughput`: one half only. */
      only: { type: 'string' },
    },
  });
  const options: TurnLoadOptions = {
    steps: values.steps?.split(',').map(Number),
    stepSeconds: values['step-seconds'] ? Number(values['step-seconds']) : undefined,
    lateMs: values['late-ms'] ? Number(values['late-ms']) : undefined,
    retries: values.retries ? Number(values.retries) : undefined,
    uclient: {
      sessions: Number(values['uclient-sessions'] ?? DEFAULTS.uclient.sessions),
      messages: Number(values['uclient-messages'] ?? DEFAULTS.uclient.messages),
      intervalMs: Number(values['uclient-interval'] ?? DEFAULTS.uclient.intervalMs),
    },
    profileDir: values['profile-dir'] ? path.resolve(values['profile-dir']) : undefined,
  };
  // Ctrl-C or a kill: stop the servers and clients, remove the temporary files, then go.
  const controller = new AbortController();
  options.signal = controller.signal;
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`nat-turn-load: ${signal}, cleaning up`);
    controller.abort();
    setTimeout(() => process.exit(130), 15_000).unref();
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const only = values.only;
  try {
    const result =
      only === 'calls' ? { relayedCallsPerCore: await measureRelayedCalls(options) } : only === 'throughput' ? { turnThroughput: await measureTurnThroughput(options) } : await measureTurnLoad(options);
    console.log(JSON.stringify(result, null, 2));
  } catch (error) {
    // Interrupted: whatever failed after the abort failed because of it.
    if (!controller.signal.aborted) throw error;
    process.exit(130);
  }
}
