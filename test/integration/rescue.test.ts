// The DotSlash rescue path end to end on loopback: a web server, `peerdial origin` in front of it
// with a small capacity, and real `peerdial node --rescue` processes as rescue servers found
// through the overlay. Load is real HTTP from a client that follows redirects as a browser does.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { controlOf } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { startOrigin, type OriginProcess } from '../support/origin-process.js';
import { until } from '../support/poll.js';
import { runLoad } from '../support/web-load.js';
import { startWebUpstream, type WebUpstream } from '../support/web-upstream.js';

const FAST_RING = { PEERDIAL_CHORD: JSON.stringify({ stabilizeMs: 300, fixFingersMs: 300, checkPredecessorMs: 300, replicateMs: 1000 }) };
const RESCUE_ARGS = ['--rescue', '--donate-mbit', '40', '--donate-gb-per-day', '10', '--cache-mb', '50', '--no-mdns', '--no-multicast-register'];

async function rescueView(node: NodeProcess) {
  const control = controlOf(node);
  try {
    return await control.invoke('rescue.status', {});
  } finally {
    control.close();
  }
}

async function configure(node: NodeProcess, change: { enabled: boolean }) {
  const control = controlOf(node);
  try {
    return await control.invoke('rescue.configure', change);
  } finally {
    control.close();
  }
}

