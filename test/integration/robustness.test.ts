// A real engine on loopback fed junk from raw UDP and TCP sockets: random bytes, truncated and
// oversized messages, every invalid RFC 4475 message. It must answer what can be answered,
// stay silent otherwise, count what it dropped, keep its memory, and still deliver a MESSAGE.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Engine } from '../../native/roots/node-engine.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { seededRandom } from '../support/random.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/rfc4475');
const torture = (name: string): Buffer => readFileSync(path.join(FIXTURES, `${name}.dat`));

/** RFC 4475 3.1.2 (and 3.3.1, 3.3.2, 3.3.8, 3.3.9): the answer each message gets, or null for silence. */
const INVALID: Record<string, number | null> = {
  badinv01: 400,
  clerr: 400,
  ncl: 400,
  scalar02: 400,
  scalarlg: null, // a response: dropped (3.1.2.5)
  quotbal: 400,
  ltgtruri: 400,
  lwsruri: 400,
  lwsstart: 400,
  trws: 400,
  escruri: 400,
  regbadct: 400,
  badaspec: 400,
  baddn: 400,
  badvers: 505,
  mismatch01: 400,
  mismatch02: 501,
  bigcode: null, // a response: dropped (3.1.2.19)
  insuf: 400,
  unkscm: 416,
  multi01: 400,
  mcl01: 400,
};


const statusOf = (bytes: Buffer): number | undefined => {
  const m = /^SIP\/2\.0 (\d{3}) /.exec(bytes.toString('latin1'));
  return m ? Number(m[1]) : undefined;
};

/** A UDP socket that sends to the engine and keeps every datagram it gets back. */
class UdpPeer {
  readonly received: Buffer[] = [];
  private constructor(readonly socket: dgram.Socket, private readonly port: number) {
    socket.on('message', (m) => this.received.push(m));
  }
  static async open(port: number): Promise<UdpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new UdpPeer(socket, port);
  }
  send(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, this.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  /** Sends one datagram and resolves with the first answer, or undefined after `quietMs` of silence. */
  async exchange(bytes: Buffer, quietMs: number): Promise<Buffer | undefined> {
    const before = this.received.length;
    await this.send(bytes);
    const deadline = Date.now() + quietMs;
    while (Date.now() < deadline) {
      if (this.received.length > before) return this.received[before];
      await sleep(5);
    }
    return undefined;
  }
  close(): void {
    this.socket.close();
  }
}

/** Writes bytes on a fresh TCP connection; resolves with what came back and whether the engine closed it. */
function tcpExchange(port: number, bytes: Buffer, quietMs: number): Promise<{ reply: Buffer; closedByEngine: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closedByEngine: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closedByEngine });
    };
    const timer = setTimeout(() => finish(false), quietMs);
    socket.on('data', (d) => {
      chunks.push(d);
      // One whole response is enough: stop waiting.
      if (Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? finish(true) : reject(e)));
    socket.on('connect', () => socket.write(bytes));
  });
}

