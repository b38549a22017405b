// The rescue path in front of a real web server: nginx serves static files with its own ETag
// and Last-Modified and a short max-age; `peerdial origin` stands in front of it and a real
// rescue node helps. Users get nginx's exact bytes through redirects, and once the copies go
// stale the rescue server revalidates them with nginx's validators (nginx answers 304) instead
// of fetching them again.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireNginx, startNginx, type Nginx } from '../peers/nginx.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { startOrigin, type OriginProcess } from '../support/origin-process.js';
import { until } from '../support/poll.js';
import { runLoad } from '../support/web-load.js';

describe('rescue in front of nginx', () => {
  let root: string;
  let nginx: Nginx;
  let node: NodeProcess;
  let origin: OriginProcess;
  const digests = new Map<string, string>();

  before(async () => {
    requireNginx();
    root = await mkdtemp(path.join(os.tmpdir(), 'peerdial-site-'));
    await mkdir(path.join(root, 'static'));
    for (let i = 0; i < 10; i++) {
      const body = randomBytes(20_000 + i * 6_000);
      await writeFile(path.join(root, 'static', `f${i}.bin`), body);
      digests.set(`/static/f${i}.bin`, createHash('sha256').update(body).digest('hex'));
    }
    nginx = await startNginx({ root, cacheControl: 'public, max-age=3' });
    node = await startNode({ user: 'helper', args: ['--rescue', '--donate-mbit', '40', '--cache-mb', '50', '--no-mdns', '--no-multicast-register'] });
    origin = await startOrigin({ upstream: nginx.url, capacity: '1mbit', args: ['--no-mdns', '--band', '0.5-0.7', '--rescuer', `127.0.0.1:${node.sipPort}`] });
  });

  after(async () => {
    await origin?.stop();
    await node?.stop();
    await nginx?.stop();
    if (node) await removeDir(node.dataDir);
    if (origin) await removeDir(origin.dataDir);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('serves nginx\'s own bytes through the rescue server and revalidates stale copies with nginx\'s validators', async () => {
    const paths = [...digests.keys()];
    for (const p of paths) await (await fetch(new URL(p, origin.siteUrl))).arrayBuffer();
    const first = await runLoad({ site: origin.siteUrl, paths, digest: (p) => digests.get(p)!, rps: 30, seconds: 6 });
    assert.deepEqual(first.failures.slice(0, 5), [], `no request failed (${first.failures.length})`);
    assert.equal(first.mismatched, 0);
    assert.ok(first.redirected > 0, 'users were sent to the rescue server');
    const rescuer = await until('an active rescuer', async () => (await origin.status()).rescuers.find((r) => r.state === 'active'), 10_000);

    // nginx's max-age is 3 s, and the load may have refreshed the copy up to its last request:
    // ask through the rescue server until its copy has gone stale. A fresh copy answers HIT and
    // changes nothing; the first answer that is not a HIT is the one under test.
    const { res, body } = await until(
      'the rescue server to answer from a copy that is no longer fresh',
      async () => {
        const r = await fetch(`${rescuer.httpUrl}/r/${origin.originId!}${paths[0]}`);
        const b = Buffer.from(await r.arrayBuffer());
        return r.headers.get('x-cache') === 'HIT' ? undefined : { res: r, body: b };
      },
      15_000,
      () => '',
      250,
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cache'), 'REVALIDATED');
    assert.equal(createHash('sha256').update(body).digest('hex'), digests.get(paths[0]));
    assert.match(res.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, 'nginx\'s own ETag reaches the user');
    const log = await nginx.accessLog();
    assert.ok(log.some((line) => line === `304 ${paths[0]}`), `nginx answered the revalidation with 304:\n${log.slice(-10).join('\n')}`);
    assert.ok(res.headers.get('signature-input')?.includes('"etag"'), 'the origin\'s signature covers the ETag');
  });
});
