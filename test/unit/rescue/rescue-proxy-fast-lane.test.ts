// The rescue proxy's two lanes answer a cache hit alike: the same status, headers and body, paced
// and counted the same, whether the fast lane (prebuilt bytes) or node:http (handle) writes it.
// Real parts: the rescue cache on disk, the proxy, the fast-lane listener on loopback.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../native/log.js';
import { RescueCache } from '../../../native/services/rescue/rescue-cache.js';
import { RescueProxy } from '../../../native/services/rescue/rescue-proxy.js';
import { RescueSession } from '../../../native/services/rescue/rescue-session.js';
import { HttpFetcher, type HttpListener } from '../../../native/transport/http.js';
import { listenHttpWithFastLane } from '../../../native/transport/http-fast-lane.js';
import type { SosMessage } from '../../../native/wire/rescue/dsrp.js';

const ORIGIN = '0123456789abcdef';
const BODY = Buffer.from(Array.from({ length: 150 * 1024 }, (_, i) => (i * 7) % 256));

// Keep-alive, as browsers and load generators ask: a request with Connection: close is not simple.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a cache hit through the fast lane and through node:http', () => {
  let dir: string;
  let cache: RescueCache;
  let listener: HttpListener;
  let session: RescueSession;
  const booked: number[] = [];
  const served: Array<{ bytes: number; hit: boolean }> = [];
  /** Requests node:http handed to the proxy's handle(): the ones the fast lane did not answer. */
  let handled = 0;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'peerdial-fast-lane-'));
    cache = await RescueCache.open({ dir, maxBytes: 10_000_000, memoryBytes: 10_000_000 });
    const now = Date.now();
    await cache.put(`${ORIGIN} /big.bin`, {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', date: new Date(now).toUTCString(), etag: '"b1"', 'content-digest': 'sha-256=:x:' },
      requestTime: now - 5,
      responseTime: now,
      size: BODY.length,
    }, BODY);
    session = new RescueSession({ type: 'sos', origin: ORIGIN, key: 'k', site: 'http://site.test/', upstream: 'http://127.0.0.1:1', sip: 'sip:o@127.0.0.1', wantRps: 10, meanBytes: 1000 } as SosMessage, now);
    const proxy = new RescueProxy({
      cache,
      fetcher: new HttpFetcher(),
      session: (id) => (id === ORIGIN ? session : undefined),
      sessionByHost: () => undefined,
      pace: (bytes) => (booked.push(bytes), 0),
      onServed: (_s, bytes, hit) => served.push({ bytes, hit }),
      selfId: 'self',
      log: createLogger('test', 'error'),
    });
    listener = await listenHttpWithFastLane((req, res) => (handled++, proxy.handle(req, res)), proxy.fast, { host: '127.0.0.1', port: 0, what: 'Rescue' });
  });
  after(async () => {
    agent.destroy();
    await listener.close();
    await cache.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends the same status, headers and body, paced and counted the same', async () => {
    booked.length = 0;
    served.length = 0;
    const fast = await get(listener.port, `/r/${ORIGIN}/big.bin`);
    assert.equal(handled, 0, 'the fast lane answered');
    const bookedFast = booked.splice(0);
    // A header the fast lane does not take (not a cache directive): node:http and handle() answer.
    const full = await get(listener.port, `/r/${ORIGIN}/big.bin`, { 'x-trace': '1' });
    const bookedFull = booked.splice(0);
    assert.equal(handled, 1, 'node:http answered the second, on the same connection');
    assert.equal(fast.status, 200);
    assert.equal(full.status, 200);
    assert.ok(fast.body.equals(BODY) && full.body.equals(BODY), 'the whole body, both ways');
    const without = (h: http.IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'age'));
    assert.deepEqual(without(fast.headers), without(full.headers));
    assert.equal(fast.headers['x-cache'], 'HIT');
    assert.equal(bookedFast.length, 3, 'paced in 64 KB pieces, as writePaced does');
    assert.equal(bookedFull.length, 3);
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    assert.ok(sum(bookedFast) >= BODY.length && sum(bookedFull) >= BODY.length, 'every byte booked on the donation');
    assert.ok(Math.abs(sum(bookedFast) - sum(bookedFull)) < 200, `booked ${sum(bookedFast)} and ${sum(bookedFull)}: the head is counted by its size, or its estimate`);
    assert.deepEqual(served, [
      { bytes: served[1].bytes, hit: true },
      { bytes: served[1].bytes, hit: true },
    ]);
  });

  it('leaves HEAD, a conditional and an ended rescue to node:http', async () => {
    const before = handled;
    const head = await get(listener.port, `/r/${ORIGIN}/big.bin`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const conditional = await get(listener.port, `/r/${ORIGIN}/big.bin`, { 'if-none-match': '"b1"' });
    assert.equal(conditional.status, 304);
    session.end('released by the site', Date.now());
    const ended = await get(listener.port, `/r/${ORIGIN}/big.bin`);
    assert.equal(ended.status, 302, 'a user who arrives after the rescue is sent back to the site');
    assert.equal(ended.headers.location, 'http://site.test/big.bin');
    assert.equal(handled - before, 3);
  });
});
