// The Network screen of a client carried by a member: "Your connection" names its role, its
// member and the round trip to it, why it is a client, and the member shows it carries one client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { controlOf } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';

describe('the Network screen of a client and its member', () => {
  let browser: Browser;
  let member: NodeProcess;
  let client: NodeProcess;
  const pages: AppPage[] = [];

  before(async () => {
    member = await startNode({ user: 'mona', args: ['--no-mdns', '--no-multicast-register'] });
    client = await startNode({ user: 'carl', args: ['--no-mdns', '--no-multicast-register', '--bind', '127.0.0.30', '--client', '--bootstrap', `127.0.0.1:${member.sipPort}`] });
    browser = await launchBrowser();
  });
  after(async () => {
    for (const p of pages) await p.context.close().catch(() => undefined);
    await browser?.close();
    for (const n of [client, member]) if (n) await n.stop();
    for (const n of [client, member]) if (n) await removeDir(n.dataDir);
  });

  async function connectionCard(node: NodeProcess) {
    const app = await newAppPage(browser);
    pages.push(app);
    await app.page.goto(node.uiUrl);
    await app.page.getByRole('button', { name: 'Network', exact: true }).click();
    const card = app.page.getByRole('region', { name: 'Your connection' });
    await card.waitFor({ timeout: 10_000 });
    return { page: app.page, card, problems: app.problems };
  }

  test('the client reads who carries it and why; the member reads that it carries one client', async () => {
    const { page, card, problems } = await connectionCard(client);
    await card.getByText(new RegExp(`client of 127\\.0\\.0\\.1:${member.sipPort}, \\d+ ms away: it carries your messages, presence and calls`)).waitFor({ timeout: 20_000 });
    assert.match((await card.textContent()) ?? '', /Why\s*chosen with --role client/);
    // The ring drawing joins the client to its member, with the round trip.
    await page.getByRole('img', { name: /^Ring:/ }).getByText(/your member, \d+ ms/).waitFor({ timeout: 10_000 });
    await screenshot(page, 'nat-client-connection');
    assert.deepEqual(problems, []);
    const mine = await connectionCard(member);
    await mine.card.getByText('member: others can reach you directly; carrying 1 client (at most 5000)').waitFor({ timeout: 10_000 });
  });

  test('"Ask my router to open a port" is on at first, says why no mapping is needed on loopback, and turns off from the card', async () => {
    const { card, problems } = await connectionCard(client);
    const box = card.getByRole('checkbox', { name: 'Ask my router to open a port' });
    await card.getByText('none needed: bound to loopback: no router in between').waitFor({ timeout: 20_000 });
    assert.equal(await box.isChecked(), true);
    await box.uncheck();
    await card.getByText('none: asking the router is turned off').waitFor({ timeout: 10_000 });
    const control = controlOf(client);
    try {
      const view = await control.invoke('nat.status', {});
      assert.equal(view.portMapping.enabled, false, 'the engine keeps what the box says');
      assert.equal(view.portMapping.state, 'off');
    } finally {
      control.close();
    }
    await box.check();
    await card.getByText('none needed: bound to loopback: no router in between').waitFor({ timeout: 10_000 });
    assert.deepEqual(problems, []);
  });
});
