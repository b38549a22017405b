// floodSurvival (issue 21), for bench:overlay: the rate of junk one node absorbs while a call it
// carries keeps under 1% of its packets late or lost.
//
// bob is a real `peerdial node` process on loopback, in a call with a phone this benchmark plays
// (a bare SIP UAS with plain PCMU RTP, so every packet's timing can be read; calls between Peerdial
// users are encrypted). bob plays a tone; the phone sends one too. One source (127.0.0.80, one
// port) then floods bob's SIP port with a mix of valid and malformed requests, in steps of rising
// rate (10 s each, a calm gap between). The sender and the phone each run in a worker thread, so
// neither's work, nor the main thread's polling, delays the other's clock; they still share the
// machine's cores with bob, which each step's phoneClockLateP99Ms shows.
//
// Each step measures, over its flood:
// - bob's audio at the phone: a packet is late when it arrives more than LATE_MS behind its
//   schedule (its RTP timestamp, anchored at the earliest arrival of the calm gap before the step:
//   what a 40 ms jitter buffer could no longer play), lost when it never comes;
// - the phone's audio at bob: the packets bob counts (call.list quality) against those sent;
// - what bob absorbed: SIP messages it read and handled (node.status sip.requestsIn +
//   malformedDropped), what the kernel dropped before bob read it (/proc/net/udp drops of its
//   socket), what the limits refused, the 503s the flooder got;
// - bob's CPU (utime + stime of all its threads, in cores) and its largest RSS.
// The ramp stops at a step whose call fails (after a second try at the same rate), or when the
// sender cannot reach the rate it was asked (then the figure is a lower bound, said so).
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { NodeStatus } from '../native/control/api.js';
import { encodeG711 } from '../native/wire/audio/g711.js';
import { writeTone } from '../test/support/calls.js';
import { controlOf, type NodeControl } from '../test/support/control.js';
import { removeDir, startNode, type NodeProcess } from '../test/support/node-process.js';
import { until } from '../test/support/poll.js';

const LATE_MS = 40;
const THRESHOLD = 0.01;
const PHONE_HZ = 440;
const BOB_HZ = 1000;
const FLOODER = '127.0.0.80';
const CLOCK_TICKS_PER_S = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Epoch ms with performance.now()'s resolution: the same clock in every thread. */
const epochMs = () => performance.timeOrigin + performance.now();
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** What one flood step measured. */
export interface FloodStep {
  targetPerS: number;
  /** Datagrams the flooder sent, a second, and of them valid SIP requests. */
  sentPerS: number;
  requestsPerS: number;
  /** SIP messages bob read and handled a second (parsed, refused or dropped as malformed). */
  absorbedPerS: number;
  /** Datagrams the kernel dropped at bob's SIP socket (its receive buffer full), a second. */
  kernelDroppedPerS: number;
  /** Requests the per-source limits refused a second, and 503s the flooder received. */
  refusedPerS: number;
  answered503: number;
  /** bob's audio at the phone. */
  toPhone: { expected: number; late: number; lost: number; lateOrLostFraction: number; maxLateMs: number };
  /** The phone's audio at bob. */
  toBob: { sent: number; received: number; lostFraction: number; jitterMs: number };
  /** bob's CPU, in cores (1 = one core busy), and its largest RSS during the step. */
  cpuCores: number;
  rssMB: number;
  /** The phone's own 20 ms clock: its 99th percentile lateness (ms), to tell its delays from bob's. */
  phoneClockLateP99Ms: number;
  passed: boolean;
}

export interface FloodSurvival {
  rule: string;
  junk: string;
  /** The highest step whose call kept under 1% late or lost, in datagrams and requests a second. */
  packetsPerS: number;
  requestsPerS: number;
  absorbedPerS: number;
  cpuCores: number;
  rssMB: number;
  /** 'call': the next rate broke the call; 'sender': the flooder could send no faster (a lower bound); 'ramp': no rate tried broke it. */
  limitedBy: 'call' | 'sender' | 'ramp';
  /** The rate (datagrams a second) whose call failed twice, when one did. */
  failedAtPerS?: number;
  /** The machine's 1-minute load average when the run began: 2 cores, shared with other work. */
  loadAverageAtStart: number;
  steps: FloodStep[];
  machine: string;
}

