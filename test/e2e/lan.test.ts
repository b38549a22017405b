// End to end for the LAN part of the Network screen, in Chromium against headless engines:
// Bob's screen lists Alice's node as found on the LAN and her signed offer; accepting it in the
// UI applies it (checked through the control API), her next version shows by itself, and Bob
// shares settings of his own from the form. LAN discovery is stood in for by an injected list.
// Then the BitTorrent DHT card, for a node whose DHT starts from a private DHT on loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import type { LanPeerView } from '../../native/control/api.js';
import { Engine } from '../../native/roots/node-engine.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { REPO_ROOT, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startPrivateDht, type PrivateDht } from '../support/private-dht.js';

let browser: Browser;
let alice: Engine;
let bob: Engine;
let app: AppPage;
const dirs: string[] = [];

async function startEngine(userName: string, extra: Partial<Parameters<typeof Engine.start>[0]> = {}): Promise<Engine> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  return Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, ...extra });
}

async function networkScreen(page: Page): Promise<Locator> {
  await page.getByRole('button', { name: 'Network', exact: true }).click();
  await page.getByRole('heading', { name: 'Network', exact: true }).waitFor({ timeout: 10_000 });
  return page.getByRole('region', { name: 'Network', exact: true });
}

before(() => {
  // The engines run in this process; only the renderer needs building.
  const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, `the renderer build failed:\n${build.stdout}\n${build.stderr}`);
});

