// pipePaced over real loopback sockets: every byte arrives, in order, no sooner than the pacing
// allows; a chunk that needs no wait goes at once; a user who hangs up stops the upstream.
import assert from 'node:assert/strict';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { TokenBucket } from '../../../native/proto/rescue/token-bucket.js';
import { pipePaced } from '../../../native/transport/http.js';

/** A server whose handler pipes `body` (in 16 KB pieces) through pipePaced with `delayFor`. */
function serve(body: Buffer, delayFor: (bytes: number) => number, seen: number[]) {
  return http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    const from = new PassThrough();
    void pipePaced(from, res, delayFor, (bytes) => seen.push(bytes));
    for (let i = 0; i < body.length; i += 16 * 1024) from.write(body.subarray(i, i + 16 * 1024));
    from.end();
  });
}

async function get(port: number): Promise<{ body: Buffer; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(chunks), ms: performance.now() - started }));
    }).on('error', reject);
  });
}

describe('pipePaced', () => {
  const body = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => i % 251));
  const listening: http.Server[] = [];
  const listen = async (server: http.Server) => {
    listening.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  };
  after(() => Promise.all(listening.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

  it('delivers the whole body in order, each chunk no sooner than its booking allows', async () => {
    // A bucket of 400 KB/s with no burst: 200 KB take at least half a second.
    const bucket = new TokenBucket({ bytesPerSecond: 400_000, burstBytes: 0, now: Date.now() });
    const seen: number[] = [];
    const port = await listen(serve(body, (bytes) => bucket.reserve(bytes, Date.now()), seen));
    const got = await get(port);
    assert.ok(got.body.equals(body), 'the same bytes, in order');
    assert.equal(seen.reduce((a, b) => a + b, 0), body.length, 'every byte counted once');
    assert.ok(got.ms >= 480, `took ${got.ms.toFixed(0)} ms, paced at 400 KB/s`);
  });

  it('sends at once when no chunk has to wait', async () => {
    const seen: number[] = [];
    const port = await listen(serve(body, () => 0, seen));
    const got = await get(port);
    assert.ok(got.body.equals(body));
    assert.ok(got.ms < 1_000, `took ${got.ms.toFixed(0)} ms`);
  });

  it('stops reading the upstream when the user hangs up', async () => {
    const from = new PassThrough();
    let destroyed = false;
    from.on('close', () => (destroyed = true));
    const server = http.createServer((_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
      void pipePaced(from, res, () => 60_000, () => undefined).then(() => server.emit('piped'));
      from.write(Buffer.alloc(1024));
    });
    const port = await listen(server);
    const piped = new Promise((resolve) => server.once('piped', resolve));
    const req = http.get({ host: '127.0.0.1', port, path: '/' }, (res) => res.once('data', () => undefined));
    req.on('error', () => undefined);
    // The response waits a minute for its first chunk; the user leaves before.
    req.on('response', () => req.destroy());
    await piped;
    assert.equal(destroyed, true, 'the upstream side was destroyed');
  });
});
