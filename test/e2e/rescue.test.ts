// End to end for "help rescue sites" (the DotSlash volunteer side), in Chromium against real
// headless nodes and a real `peerdial origin`: Alice flips the switch on her Rescue screen (her
// node was started without --rescue), her node advertises itself in the overlay, where Bob's node
// holds the advertisement; a site behind `peerdial origin` with 1 Mbit/s of capacity meets a flash
// crowd of ~5 Mbit/s and asks Alice's node for help; her screen lists the site, counts the
// requests it served and charts the bandwidth; switching off ends the rescue at once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { controlOf, untilFoundInOverlay, type NodeControl } from '../support/control.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { startOrigin, type OriginProcess } from '../support/origin-process.js';
import { until } from '../support/poll.js';
import { startWebUpstream, type WebUpstream } from '../support/web-upstream.js';

const OVERLAY = 'peerdial';
const FILE_BYTES = 50_000;
/** ~12 files of 50 kB a second: about 4.8 Mbit/s against the site's 1 Mbit/s. */
const CROWD_PER_SECOND = 12;
const CROWD_SECONDS = 10;

let browser: Browser;
let upstream: WebUpstream | undefined;
let origin: OriginProcess | undefined;
let control: NodeControl | undefined;
const nodes: NodeProcess[] = [];
let app: AppPage;
let alice: NodeProcess;
let bob: NodeProcess;

async function rescueScreen(page: Page): Promise<Locator> {
  await page.getByRole('button', { name: 'Rescue', exact: true }).click();
  await page.getByRole('heading', { name: 'Rescue', exact: true }).waitFor({ timeout: 10_000 });
  return page.getByRole('region', { name: 'Rescue', exact: true });
}

/** A number the screen shows in its Totals, e.g. "Requests served" -> 1234. */
async function totalOnScreen(screen: Locator, term: string): Promise<number> {
  const text = await screen.locator(`dt:text-is("${term}") + dd`).textContent();
  return Number((text ?? '').trim().replace(/,/g, ''));
}