describe('the LAN on the Network screen', { timeout: 120_000 }, () => {
  let aliceAddress: string;

  before(async () => {
    browser = await launchBrowser();
    alice = await startEngine('alice');
    aliceAddress = `127.0.0.1:${alice.sip.port}`;
    await alice.api.invoke('lan.share', { config: { bootstrap: [aliceAddress], callerPolicy: 'buddies' } });
    const aliceOnLan: LanPeerView = {
      nodeId: alice.overlay.self!.id,
      overlay: 'peerdial',
      host: '127.0.0.1',
      port: alice.sip.port,
      aor: 'sip:alice@peerdial',
      via: ['mdns', 'multicast-register'],
      lastSeen: Date.now(),
      offersConfig: true,
    };
    bob = await startEngine('bob', { serveUi: true, lanPeers: () => [aliceOnLan], onLanPeersChanged: () => undefined });
    app = await newAppPage(browser);
    const response = await app.page.goto(bob.uiUrl!);
    assert.equal(response?.status(), 200);
  });

  after(async () => {
    await browser?.close();
    await Promise.allSettled([alice?.stop(), bob?.stop()]);
    await Promise.all(dirs.map(removeDir));
  });

  test("Bob's screen lists Alice's node, how it was found, and her signed offer; accepting applies it", async () => {
    const network = await networkScreen(app.page);
    const peers = network.getByRole('list', { name: 'Peers on this LAN' });
    await listItemWith(peers, ['sip:alice@peerdial', aliceAddress, 'mDNS and multicast REGISTER', 'offers settings']);

    const offers = network.getByRole('list', { name: 'Configuration offers' });
    const fingerprint = alice.identity.current!.fingerprint;
    const offer = await listItemWith(offers, ['alice', 'sip:alice@peerdial', fingerprint, 'Bootstrap peers', aliceAddress, 'buddies only', 'Not accepted']);
    await offer.scrollIntoViewIfNeeded();
    await screenshot(app.page, 'lan-offer');

    await offer.getByRole('button', { name: 'Accept', exact: true }).click();
    await offer.getByRole('alertdialog').getByText(/Apply alice's settings now\?/).waitFor();
    await offer.getByRole('button', { name: 'Accept and apply' }).click();
    await listItemWith(offers, [fingerprint, 'Following']);

    const view = await bob.api.invoke('lan.status', {});
    assert.equal(view.offers.find((o) => o.signerFingerprint === fingerprint)?.state, 'following');
    const status = await until('Bob to join Alice through the bootstrap peer she offered', async () => {
      const s = await bob.api.invoke('overlay.status', {});
      return s.bootstrap.includes(aliceAddress) && s.successors.some((n) => n.id === alice.overlay.self!.id) && s;
    });
    assert.ok(status.bootstrap.includes(aliceAddress));
    // The Bootstrap peers card shows the peer the offer added.
    await network.getByRole('list', { name: 'Bootstrap peers' }).getByText(aliceAddress).waitFor();

    // Alice's next version reaches Bob's screen by itself.
    await alice.api.invoke('lan.share', { config: { bootstrap: [aliceAddress], callerPolicy: 'anyone', stun: ['stun.example.org:3478'] } });
    await listItemWith(offers, [fingerprint, 'stun.example.org:3478', 'Following']);
    await offers.getByRole('listitem').filter({ hasText: fingerprint }).getByRole('button', { name: 'Stop following alice' }).click();
    await listItemWith(offers, [fingerprint, 'Not followed any more']);
    assert.deepEqual(app.problems, []);
  });

  test('Bob shares his own settings from the form, and stops sharing', async () => {
    const network = await networkScreen(app.page);
    const form = network.getByRole('form', { name: 'Share my settings with this LAN' });
    await form.scrollIntoViewIfNeeded();
    await form.getByRole('checkbox', { name: 'Caller policy' }).check();
    await form.getByRole('checkbox', { name: 'Overlay name' }).uncheck();
    await form.getByRole('combobox', { name: 'Who may call' }).selectOption('buddies');
    await form.getByRole('button', { name: 'Share', exact: true }).click();
    await network.getByText('This node shares version 1 of its settings with the LAN.').waitFor();

    const sharing = (await bob.api.invoke('lan.status', {})).sharing;
    assert.deepEqual(sharing, { version: 1, config: { bootstrap: [aliceAddress], callerPolicy: 'buddies' } });

    await form.getByRole('button', { name: 'Stop sharing' }).click();
    await network.getByText('This node shares nothing.').waitFor();
    assert.equal((await bob.api.invoke('lan.status', {})).sharing, undefined);
    await screenshot(app.page, 'lan-share');
    assert.deepEqual(app.problems, []);
  });
});

describe('the BitTorrent DHT card on the Network screen', { timeout: 120_000 }, () => {
  let dht: PrivateDht;
  let dan: Engine;
  let page: AppPage;
  let dhtBrowser: Browser;

  before(async () => {
    // Only loopback: a private DHT of this test's own, never the public routers.
    dht = await startPrivateDht(12);
    dhtBrowser = await launchBrowser();
    dan = await startEngine('dan', { serveUi: true, mdns: false, multicastRegister: false, dht: true, dhtBootstrap: dht.bootstrap });
    page = await newAppPage(dhtBrowser);
    assert.equal((await page.page.goto(dan.uiUrl!))?.status(), 200);
  });

  after(async () => {
    await dhtBrowser?.close();
    await dan?.stop();
    await dht?.close();
    await Promise.all(dirs.map(removeDir));
  });

  test("the card shows the DHT ready with the nodes it knows, and its switch turns it off and on", async () => {
    const network = await networkScreen(page.page);
    const card = network.getByRole('region', { name: 'BitTorrent DHT', exact: true });
    await card.scrollIntoViewIfNeeded();
    const state = card.locator('.dht-state');
    const nodes = card.locator('.dht-nodes');
    const toggle = card.getByRole('checkbox', { name: 'Find Peerdial users through the BitTorrent DHT' });
    await until('the card to say Ready', async () => (await state.textContent()) === 'Ready', 30_000);
    await until('a node count above 0', async () => Number(await nodes.textContent()) > 0);
    assert.equal(await toggle.isChecked(), true);
    assert.match((await card.textContent()) ?? '', new RegExp(`127\\.0\\.0\\.1:${dan.dht.endpoint!.split(':')[1]}`), 'the DHT endpoint shown');
    await screenshot(page.page, 'dht-card-ready');

    await toggle.uncheck();
    await until('the card to say Off', async () => (await state.textContent()) === 'Off');
    assert.equal(await toggle.isChecked(), false);
    assert.equal(await nodes.count(), 0, 'no node count while off');
    const off = await dan.api.invoke('dht.status', {});
    assert.equal(off.enabled, false);
    assert.equal(off.state, 'off');

    await toggle.check();
    await until('the card to say Ready again', async () => (await state.textContent()) === 'Ready', 30_000);
    await until('a node count above 0 again', async () => Number(await nodes.textContent()) > 0);
    const on = await dan.api.invoke('dht.status', {});
    assert.equal(on.enabled, true);
    assert.equal(on.state, 'ready');
    assert.deepEqual(page.problems, []);
  });
});