/** Asks each path once, so the origin has seen them cacheable before the spike. */
async function warm(site: string, paths: string[]): Promise<void> {
  for (const p of paths) await (await fetch(new URL(p, site))).arrayBuffer();
}

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('rescue: origin and three rescue servers on loopback', () => {
  let upstream: WebUpstream;
  const rescuers: NodeProcess[] = [];
  let origin: OriginProcess;
  let paths: string[];

  before(async () => {
    upstream = await startWebUpstream({ count: 24, minBytes: 10_000, maxBytes: 60_000 });
    paths = [...upstream.files.keys()];
    const first = await startNode({ user: 'r1', args: RESCUE_ARGS, env: FAST_RING });
    rescuers.push(first);
    for (const user of ['r2', 'r3']) rescuers.push(await startNode({ user, args: [...RESCUE_ARGS, '--bootstrap', `127.0.0.1:${first.sipPort}`], env: FAST_RING }));
    for (const node of rescuers) {
      assert.match(node.output(), /^rescue: http:\/\/127\.0\.0\.1:\d+$/m, 'a node started with --rescue prints its rescue URL');
      await until('the rescue advertisement to be stored in the overlay', async () => (await rescueView(node)).advertised.overlay, 30_000);
    }
    origin = await startOrigin({ upstream: upstream.url, capacity: '2mbit', args: ['--no-mdns', '--band', '0.5-0.7', '--bootstrap', `127.0.0.1:${first.sipPort}`] });
    await warm(origin.siteUrl, paths);
  });

  after(async () => {
    await origin?.stop();
    for (const node of rescuers) {
      await node.stop();
      await removeDir(node.dataDir);
    }
    if (origin) await removeDir(origin.dataDir);
    await upstream?.close();
  });

  test('a rescue server refuses sites that never asked it and anything but GET and HEAD: it is no open proxy', async () => {
    const { httpUrl } = await rescueView(rescuers[0]);
    assert.ok(httpUrl);
    const never = await fetch(`${httpUrl}/r/0123456789abcdef/f/0.bin`, { redirect: 'manual' });
    assert.equal(never.status, 404);
    assert.match(await never.text(), /not helping that site/);
    assert.equal((await fetch(`${httpUrl}/r/${origin.originId!}/f/0.bin`, { redirect: 'manual' })).status, 404, 'the origin has not asked yet (it is calm)');
    assert.equal((await fetch(`${httpUrl}/`)).status, 404);
    const port = Number(new URL(httpUrl).port);
    const absolute = await rawRequest(port, `GET http://127.0.0.1:${new URL(upstream.url).port}/f/0.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    assert.match(absolute, /^HTTP\/1\.1 404/, 'an absolute-form request (a forward proxy request) is refused');
    const connect = await rawRequest(port, `CONNECT 127.0.0.1:${new URL(upstream.url).port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.doesNotMatch(connect, /^HTTP\/1\.1 200/, 'CONNECT never opens a tunnel');
    const view = await rescueView(rescuers[0]);
    assert.equal(view.state, 'normal');
    assert.equal(view.sites.length, 0);
  });

  test('a spike moves the origin to SOS, users are redirected to rescuers and get the site\'s own bytes, and when it ends every rescuer is released', async () => {
    const before = await origin.status();
    assert.equal(before.state, 'normal');
    const load = await runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 40, seconds: 12 });
    assert.deepEqual(load.failures.slice(0, 5), [], `every request succeeds (${load.failures.length} failed)`);
    assert.equal(load.mismatched, 0, 'every body is byte-identical to the site\'s');
    assert.ok(load.redirected > load.sent * 0.3, `many users were redirected to rescuers (${load.redirected} of ${load.sent})`);
    const during = await origin.status();
    assert.ok(during.totals.redirected > 0);
    assert.ok(during.rescuers.length >= 1, 'the origin found rescuers through the overlay');
    const rescuerHosts = new Set(during.rescuers.map((r) => new URL(r.httpUrl).host));
    assert.ok([...load.servedBy.keys()].some((h) => rescuerHosts.has(h)), 'responses came from the rescue servers');
    assert.ok(during.log.some((l) => /SOS/.test(l.text)), 'the origin logged the move to SOS');

    const released = await until('the origin to be back to normal with every rescuer released', async () => {
      const s = await origin.status();
      return s.state === 'normal' && s.rescuers.every((r) => r.state !== 'active') ? s : undefined;
    }, 45_000);
    assert.ok(released.log.some((l) => /back to normal/.test(l.text)));
    let served = 0;
    for (const node of rescuers) {
      const view = await rescueView(node);
      const site = view.sites.find((s) => s.originId === origin.originId!);
      if (!site) continue;
      await until('the rescuer to see the rescue ended', async () => (await rescueView(node)).sites.find((s) => s.originId === origin.originId!)?.state === 'ended', 10_000);
      served += site.requestsServed;
      assert.ok(view.totals.hitRatio >= 0 && view.totals.hitRatio <= 1);
    }
    assert.ok(served > 0, 'the rescuers counted what they served');
    // Only while the rescue lasts: a late user is sent back to the site, not served.
    const helped = released.rescuers[0];
    const late = await fetch(`${helped.httpUrl}/r/${origin.originId!}/f/1.bin`, { redirect: 'manual' });
    assert.equal(late.status, 302);
    assert.equal(late.headers.get('location'), new URL('/f/1.bin', origin.siteUrl).toString());
  });

  test('a dynamic page the site marks cacheable for 1 s is micro-cached by rescuers, and a private one is never redirected', async () => {
    await warm(origin.siteUrl, ['/dynamic', '/private']);
    const spike = runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 40, seconds: 10 });
    await until('the origin to be redirecting', async () => (await origin.status()).redirectProbability > 0.5, 15_000);
    const madeBefore = upstream.dynamic;
    let viaRescuer = 0;
    let privateRedirected = 0;
    let oldest = 0;
    const stopAt = Date.now() + 5_000;
    while (Date.now() < stopAt) {
      const [dynamic, personal] = await Promise.all([fetch(new URL('/dynamic', origin.siteUrl)), fetch(new URL('/private', origin.siteUrl))]);
      const page = (await dynamic.json()) as { generation: number; at: number };
      await personal.arrayBuffer();
      if (personal.redirected) privateRedirected++;
      if (dynamic.redirected) {
        viaRescuer++;
        oldest = Math.max(oldest, Date.now() - page.at);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await spike;
    const made = upstream.dynamic - madeBefore;
    assert.ok(viaRescuer > 20, `rescuers served the dynamic page (${viaRescuer} times)`);
    assert.ok(made < viaRescuer / 2, `the site made it ${made} times for ${viaRescuer} answers from rescuers`);
    assert.ok(oldest < 3_000, `no answer older than its 1 s lifetime allows (oldest ${oldest} ms)`);
    assert.equal(privateRedirected, 0, 'a private, uncacheable page is always served by the site itself');
  });

  test('a rescuer switched off mid-rescue is replaced without a failed request', async () => {
    const loading = runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 40, seconds: 16 });
    const busy = await until('rescuers to be serving', async () => {
      const s = await origin.status();
      const active = s.rescuers.filter((r) => r.state === 'active' && r.redirected > 0);
      return active.length ? active : undefined;
    }, 20_000);
    const target = busy[0];
    let victim: NodeProcess | undefined;
    for (const node of rescuers) if ((await rescueView(node)).httpUrl === target.httpUrl) victim = node;
    assert.ok(victim, 'the busy rescuer is one of ours');
    const off = await configure(victim, { enabled: false });
    assert.equal(off.state, 'off');
    assert.equal(off.sites.find((s) => s.originId === origin.originId!)?.state, 'ended');
    const load = await loading;
    assert.deepEqual(load.failures.slice(0, 5), [], `no request failed (${load.failures.length} failed of ${load.sent})`);
    assert.equal(load.mismatched, 0);
    const s = await origin.status();
    const gone = s.rescuers.find((r) => r.httpUrl === target.httpUrl && r.state !== 'active');
    assert.ok(gone, 'the origin stopped using the switched-off rescuer');
    assert.match(gone.reason ?? '', /switched off/);
    assert.ok(s.rescuers.some((r) => r.httpUrl !== target.httpUrl && r.redirected > 0), 'others carried the redirects');
    await configure(victim, { enabled: true });
  });
});

