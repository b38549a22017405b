// Dynamic content through a trusted rescuer, with real processes on loopback: a small app whose
// every page costs a database query and says max-age=0, `peerdial origin` that marks its API
// (--dynamic /api/) and pins one rescuer by key (--trusted-rescuer KEY), and that rescuer as a
// real `peerdial node --rescue`. A crowd of readers is relieved by the rescuer's per-query cache,
// a write through the site is read back at once through the rescuer (the origin's signed purge
// reached it first), and purges forged or replayed at the rescuer are refused and show on the
// origin's status page.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { controlOf } from '../support/control.js';
import { startDynamicApp, type DynamicApp } from '../support/dynamic-app.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { startOrigin, type OriginProcess } from '../support/origin-process.js';
import { until } from '../support/poll.js';
import { createLogger } from '../../native/log.js';
import { SipStack } from '../../native/services/sip/index.js';
import { Database } from '../../native/storage/db.js';
import { OverlayRepository } from '../../native/storage/repositories/overlay-repository.js';
import { realTimers } from '../../native/transport/clock.js';
import { DSRP_CONTENT_TYPE, encodeDsrp, signDsrp, type PurgeMessage } from '../../native/wire/rescue/dsrp.js';
import { generateKeyPairSync } from 'node:crypto';

const ITEMS = 40;
const RESCUE_ARGS = ['--rescue', '--donate-mbit', '40', '--donate-gb-per-day', '10', '--cache-mb', '50', '--no-mdns', '--no-multicast-register'];