/** The flood, run in a worker thread: a mix of valid and malformed requests from one socket, at a rate, for a time. */
const FLOODER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const { address, host, port, rate, durationMs } = workerData;
const socket = dgram.createSocket('udp4');
const responses = {};
let sent = 0, done = 0, errors = 0;
const garbage = Array.from({ length: 64 }, () => crypto.randomBytes(100 + Math.floor(Math.random() * 400)));
socket.on('message', (bytes) => {
  const status = /^SIP\\/2\\.0 (\\d{3})/.exec(bytes.toString('latin1', 0, 16));
  const key = status ? status[1] : 'other';
  responses[key] = (responses[key] || 0) + 1;
});
socket.bind(0, address, () => {
  const me = address + ':' + socket.address().port;
  const uri = 'sip:bob@' + host + ':' + port;
  const head = (method, n, extra, body, type) => [
    method + ' ' + (method === 'REGISTER' ? 'sip:' + host + ':' + port : uri) + ' SIP/2.0',
    'Via: SIP/2.0/UDP ' + me + ';branch=z9hG4bK-f' + n + ';rport',
    'Max-Forwards: 70',
    'From: <sip:mallory@' + me + '>;tag=f' + n,
    'To: <' + uri + '>',
    'Call-ID: f' + n + '@' + address,
    'CSeq: 1 ' + method,
    'Contact: <sip:mallory@' + me + '>',
    ...extra,
    ...(body ? ['Content-Type: ' + type] : []),
    'Content-Length: ' + Buffer.byteLength(body),
    '', body].join('\\r\\n');
  const sdp = ['v=0', 'o=- 1 1 IN IP4 ' + address, 's=-', 'c=IN IP4 ' + address, 't=0 0', 'm=audio 9 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\\r\\n');
  const make = [
    (n) => head('INVITE', n, [], sdp, 'application/sdp'),
    (n) => head('MESSAGE', n, [], 'spam number ' + n, 'text/plain'),
    (n) => head('SUBSCRIBE', n, ['Event: presence', 'Accept: application/pidf+xml', 'Expires: 60'], '', ''),
    (n) => head('REGISTER', n, ['P2P-Op: ping', 'P2P-Overlay: peerdial'], '{}', 'application/peerdial-overlay+json'),
    (n) => head('OPTIONS', n, [], '', ''),
    (n) => garbage[n % garbage.length],
    (n) => 'INVITE ' + uri + ' SIP/2.0\\r\\nVia: SIP/2.0/UDP ' + me + ';branch=z9hG4bK-t' + n + '\\r\\nFrom: <sip:m@x>;tag=' + n + '\\r\\n',
    (n) => head('MESSAGE', n, [], 'short', 'text/plain').replace('Content-Length: 5', 'Content-Length: 90000'),
  ];
  const started = performance.now();
  const tick = () => {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) {
      // Responses still on their way get half a second; ms is the time spent sending.
      const ms = elapsed;
      const wait = () => (done + errors < sent ? setTimeout(wait, 5) : setTimeout(() => { parentPort.postMessage({ sent, errors, responses, ms }); socket.close(); }, 500));
      return wait();
    }
    // At most 20,000 datagrams queued in the socket at once: past that the sender is the limit.
    let due = Math.min(Math.floor((rate * elapsed) / 1000) - sent, 20000 - (sent - done - errors));
    while (due-- > 0) {
      const n = sent++;
      const bytes = make[n % make.length](n);
      socket.send(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, port, host, (e) => (e ? errors++ : done++));
    }
    setTimeout(tick, 1);
  };
  tick();
});
`;

/** The valid SIP requests among FLOODER_CODE's eight kinds. */
const VALID_SHARE = 5 / 8;

function flood(host: string, port: number, rate: number, durationMs: number): Promise<{ sent: number; errors: number; responses: Record<string, number>; ms: number }> {
  const worker = new Worker(FLOODER_CODE, { eval: true, workerData: { address: FLOODER, host, port, rate, durationMs } });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => {
      resolve(m as { sent: number; errors: number; responses: Record<string, number>; ms: number });
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/**
 * A phone bob calls, in a worker thread of its own (so nothing the benchmark's main thread does
 * delays its clock or its timing of arrivals): answers with plain PCMU, sends the tone frames it
 * is given every 20 ms on a schedule that does not drift, and notes when each of bob's packets
 * arrives (epoch ms, performance.timeOrigin + now(), comparable across threads) and its index
 * (RTP timestamp / 160 from the first). On a message 'report' it posts what it gathered since
 * the last report.
 */
const PHONE_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const frames = workerData.frames.map((f) => Buffer.from(f));
const now = () => performance.timeOrigin + performance.now();
const sip = dgram.createSocket('udp4');
const rtp = dgram.createSocket('udp4');
let arrivals = [], clockLate = [], sent = 0, ssrcIn, ts0, target, timer;
const sdp = () => ['v=0', 'o=phone 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio ' + rtp.address().port + ' RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\\r\\n');
const uri = () => 'sip:phone@127.0.0.1:' + sip.address().port;
function talk() {
  const ssrc = crypto.randomBytes(4).readUInt32BE();
  const started = now();
  let packet = 0;
  const send = () => {
    clockLate.push(now() - (started + packet * 20));
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header.writeUInt16BE(packet & 0xffff, 2);
    header.writeUInt32BE((packet * 160) >>> 0, 4);
    header.writeUInt32BE(ssrc, 8);
    if (target) rtp.send(Buffer.concat([header, frames[packet % frames.length]]), target.port, target.address);
    sent++;
    packet++;
    timer = setTimeout(send, Math.max(0, started + packet * 20 - now()));
  };
  send();
}
sip.on('message', (bytes, from) => {
  const text = bytes.toString();
  const header = (name) => { const m = new RegExp('^' + name + ':\\\\s*(.*)$', 'im').exec(text); return m ? m[1].trim() : undefined; };
  const method = (/^([A-Z]+) /.exec(text) || [])[1];
  if (!method || method === 'ACK') return;
  const invite = method === 'INVITE';
  const body = invite ? sdp() : '';
  const to = /;tag=/.test(header('To') || '') ? header('To') : header('To') + ';tag=phone';
  const timerLines = invite && header('Session-Expires') ? ['Session-Expires: ' + header('Session-Expires'), 'Require: timer'] : [];
  const response = ['SIP/2.0 200 OK', ...text.split('\\r\\n').filter((l) => /^(Via|v):/i.test(l)), 'From: ' + header('From'), 'To: ' + to, 'Call-ID: ' + header('Call-ID'), 'CSeq: ' + header('CSeq'), 'Contact: <' + uri() + '>', ...timerLines, ...(body ? ['Content-Type: application/sdp'] : []), 'Content-Length: ' + Buffer.byteLength(body), '', body].join('\\r\\n');
  sip.send(response, from.port, from.address);
  if (invite) {
    const offer = text.slice(text.indexOf('\\r\\n\\r\\n') + 4);
    const port = Number((/^m=audio (\\d+)/m.exec(offer) || [])[1]);
    const address = (/^c=IN IP4 (\\S+)/m.exec(offer) || [])[1] || from.address;
    target = { address, port };
    if (!timer) talk();
  }
  if (method === 'BYE') { clearTimeout(timer); timer = undefined; }
});
rtp.on('message', (bytes) => {
  const at = now();
  // RTP version 2, not RTCP (whose packet types 200-204 read as payload types 72-76).
  if (bytes.length < 12 || bytes[0] >> 6 !== 2) return;
  const pt = bytes[1] & 0x7f;
  if (pt >= 72 && pt <= 76) return;
  const ssrc = bytes.readUInt32BE(8);
  const ts = bytes.readUInt32BE(4);
  if (ssrcIn !== ssrc) { ssrcIn = ssrc; ts0 = ts; }
  arrivals.push([at, ((ts - ts0) >>> 0) / 160]);
});
parentPort.on('message', (m) => {
  if (m === 'report') {
    parentPort.postMessage({ arrivals, clockLate, sent });
    arrivals = [];
    clockLate = [];
  } else if (m === 'close') {
    clearTimeout(timer);
    sip.close();
    rtp.close();
    parentPort.close();
  }
});
let bound = 0;
const ready = () => { if (++bound === 2) parentPort.postMessage({ uri: uri() }); };
sip.bind(0, '127.0.0.1', ready);
rtp.bind(0, '127.0.0.1', ready);
`;