/** Writes bytes on a fresh TCP connection and resolves true once the engine has closed it. */
function tcpClosedAfter(port: number, bytes: Buffer, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.on('data', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(bytes));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function options(port: number, extraHeaders: string[] = [], body = ''): Buffer {
  const branch = 'z9hG4bK' + randomBytes(8).toString('hex');
  return Buffer.from(
    [
      `OPTIONS sip:bob@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:9;branch=${branch};rport`,
      'Max-Forwards: 70',
      `To: <sip:bob@127.0.0.1:${port}>`,
      'From: <sip:junk@127.0.0.1>;tag=j1',
      `Call-ID: ${branch}@127.0.0.1`,
      'CSeq: 1 OPTIONS',
      ...extraHeaders,
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
    'latin1',
  );
}

/** global.gc, whether or not node was started with --expose-gc. */
function collectGarbage(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('an engine fed junk over real sockets', () => {
  let bob: Engine;
  let alice: Engine;
  const dirs: string[] = [];
  let udp: UdpPeer;

  before(async () => {
    dirs.push(await tempDataDir(), await tempDataDir());
    bob = await Engine.start({ dataDir: dirs[0], bind: '127.0.0.1', sipPort: 0, user: { userName: 'bob' } });
    alice = await Engine.start({ dataDir: dirs[1], bind: '127.0.0.1', sipPort: 0, user: { userName: 'alice' } });
    udp = await UdpPeer.open(bob.sip.port);
  });
  after(async () => {
    udp?.close();
    await alice?.stop();
    await bob?.stop();
    for (const dir of dirs) await removeDir(dir);
  });

  it('answers every invalid RFC 4475 request over UDP with the RFC status and drops invalid responses', async () => {
    const before = { ...bob.sip.counters };
    for (const [name, expected] of Object.entries(INVALID)) {
      const reply = await udp.exchange(torture(name), expected === null ? 300 : 2_000);
      assert.equal(reply ? statusOf(reply) : null, expected, `${name} over UDP`);
    }
    const answered = Object.values(INVALID).filter((s) => s !== null).length;
    assert.equal(bob.sip.counters.malformedDropped - before.malformedDropped, Object.keys(INVALID).length);
    assert.equal(bob.sip.counters.badRequestsAnswered - before.badRequestsAnswered, answered);
    assert.equal(bob.sip.counters.requestsIn, before.requestsIn, 'no invalid message reached a handler');
  });

  it('answers the invalid RFC 4475 requests over TCP too', async () => {
    // clerr is left out: on a stream a short body means "wait for more" (RFC 4475 3.1.2.2).
    for (const [name, expected] of Object.entries(INVALID)) {
      if (name === 'clerr') continue;
      const { reply } = await tcpExchange(bob.sip.port, torture(name), expected === null ? 300 : 2_000);
      assert.equal(reply.length ? statusOf(reply) : null, expected, `${name} over TCP`);
    }
  });

  it('answers a request that requires an unknown extension with 420 and lists it in Unsupported (RFC 4475 3.3.5)', async () => {
    const reply = await udp.exchange(torture('bext01'), 2_000);
    assert.ok(reply, 'bext01 got no answer');
    const text = reply.toString('latin1');
    assert.equal(statusOf(reply), 420);
    assert.match(text, /\r\nUnsupported: nothingSupportsThis, nothingSupportsThisEither\r\n/);
  });

  it('answers a TCP message with an unreadable Content-Length with 400, then closes the connection', async () => {
    for (const name of ['ncl', 'mcl01']) {
      const { reply, closedByEngine } = await tcpExchange(bob.sip.port, torture(name), 2_000);
      assert.equal(statusOf(reply), 400, `${name} over TCP`);
      // The stream cannot be framed past this message: the engine must not read the body as a new one.
      await waitFor(`${name}: the engine closes the connection`, async () => closedByEngine || (await tcpClosedAfter(bob.sip.port, torture(name))));
    }
  });

  it('stays silent for truncated datagrams and answers a truncated body with 400', async () => {
    const whole = options(bob.sip.port, ['Content-Type: text/plain'], 'a body of some length');
    const headerEnd = whole.indexOf('\r\n\r\n');
    const before = bob.sip.counters.malformedDropped;
    for (const cut of [1, 10, 40, headerEnd - 20, headerEnd, headerEnd + 2]) {
      assert.equal(await udp.exchange(whole.subarray(0, cut), 150), undefined, `cut at ${cut}`);
    }
    const shortBody = await udp.exchange(whole.subarray(0, whole.length - 5), 2_000);
    assert.equal(shortBody && statusOf(shortBody), 400);
    assert.equal(bob.sip.counters.malformedDropped - before, 7);
  });

  it('handles the largest datagram UDP can carry', async () => {
    // 65,507 bytes is the IPv4 UDP payload limit; a 70 KB message can only come over TCP (below).
    const base = options(bob.sip.port, ['X-Padding: ']);
    const padded = options(bob.sip.port, ['X-Padding: ' + 'p'.repeat(65_507 - base.length)]);
    assert.equal(padded.length, 65_507);
    const reply = await udp.exchange(padded, 2_000);
    assert.equal(reply && statusOf(reply), 200);
  });

  it('closes a TCP connection whose header section or message exceeds 64 KiB', async () => {
    const before = bob.sip.counters.malformedDropped;
    const endless = Buffer.concat([options(bob.sip.port).subarray(0, 60), Buffer.from('X-Junk: ' + 'j'.repeat(70 * 1024))]);
    const headers = await tcpExchange(bob.sip.port, endless, 3_000);
    assert.equal(headers.closedByEngine, true, 'headers never ending');
    assert.equal(headers.reply.length, 0);
    const huge = options(bob.sip.port, ['Content-Type: text/plain'], 'b'.repeat(70 * 1024));
    const body = await tcpExchange(bob.sip.port, huge, 3_000);
    assert.equal(body.closedByEngine, true, 'a 70 KB message');
    assert.equal(body.reply.length, 0);
    assert.equal(bob.sip.counters.malformedDropped - before, 2);
  });

  it('drops thousands of random datagrams silently, counts them, and keeps its memory', async () => {
    const random = seededRandom(4475);
    const gc = collectGarbage();
    const sendJunk = async (count: number) => {
      const start = bob.sip.counters.malformedDropped;
      // In bursts small enough for the socket buffer, so that every datagram is processed and counted.
      for (let sent = 0; sent < count; ) {
        const burst = Math.min(100, count - sent);
        for (let i = 0; i < burst; i++) {
          const bytes = Buffer.alloc(1 + Math.floor(random() * 1400));
          for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
          await udp.send(bytes);
        }
        sent += burst;
        await waitFor(`${sent} datagrams counted`, () => bob.sip.counters.malformedDropped - start >= sent);
      }
      assert.equal(bob.sip.counters.malformedDropped - start, count);
    };
    const repliesBefore = udp.received.length;
    await sendJunk(2_000); // warm-up: JIT, buffers and the heap reach their working size
    gc();
    // Heap plus external memory (where Buffers live) is what a leak of junk would hold on to;
    // RSS is checked too, loosely, since the allocator keeps freed pages for a while.
    const retained = () => process.memoryUsage().heapUsed + process.memoryUsage().external;
    const retainedBefore = retained();
    const rssBefore = process.memoryUsage().rss;
    await sendJunk(20_000); // about 14 MB of junk: kept in any form, it would show below
    gc();
    const retainedGrowth = retained() - retainedBefore;
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    if (process.env.PEERDIAL_DEBUG_MEMORY) console.log({ retainedGrowth, rssGrowth });
    assert.equal(udp.received.length, repliesBefore, 'random bytes get no answer');
    assert.ok(retainedGrowth < 6 * 1024 * 1024, `heap and buffers grew by ${(retainedGrowth / 1048576).toFixed(1)} MB`);
    assert.ok(rssGrowth < 32 * 1024 * 1024, `RSS grew by ${(rssGrowth / 1048576).toFixed(1)} MB`);
  });

  it('still delivers a MESSAGE after all of it', async () => {
    const sent = await alice.im.send(bob.sipContact!, 'still here? ✓');
    await waitFor('delivery', async () => (await alice.im.history(bob.sipContact!, 10)).some((m) => m.id === sent.id && m.status !== 'sending'));
    const outcome = (await alice.im.history(bob.sipContact!, 10)).find((m) => m.id === sent.id)!;
    assert.equal(outcome.status, 'delivered', outcome.reason);
    const atBob = await bob.im.history(alice.sipContact!, 10);
    assert.ok(atBob.some((m) => m.direction === 'in' && m.text === 'still here? ✓'));
  });
});