/** The chart's line as points (SVG coordinates, y downwards). */
async function chartPoints(screen: Locator): Promise<Array<{ x: number; y: number }>> {
  const d = (await screen.getByRole('img', { name: 'Bandwidth served' }).locator('path.line').getAttribute('d')) ?? '';
  return [...d.matchAll(/[ML] ([\d.]+) ([\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
}

interface CrowdTally {
  sent: number;
  ok: number;
  failed: number;
  /** Answered by the rescue server (the request was redirected there). */
  byRescuer: number;
  /** Bodies that differ from what the upstream serves. */
  altered: number;
  lastError?: string;
}

/**
 * A flash crowd: `perSecond` GETs of the site's files a second, following redirects (Node's fetch
 * does), until stopped; each body is checked against the upstream's file.
 */
function flashCrowd(site: string, files: Map<string, Buffer>, rescuerOrigin: string, perSecond: number) {
  const tally: CrowdTally = { sent: 0, ok: 0, failed: 0, byRescuer: 0, altered: 0 };
  const digests = new Map([...files].map(([path, body]) => [path, createHash('sha256').update(body).digest('hex')]));
  const paths = [...files.keys()];
  const inFlight = new Set<Promise<void>>();
  const startedAt = Date.now();
  const fetchOne = async (path: string) => {
    try {
      const response = await fetch(new URL(path, site), { signal: AbortSignal.timeout(15_000) });
      const body = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200) throw new Error(`${path}: ${response.status} from ${response.url}`);
      tally.ok++;
      if (new URL(response.url).origin === rescuerOrigin) tally.byRescuer++;
      if (createHash('sha256').update(body).digest('hex') !== digests.get(path)) tally.altered++;
    } catch (error) {
      tally.failed++;
      tally.lastError = String(error);
    }
  };
  const timer = setInterval(() => {
    // A crowd that outruns the answers does not pile up without end.
    if (inFlight.size >= 4 * perSecond) return;
    const p = fetchOne(paths[tally.sent++ % paths.length]).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000 / perSecond);
  return {
    tally,
    seconds: () => (Date.now() - startedAt) / 1000,
    async stop(): Promise<CrowdTally> {
      clearInterval(timer);
      await Promise.all(inFlight);
      return tally;
    },
  };
}

describe('helping rescue sites from the Rescue screen', { timeout: 240_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    browser = await launchBrowser();
    upstream = await startWebUpstream({ count: 6, minBytes: FILE_BYTES, maxBytes: FILE_BYTES, maxAge: 60 });
    // Alice is a plain user: no --rescue flag; she turns helping on in her UI.
    alice = await startNode({ user: 'alice', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    nodes.push(alice);
    bob = await startNode({ user: 'bob', args: ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${alice.sipPort}`, '--refresh-seconds', '10'] });
    nodes.push(bob);
    await Promise.all([untilFoundInOverlay(alice, 'bob'), untilFoundInOverlay(bob, 'alice')]);
    control = controlOf(alice);
    app = await newAppPage(browser);
    const response = await app.page.goto(alice.uiUrl);
    assert.equal(response?.status(), 200);
  });

  after(async () => {
    control?.close();
    await app?.context.close();
    await browser?.close();
    await origin?.stop();
    await upstream?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all([...nodes.map((n) => removeDir(n.dataDir)), origin ? removeDir(origin.dataDir) : undefined]);
  });

  test('switching "Help rescue sites" on advertises the node in the overlay, where the other node holds the advertisement', async () => {
    const screen = await rescueScreen(app.page);
    const helping = screen.getByRole('switch', { name: 'Help rescue sites' });
    assert.equal(await helping.isChecked(), false, 'a node started without --rescue does not help');
    await screen.getByText('Off: this node helps no site.').waitFor();

    await helping.check();
    await screen.getByText('Advertised in the overlay', { exact: true }).waitFor({ timeout: 30_000 });
    const view = await control!.invoke('rescue.status', {});
    assert.equal(view.settings.enabled, true);
    assert.equal(view.advertised.overlay, true);
    assert.ok(view.httpUrl, 'a helping node says where sites may send their visitors');
    await screen.getByText(view.httpUrl, { exact: true }).waitFor();

    // Bob's node, the other member of the ring, holds Alice's advertisement (as the responsible
    // node or a replica): a `rescue` service record naming her node's SIP address. (Records are
    // signed by the node's key, not the user's, so the contact is what tells hers apart.)
    const bobControl = controlOf(bob);
    let held = '';
    try {
      await until(
        "Alice's rescue advertisement to be held by Bob's node",
        async () => {
          const records = (await bobControl.invoke('overlay.status', {})).records;
          held = JSON.stringify(records.map((r) => [r.type, r.user, r.contact]));
          return records.find((r) => r.type === 'service' && r.user === 'rescue' && r.contact?.endsWith(`127.0.0.1:${alice.sipPort}`));
        },
        30_000,
        () => `Bob's node holds ${held}`,
      );
    } finally {
      bobControl.close();
    }
    await screenshot(app.page, 'rescue-on');
    assert.deepEqual(app.problems, []);
  });

  test('a site in a flash crowd is rescued: the screen lists it, counts what it served and charts it; switching off ends it at once', async () => {
    const screen = await rescueScreen(app.page);
    const { httpUrl } = await control!.invoke('rescue.status', {});
    assert.ok(httpUrl);
    origin = await startOrigin({ upstream: upstream!.url, capacity: '1mbit', band: '0.3-0.6', rescuers: [`127.0.0.1:${alice.sipPort}`] });
    const originStatus = async () => JSON.stringify(await origin!.status().catch((e: unknown) => String(e)));

    const crowd = flashCrowd(origin.siteUrl, upstream!.files, new URL(httpUrl).origin, CROWD_PER_SECOND);
    let tally: CrowdTally;
    try {
      const sites = screen.getByRole('list', { name: 'Sites helped' });
      await listItemWith(sites, [origin.siteUrl, 'Active'], 30_000).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\norigin: ${await originStatus()}\n${origin!.output()}`);
      });
      // The rate the site may send, and the reserve of the donation past it (for when every helper is full).
      const rates = await listItemWith(sites, [origin.siteUrl, /[\d,.]+ requests?\/s allowed \(up to [\d,.]+ when every helper is full\)/], 10_000);
      const [, allowed, most] = /([\d,.]+) requests?\/s allowed \(up to ([\d,.]+)/.exec((await rates.textContent()) ?? '')!;
      assert.ok(Number(most.replace(/,/g, '')) > Number(allowed.replace(/,/g, '')), `the reserve is above the allowance: ${allowed} and ${most}`);
      await until(`the crowd to run for ${CROWD_SECONDS} s`, async () => crowd.seconds() >= CROWD_SECONDS, 30_000);
      await until('some of the crowd to be served by the rescue server', async () => crowd.tally.byRescuer > 0, 15_000, () => `${JSON.stringify(crowd.tally)}\norigin: ${origin!.output()}`);

      const served = await until('"Requests served" to count up', async () => {
        const n = await totalOnScreen(screen, 'Requests served');
        return n > 0 && n;
      }, 10_000);
      assert.ok(served > 0);
      const chart = screen.getByRole('img', { name: 'Bandwidth served' });
      assert.ok(Number(await chart.getAttribute('data-peak-mbit')) > 0, 'the chart has a peak above zero');
      const points = await chartPoints(screen);
      const baseline = Math.max(...points.map((p) => p.y));
      assert.ok(points.some((p) => p.y < baseline), `the line rises above the axis somewhere: ${JSON.stringify(points.slice(-10))}`);
      await screen.getByRole('img', { name: 'Bandwidth served' }).scrollIntoViewIfNeeded();
      await screenshot(app.page, 'rescue-serving');

      // Off takes effect at once: no confirmation, the site ends, the origin stops sending users.
      await screen.getByRole('switch', { name: 'Help rescue sites' }).uncheck();
      await listItemWith(sites, [origin.siteUrl, 'Ended'], 10_000);
      await screen.getByText('Off: this node helps no site.').waitFor({ timeout: 5_000 });
      const view = await control!.invoke('rescue.status', {});
      assert.equal(view.settings.enabled, false);
      assert.equal(view.state, 'off');
      assert.ok(view.sites.length > 0 && view.sites.every((s) => s.state === 'ended'), JSON.stringify(view.sites));
      await until('the origin to stop counting on the rescue server', async () => (await origin!.status()).rescuers.every((r) => r.state !== 'active' && r.state !== 'asking'), 10_000, () => origin!.output());
      await screen.getByRole('list', { name: 'Sites helped' }).scrollIntoViewIfNeeded();
      await screenshot(app.page, 'rescue-ended');
    } finally {
      tally = await crowd.stop();
    }
    // Every user got the site's own bytes, from the origin or from the rescue server.
    assert.equal(tally.altered, 0, JSON.stringify(tally));
    assert.ok(tally.ok > 0 && tally.failed <= tally.sent * 0.05, `few requests may fail under the crowd: ${JSON.stringify(tally)}`);
    assert.deepEqual(app.problems, []);
  });
});