interface PhoneReport {
  arrivals: Array<[number, number]>;
  clockLate: number[];
  sent: number;
}

class Phone {
  /** Every packet of bob's so far: [arrival, epoch ms; index, RTP timestamp / 160]. */
  readonly arrivals: Array<[number, number]> = [];
  readonly clockLateMs: number[] = [];
  sentPackets = 0;
  private constructor(
    private readonly worker: Worker,
    readonly uri: string,
  ) {}

  static async open(): Promise<Phone> {
    // One second of the tone, 50 frames of PCMU that repeat without a seam (440 whole cycles).
    let phase = 0;
    const frames = Array.from({ length: 50 }, () => encodeG711('mu', Int16Array.from({ length: 160 }, () => Math.round(8000 * Math.sin((phase += (2 * Math.PI * PHONE_HZ) / 8000))))));
    const worker = new Worker(PHONE_CODE, { eval: true, workerData: { frames } });
    const uri = await new Promise<string>((resolve, reject) => {
      worker.once('message', (m: { uri: string }) => resolve(m.uri));
      worker.once('error', reject);
    });
    return new Phone(worker, uri);
  }

  /** Brings arrivals, the clock's lateness and the count sent up to date. */
  async update(): Promise<void> {
    const report = await new Promise<PhoneReport>((resolve) => {
      this.worker.once('message', resolve);
      this.worker.postMessage('report');
    });
    for (const a of report.arrivals) this.arrivals.push(a);
    for (const l of report.clockLate) this.clockLateMs.push(l);
    this.sentPackets = report.sent;
  }