describe('rescue: a rescuer that alters content', () => {
  let upstream: WebUpstream;
  let node: NodeProcess;
  let origin: OriginProcess;
  let tamper: http.Server;

  after(async () => {
    await origin?.stop();
    await node?.stop();
    tamper?.closeAllConnections();
    tamper?.close();
    await upstream?.close();
    if (node) await removeDir(node.dataDir);
    if (origin) await removeDir(origin.dataDir);
  });

  test('is caught by the origin\'s spot checks and dropped, and users are no longer sent to it', async () => {
    upstream = await startWebUpstream({ count: 12, minBytes: 20_000, maxBytes: 60_000 });
    const paths = [...upstream.files.keys()];
    const realPort = await freePort();
    const tamperPort = await freePort();
    // Between users and a real rescue server: flips one byte of every body it passes on.
    tamper = http.createServer((req, res) => {
      const up = http.request({ host: '127.0.0.1', port: realPort, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          if (body.length > 100) body[100] ^= 0xff;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.end(body);
        });
      });
      up.on('error', () => res.destroy());
      up.end();
    });
    await new Promise<void>((resolve) => tamper.listen(tamperPort, '127.0.0.1', () => resolve()));
    node = await startNode({ user: 'mallory', args: [...RESCUE_ARGS, '--rescue-port', String(realPort), '--rescue-url', `http://127.0.0.1:${tamperPort}`] });
    origin = await startOrigin({ upstream: upstream.url, capacity: '2mbit', args: ['--no-mdns', '--band', '0.5-0.7', '--rescuer', `127.0.0.1:${node.sipPort}`] });
    await warm(origin.siteUrl, paths);

    await runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 30, seconds: 8 });
    const dropped = await until('the origin to drop the rescuer', async () => {
      const s = await origin.status();
      return s.rescuers.find((r) => r.state === 'dropped');
    }, 20_000);
    assert.match(dropped.reason ?? '', /altered content/);
    const status = await origin.status();
    assert.ok(status.totals.spotCheckFailures >= 1);

    const after = await runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 20, seconds: 4 });
    assert.equal(after.mismatched, 0, 'after the drop nobody gets altered content');
    assert.equal(after.redirected, 0, 'nobody is sent to the dropped rescuer (and it is never asked again)');
    assert.deepEqual(after.failures, []);
  });
});

