// The fast lane over real loopback sockets: simple requests it has an answer for are written from
// prebuilt bytes; the first one it has not, and everything after it on that connection, goes to
// node:http, which reads it from its first byte (pipelined requests included), in order.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listenHttpWithFastLane, type FastAnswer } from '../../../native/transport/http-fast-lane.js';
import type { HttpListener } from '../../../native/transport/http.js';
import { responseHead } from '../../../native/wire/http/simple-request.js';

const BODY = Buffer.alloc(10 * 1024, 'f');
const answer = (booked: number[], sent: string[], target: string): FastAnswer => ({
  pieces: [Buffer.concat([responseHead(200, 'OK', [['Content-Length', String(BODY.length)], ['X-Lane', 'fast']]), BODY])],
  book: (bytes) => (booked.push(bytes), 0),
  sent: () => sent.push(target),
});

/** Sends `text` on one connection and reads until `responses` HTTP responses (with Content-Length bodies) arrived. */
function exchange(port: number, text: string, responses: number): Promise<Array<{ status: number; lane: string; body: string }>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let buf = Buffer.alloc(0);
    const out: Array<{ status: number; lane: string; body: string }> = [];
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) break;
        out.push({ status: Number(head.split(' ')[1]), lane: /x-lane: (\w+)/i.exec(head)?.[1] ?? '', body: buf.toString('latin1', end + 4, end + 4 + length) });
        buf = buf.subarray(end + 4 + length);
      }
      if (out.length >= responses) {
        socket.destroy();
        resolve(out);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${out.length} of ${responses} responses`)));
  });
}

describe('an HTTP listener with a fast lane', () => {
  let listener: HttpListener;
  const booked: number[] = [];
  const sent: string[] = [];
  before(async () => {
    listener = await listenHttpWithFastLane(
      (req, res) => {
        const text = `${req.method} ${req.url} ${req.headers['cache-control'] ?? ''}`;
        res.writeHead(200, { 'x-lane': 'full', 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      },
      (request) => (request.target.startsWith('/fast') ? answer(booked, sent, request.target) : undefined),
      { host: '127.0.0.1', port: 0, what: 'Test' },
    );
  });
  after(() => listener.close());

  it('answers simple requests it has bytes for, pipelined, in order, booking every byte', async () => {
    booked.length = 0;
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const got = await exchange(listener.port, req('/fast/1') + req('/fast/2') + req('/fast/3'), 3);
    assert.deepEqual(got.map((r) => r.lane), ['fast', 'fast', 'fast']);
    assert.ok(got.every((r) => r.status === 200 && r.body === BODY.toString('latin1')));
    assert.equal(booked.length, 3);
    assert.deepEqual(sent.slice(-3), ['/fast/1', '/fast/2', '/fast/3']);
  });

  it('hands the connection to node:http at the first request it has no answer for, with what it had read', async () => {
    const text =
      'GET /fast/a HTTP/1.1\r\nHost: x\r\n\r\n' +
      // Not simple (a cache directive): node:http reads it, and the simple one after it too.
      'GET /fast/b HTTP/1.1\r\nHost: x\r\nCache-Control: no-cache\r\n\r\n' +
      'GET /fast/c HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc';
    const got = await exchange(listener.port, text, 4);
    assert.equal(got[0].lane, 'fast');
    assert.equal(got[0].body, BODY.toString('latin1'));
    assert.deepEqual(
      got.slice(1).map((r) => `${r.lane} ${r.body}`),
      ['full GET /fast/b no-cache', 'full GET /fast/c ', 'full POST /form '],
    );
  });

  it('leaves malformed requests to node:http, which drops the connection as listenHttp does', async () => {
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(listener.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\nBad Name: b\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(closed, '', 'no answer, closed');
  });

  it('waits out the pacing before each piece it is told to, books each piece once, and keeps pipelined answers in order', async () => {
    const booked: string[] = [];
    const WAIT_MS = 30;
    const paced = await listenHttpWithFastLane(
      () => undefined,
      (request) => {
        const body = Buffer.from(`${request.target} `.repeat(3000), 'latin1');
        const whole = Buffer.concat([responseHead(200, 'OK', [['Content-Length', String(body.length)], ['X-Lane', 'fast']]), body]);
        const pieces = [whole.subarray(0, 4000), whole.subarray(4000, 9000), whole.subarray(9000)];
        return { pieces, book: (bytes) => (booked.push(`${request.target} ${bytes}`), WAIT_MS), sent: () => undefined };
      },
      { host: '127.0.0.1', port: 0, what: 'Test' },
    );
    try {
      const started = performance.now();
      const got = await exchange(paced.port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n', 2);
      const elapsed = performance.now() - started;
      assert.deepEqual(got.map((r) => r.body), ['/a '.repeat(3000), '/b '.repeat(3000)]);
      assert.equal(booked.length, 6, `each of the 3 pieces of 2 answers booked once: ${booked.join(', ')}`);
      assert.deepEqual(booked.map((b) => b.split(' ')[0]), ['/a', '/a', '/a', '/b', '/b', '/b']);
      assert.ok(elapsed >= 6 * WAIT_MS - 10, `six paced pieces of ${WAIT_MS} ms each took ${elapsed.toFixed(0)} ms`);
    } finally {
      await paced.close();
    }
  });

  it('waits for a slow reader without piling listeners on its socket', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'b');
    const pieces = [Buffer.concat([responseHead(200, 'OK', [['Content-Length', String(big.length)]]), big.subarray(0, 65536)])];
    for (let o = 65536; o < big.length; o += 65536) pieces.push(big.subarray(o, o + 65536));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const slow = await listenHttpWithFastLane(() => undefined, () => ({ pieces, book: () => 0, sent: () => undefined }), { host: '127.0.0.1', port: 0, what: 'Test' });
    try {
      const received = await new Promise<number>((resolve, reject) => {
        // Six answers on one connection: a listener left behind by each blocked write would add up past Node's 10.
        const socket = net.connect(slow.port, '127.0.0.1', () => socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(6)));
        let bytes = 0;
        // Reads in bursts with pauses, so the server's writes back up again and again.
        socket.on('data', (d: Buffer) => {
          bytes += d.length;
          socket.pause();
          setTimeout(() => socket.resume(), 2);
          if (bytes >= 6 * big.length) {
            socket.destroy();
            resolve(bytes);
          }
        });
        socket.on('error', reject);
      });
      assert.ok(received >= 6 * big.length, 'every answer arrived');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, [], 'no MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await slow.close();
    }
  });

  it('hands over a request that arrives in pieces', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(listener.port, '127.0.0.1', () => {
        socket.write('GET /other HTTP/1.1\r\nHo');
        setImmediate(() => socket.write('st: x\r\n\r\n'));
      });
      let text = '';
      socket.on('data', (d) => {
        text += d;
        if (text.includes('GET /other')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    assert.match(got, /x-lane: full/i);
  });
});