  close(): void {
    this.worker.postMessage('close');
    void this.worker.terminate();
  }
}

/** bob's CPU time so far, seconds (all threads), from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

async function rssBytes(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:`port` (/proc/net/udp's last column). */
async function kernelDrops(port: number): Promise<number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const lines = (await readFile('/proc/net/udp', 'utf8')).split('\n').filter((l) => l.trim().split(/\s+/)[1] === local);
  return lines.reduce((sum, l) => sum + Number(l.trim().split(/\s+/).at(-1)), 0);
}

/** bob's audio at the phone for packets due in [from, to): late and lost against the schedule anchored at `anchor`. */
function judge(phone: Phone, anchor: number, from: number, to: number): FloodStep['toPhone'] {
  const first = Math.ceil((from - anchor) / 20);
  const last = Math.floor((to - anchor) / 20);
  const arrived = new Map<number, number>();
  for (const [at, index] of phone.arrivals) if (index >= first && index <= last && !arrived.has(index)) arrived.set(index, at - (anchor + index * 20));
  const expected = Math.max(0, last - first + 1);
  const lateness = [...arrived.values()];
  const late = lateness.filter((ms) => ms > LATE_MS).length;
  const lost = expected - arrived.size;
  return { expected, late, lost, lateOrLostFraction: expected ? round((late + lost) / expected, 5) : 1, maxLateMs: round(Math.max(0, ...lateness), 1) };
}

/** The earliest arrival of bob's packets that arrived in [from, to), as the schedule's origin: `at - index * 20`. */
function anchorOf(phone: Phone, from: number, to: number): number {
  let anchor = Infinity;
  for (const [at, index] of phone.arrivals) if (at >= from && at < to) anchor = Math.min(anchor, at - index * 20);
  return anchor;
}

const p99 = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(0.99 * (xs.length - 1))] : 0);