describe('rescue: the donation cap', () => {
  let upstream: WebUpstream;
  let node: NodeProcess;
  let origin: OriginProcess;

  after(async () => {
    await origin?.stop();
    await node?.stop();
    await upstream?.close();
    if (node) await removeDir(node.dataDir);
    if (origin) await removeDir(origin.dataDir);
  });

  test('holds what a rescuer serves to its donated bandwidth over every 10 s window, however many users ask', async () => {
    upstream = await startWebUpstream({ count: 8, minBytes: 40_000, maxBytes: 60_000 });
    const paths = [...upstream.files.keys()];
    const donateMbit = 4;
    node = await startNode({ user: 'capped', args: ['--rescue', '--donate-mbit', String(donateMbit), '--cache-mb', '50', '--no-mdns', '--no-multicast-register'] });
    origin = await startOrigin({ upstream: upstream.url, capacity: '1mbit', args: ['--no-mdns', '--band', '0.5-0.7', '--rescuer', `127.0.0.1:${node.sipPort}`] });
    await warm(origin.siteUrl!, paths);
    const spike = runLoad({ site: origin.siteUrl!, paths, digest: (p) => upstream.digest(p), rps: 20, seconds: 4 });
    const rescuer = await until('a rescuer to be serving', async () => (await origin.status()).rescuers.find((r) => r.state === 'active'), 15_000);
    await spike;
    // Far more than the donation, straight at the rescue URLs: 16 users fetching back to back.
    const stopAt = Date.now() + 14_000;
    let received = 0;
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        while (Date.now() < stopAt) {
          const res = await fetch(`${rescuer.httpUrl}/r/${origin.originId!}${paths[i % paths.length]}`);
          received += (await res.arrayBuffer()).byteLength;
        }
      }),
    );
    const view = await rescueView(node);
    const perSecond = view.samples.map((s) => s.bytes);
    const capPer10s = ((donateMbit * 1e6) / 8) * 10;
    let busiest = 0;
    for (let i = 0; i + 10 <= perSecond.length; i++) busiest = Math.max(busiest, perSecond.slice(i, i + 10).reduce((a, b) => a + b, 0));
    assert.ok(busiest <= capPer10s * 1.05, `the busiest 10 s carried ${(busiest / 1e6).toFixed(2)} MB, the donation allows ${(capPer10s / 1e6).toFixed(2)} MB`);
    assert.ok(busiest >= capPer10s * 0.75, `and it gave most of it: ${(busiest / 1e6).toFixed(2)} MB`);
    assert.ok(received > 0);
  });
});

describe('rescue: a rescuer that joins later', () => {
  let upstream: WebUpstream;
  const nodes: NodeProcess[] = [];
  let origin: OriginProcess;

  after(async () => {
    await origin?.stop();
    for (const node of nodes) {
      await node.stop();
      await removeDir(node.dataDir);
    }
    if (origin) await removeDir(origin.dataDir);
    await upstream?.close();
  });

  test('fills its cache from the rescuers already helping, not over the site\'s congested link', async () => {
    upstream = await startWebUpstream({ count: 6, minBytes: 30_000, maxBytes: 50_000 });
    const paths = [...upstream.files.keys()];
    // A small donation: the first rescuer cannot carry the spike alone, so the origin asks for more.
    const first = await startNode({ user: 'early', args: ['--rescue', '--donate-mbit', '3', '--cache-mb', '50', '--no-mdns', '--no-multicast-register'], env: FAST_RING });
    nodes.push(first);
    const later = await startNode({ user: 'late', args: ['--no-rescue', '--bootstrap', `127.0.0.1:${first.sipPort}`, '--no-mdns', '--no-multicast-register'], env: FAST_RING });
    nodes.push(later);
    await until('the first rescuer to be advertised', async () => (await rescueView(first)).advertised.overlay, 30_000);
    origin = await startOrigin({ upstream: upstream.url, capacity: '1mbit', args: ['--no-mdns', '--band', '0.5-0.7', '--bootstrap', `127.0.0.1:${first.sipPort}`] });
    await warm(origin.siteUrl, paths);

    const spike = runLoad({ site: origin.siteUrl, paths, digest: (p) => upstream.digest(p), rps: 25, seconds: 16 });
    await until('the first rescuer to serve every file', async () => (await rescueView(first)).sites[0]?.requestsServed > 30, 15_000);
    await configure(later, { enabled: true });
    const joined = await until('the later rescuer to be serving', async () => {
      const v = await rescueView(later);
      return v.sites[0]?.requestsServed > 0 && v;
    }, 20_000);
    const result = await spike;
    assert.equal(result.mismatched, 0, 'every body is the site\'s own');
    assert.deepEqual(result.failures.slice(0, 5), []);
    const view = await rescueView(later);
    assert.ok(joined.sites[0].state === 'active');
    assert.ok(view.totals.filledFromPeers >= 1, `the later rescuer filled its cache from the first (${view.totals.filledFromPeers} fills)`);
  });
});