describe('rescue: dynamic content through a trusted rescuer', () => {
  let app: DynamicApp;
  let rescuer: NodeProcess;
  let origin: OriginProcess;
  let stack: SipStack;

  before(async () => {
    app = await startDynamicApp({ queryMs: 4, items: ITEMS });
    rescuer = await startNode({ user: 'r1', args: RESCUE_ARGS });
    const control = controlOf(rescuer);
    const key = (await control.invoke('rescue.status', {})).nodeKey;
    control.close();
    assert.ok(key, 'the rescuer says its key');
    origin = await startOrigin({
      upstream: app.url,
      capacity: '500kbit',
      band: '0.3-0.6',
      rescuers: [`127.0.0.1:${rescuer.sipPort}`],
      args: ['--trusted-rescuer', key, '--dynamic', '/api/'],
    });
    stack = new SipStack({ bind: '127.0.0.1', port: 0, advertisedHost: '127.0.0.1', timers: realTimers, log: createLogger('test', 'error') });
    await stack.start();
  });

  after(async () => {
    await stack?.stop();
    await origin?.stop();
    await rescuer?.stop();
    await app?.close();
    await removeDir(origin?.dataDir);
    await removeDir(rescuer?.dataDir);
  });

  test('a read-heavy crowd on max-age=0 API pages is served from the trusted rescuer\'s per-query cache, and a write is read back at once', async () => {
    const site = origin.siteUrl;
    const paths = Array.from({ length: ITEMS }, (_, i) => `/api/items/${i}`);
    for (const p of paths) await (await fetch(new URL(p, site))).arrayBuffer();
    const tally = { ok: 0, byRescuer: 0, failed: 0 };
    const rescuerOrigin = () => origin.status().then((s) => s.trust?.rescuers.find((r) => r.state === 'verified')?.url);
    let stop = false;
    const crowd = (async () => {
      const inFlight = new Set<Promise<void>>();
      let i = 0;
      while (!stop) {
        const p = paths[i++ % paths.length];
        const one = fetch(new URL(p, site), { signal: AbortSignal.timeout(10_000) })
          .then(async (r) => {
            const body = (await r.json()) as { id: number };
            if (r.status !== 200 || body.id !== Number(p.split('/').pop())) throw new Error(`${p}: ${r.status}`);
            tally.ok++;
            if (!r.url.startsWith(site)) tally.byRescuer++;
          })
          .catch(() => void tally.failed++)
          .finally(() => inFlight.delete(one));
        inFlight.add(one);
        await new Promise((r) => setTimeout(r, 12));
      }
      await Promise.all(inFlight);
    })();
    try {
      await until('the trusted rescuer serving the API', async () => (await rescuerOrigin()) !== undefined && tally.byRescuer > 200, 40_000, () => JSON.stringify(tally));
      const queriesBefore = app.queries;
      const servedBefore = tally.ok;
      await new Promise((r) => setTimeout(r, 3_000));
      const queries = app.queries - queriesBefore;
      const served = tally.ok - servedBefore;
      assert.ok(served > 150, `the crowd got answers (${served})`);
      assert.ok(queries < served / 2, `the database ran ${queries} queries for ${served} answers: the rescuer's cache takes most`);

      // A write through the site: the very next read, wherever it is sent, has the new value.
      for (let round = 0; round < 5; round++) {
        const n = 7 + round;
        const value = `changed-${round}-${Date.now()}`;
        const write = await fetch(new URL(`/api/items/${n}`, site), { method: 'POST', body: value });
        assert.equal(write.status, 200);
        assert.equal(write.headers.get('peerdial-purge'), null, 'the purge header is the origin\'s, not the user\'s');
        for (let read = 0; read < 5; read++) {
          const r = await fetch(new URL(`/api/items/${n}`, site));
          assert.equal(((await r.json()) as { value: string }).value, value, `read ${read} after write ${round} (${r.url})`);
        }
      }
    } finally {
      stop = true;
      await crowd;
    }
    assert.equal(tally.failed, 0, 'no request of the crowd failed');
    const status = await origin.status();
    assert.ok(status.trust!.totals.purgesSent >= 5);
    assert.equal(status.trust!.rescuers[0].state, 'verified');
  });

  test('purges forged by another key, and a replay of the origin\'s own, are refused by the rescuer and shown on the origin\'s status page', async () => {
    const status = await origin.status();
    const originId = status.originId;
    const to = `sip:rescue@127.0.0.1:${rescuer.sipPort}`;
    const send = async (message: PurgeMessage) => {
      const outcome = await stack.request({ method: 'MESSAGE', to, from: 'sip:attacker@127.0.0.1', contentType: DSRP_CONTENT_TYPE, body: encodeDsrp(message), timeoutMs: 3_000 });
      return outcome.kind === 'final' ? outcome.response.status : 0;
    };
    // Forged: someone else's key, claiming to be the origin.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const forged = signDsrp<PurgeMessage>({ type: 'purge', origin: originId, at: Date.now(), seq: Date.now() + 1_000_000, prefixes: ['/'] } as never, spki.subarray(spki.length - 32), privateKey.export({ format: 'der', type: 'pkcs8' }));
    assert.equal(await send(forged), 400);
    // Replayed: the origin's own key, the sequence number it last used (as a recorded copy would carry).
    const db = await Database.open(path.join(origin.dataDir, 'peerdial-origin.sqlite3'));
    const keys = await new OverlayRepository(db).nodeKey();
    await db.close();
    const raw = keys.publicKey.subarray(keys.publicKey.length - 32);
    const replay = signDsrp<PurgeMessage>({ type: 'purge', origin: originId, at: Date.now(), seq: status.trust!.totals.lastPurgeSeq, prefixes: ['/'] } as never, raw, keys.privateKey);
    assert.equal(await send(replay), 400);

    await until('the refusals in the origin\'s status', async () => (await origin.status()).trust!.totals.purgesRefusedAtRescuers >= 2, 10_000);
    const after = await origin.status();
    assert.equal(after.trust!.rescuers[0].purgesRefused, 2);
    assert.equal(after.trust!.rescuers[0].state, 'verified', 'the real purges still reach it');
    const page = await (await fetch(origin.statusUrl)).text();
    assert.match(page, /2 forged or replayed refused by rescuers/);
  });

  test('the site owner purges by hand on the status listener, and a bad prefix is one sentence', async () => {
    const purgeUrl = new URL('purge', origin.statusUrl);
    const ok = await fetch(purgeUrl, { method: 'POST', body: '/api/items/1\n/api/items?\n' });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sent: 1, dropped: 0 });
    const bad = await fetch(purgeUrl, { method: 'POST', body: 'api/items\n' });
    assert.equal(bad.status, 400);
    assert.equal(await bad.text(), 'Not a path prefix: "api/items" (each line one prefix starting with /).\n');
    assert.equal((await origin.status()).trust!.rescuers[0].state, 'verified');
  });
});