export async function floodSurvival(options: { rates: number[]; stepS: number; log: (...args: unknown[]) => void }): Promise<FloodSurvival> {
  const loadAverageAtStart = round(os.loadavg()[0], 2);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-bench-flood-'));
  const phone = await Phone.open();
  let bob: NodeProcess | undefined;
  let api: NodeControl | undefined;
  try {
    bob = await startNode({ user: 'bob', args: ['--play', await writeTone(path.join(dir, 'bob.wav'), BOB_HZ, 900), '--rtp-ports', '16384-19999'] });
    const control = controlOf(bob);
    api = control;
    const pid = bob.child.pid!;
    const dialled = await control.invoke('call.dial', { to: phone.uri });
    const call = async () => (await control.invoke('call.list', {})).find((c) => c.id === dialled.id);
    await until('bob in a call with the phone, audio both ways', async () => (await phone.update(), phone.arrivals.length > 100) && ((await call())?.quality?.packetsReceived ?? 0) > 100, 20_000);
    // A new node's first seconds are busy (its overlay, its first sqlite writes, JIT): the first
    // step would measure them too.
    await sleep(10_000);
    const status = (): Promise<NodeStatus> => control.invoke('node.status', {});
    const steps: FloodStep[] = [];
    let limitedBy: FloodSurvival['limitedBy'] = 'ramp';
    for (let i = 0; i < options.rates.length; i++) {
      const rate = options.rates[i];
      let step: FloodStep | undefined;
      for (let attempt = 0; attempt < 2 && !step?.passed; attempt++) {
        // A calm gap: the node settles, and bob's packets in it anchor the schedule.
        const calmFrom = epochMs();
        await sleep(3_000);
        await phone.update();
        const anchor = anchorOf(phone, calmFrom + 1_000, epochMs());
        const before = { status: await status(), call: (await call())!, cpu: await cpuSeconds(pid), drops: await kernelDrops(bob.sipPort), phoneSent: phone.sentPackets, clock: phone.clockLateMs.length };
        const startedAt = epochMs();
        let rss = await rssBytes(pid);
        const sampler = setInterval(() => void rssBytes(pid).then((r) => (rss = Math.max(rss, r)), () => undefined), 1_000);
        const sent = await flood('127.0.0.1', bob.sipPort, rate, options.stepS * 1000);
        clearInterval(sampler);
        const endedAt = epochMs();
        // Packets due during the flood get a second to arrive.
        await sleep(1_000);
        await phone.update();
        // Rates are over the time the flooder was sending.
        const seconds = sent.ms / 1000;
        const after = { status: await status(), call: (await call())!, cpu: await cpuSeconds(pid), drops: await kernelDrops(bob.sipPort), phoneSent: phone.sentPackets };
        const toPhone = judge(phone, anchor, startedAt + 500, endedAt);
        const phoneSent = after.phoneSent - before.phoneSent;
        const bobReceived = after.call.quality!.packetsReceived - before.call.quality!.packetsReceived;
        const refused = Object.values(after.status.limits!.refused).reduce((a, b) => a + b, 0) - Object.values(before.status.limits!.refused).reduce((a, b) => a + b, 0);
        const absorbed = after.status.sip.requestsIn + after.status.sip.malformedDropped - before.status.sip.requestsIn - before.status.sip.malformedDropped;
        const toBob = { sent: phoneSent, received: bobReceived, lostFraction: round(Math.max(0, phoneSent - bobReceived) / Math.max(1, phoneSent), 5), jitterMs: round(after.call.quality!.jitterMs, 2) };
        step = {
          targetPerS: rate,
          sentPerS: Math.round(sent.sent / seconds),
          requestsPerS: Math.round((VALID_SHARE * sent.sent) / seconds),
          absorbedPerS: Math.round(absorbed / seconds),
          kernelDroppedPerS: Math.round((after.drops - before.drops) / seconds),
          refusedPerS: Math.round(refused / seconds),
          answered503: sent.responses['503'] ?? 0,
          toPhone,
          toBob,
          cpuCores: round((after.cpu - before.cpu) / seconds, 2),
          rssMB: Math.round(rss / 2 ** 20),
          phoneClockLateP99Ms: round(p99(phone.clockLateMs.slice(before.clock)), 1),
          passed: after.call.state === 'active' && toPhone.lateOrLostFraction < THRESHOLD && toBob.lostFraction < THRESHOLD,
        };
        options.log('floodSurvival step', JSON.stringify(step));
        steps.push(step);
      }
      if (!step!.passed) {
        limitedBy = 'call';
        break;
      }
      if (step!.sentPerS < 0.8 * rate) {
        limitedBy = 'sender';
        break;
      }
    }
    await control.invoke('call.hangup', { id: dialled.id });
    const best = steps.filter((s) => s.passed).sort((a, b) => b.sentPerS - a.sentPerS)[0];
    return {
      rule: `one call (PCMU, 20 ms) between bob, a \`peerdial node\` process, and a plain-RTP phone; a step passes when under ${100 * THRESHOLD}% of bob's packets arrive at the phone more than ${LATE_MS} ms behind schedule or never, and under ${100 * THRESHOLD}% of the phone's never reach bob; ${options.stepS} s per step, a failed step tried twice`,
      junk: `one source (${FLOODER}, one UDP port), eight kinds in turn: INVITE, MESSAGE, SUBSCRIBE, overlay ping (REGISTER), OPTIONS (valid, each with a fresh branch and Call-ID), random bytes, a request cut off in its headers, a MESSAGE whose Content-Length overruns it; requestsPerS counts the valid five`,
      packetsPerS: best?.sentPerS ?? 0,
      requestsPerS: best?.requestsPerS ?? 0,
      absorbedPerS: best?.absorbedPerS ?? 0,
      cpuCores: best?.cpuCores ?? 0,
      rssMB: best?.rssMB ?? 0,
      limitedBy,
      ...(limitedBy === 'call' ? { failedAtPerS: steps.at(-1)!.sentPerS } : {}),
      loadAverageAtStart,
      steps,
      machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, loopback; the flooder and the phone are threads of the benchmark's process on the same cores as bob (a phoneClockLateP99Ms of tens of ms says the machine, not only bob, was short of CPU)`,
    };
  } finally {
    api?.close();
    phone.close();
    await bob?.stop();
    if (bob) await removeDir(bob.dataDir);
    await removeDir(dir);
  }
}
