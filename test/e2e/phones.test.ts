// The Settings screen's "Phones" section, in Chromium against a real node: the user adds a
// desk phone and sees what to type into it; sipp registers with exactly those credentials and
// the list shows it registered, from where and as what; removing it (after confirming) ends
// its registration at once, and the Network screen counts what the node routed and refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { requireSipp, runSipp } from '../peers/sipp.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { launchBrowser, newAppPage, type AppPage } from '../support/browser.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';

describe('the Phones section', { timeout: 120_000 }, () => {
  let browser: Browser;
  let node: NodeProcess;
  let control: NodeControl;
  let app: AppPage;

  before(async () => {
    requireSipp();
    node = await startNode({ user: 'pia', args: ['--no-mdns', '--no-multicast-register'] });
    control = controlOf(node);
    browser = await launchBrowser();
    app = await newAppPage(browser);
    assert.equal((await app.page.goto(node.uiUrl))?.status(), 200);
  });

  after(async () => {
    control?.close();
    await app?.context.close();
    await browser?.close();
    if (node) {
      await node.stop();
      await removeDir(node.dataDir);
    }
  });

  test('adding a phone shows its settings once; a phone registering with them shows as registered; removing it ends that', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const section = page.getByRole('region', { name: 'Phones' });
    await section.getByText('No phones yet.').waitFor();
    await section.getByLabel("Phone's name").fill('Desk phone');
    await section.getByRole('button', { name: 'Add phone' }).click();
    const settings = section.getByRole('region', { name: "New phone's settings" });
    await settings.waitFor();
    const fact = async (term: string) => ((await settings.locator(`dt:text-is("${term}") + dd`).textContent()) ?? '').trim();
    assert.equal(await fact('SIP address (AOR)'), 'sip:pia@peerdial');
    assert.equal(await fact('Registrar and outbound proxy'), `127.0.0.1:${node.sipPort}`);
    const username = await fact('User name');
    const password = await fact('Password');
    assert.match(password, /^[A-Za-z0-9]{16}$/);

    const run = await runSipp({ scenario: 'register-auth.xml', remote: `127.0.0.1:${node.sipPort}`, service: 'pia', localPort: await freePort(), keys: { domain: 'peerdial' }, extraArgs: ['-au', username, '-ap', password] });
    assert.equal(run.successful, 1, run.output.slice(-1_500));
    const row = section.getByRole('listitem').filter({ hasText: 'Desk phone' });
    await row.getByText('registered', { exact: true }).waitFor({ timeout: 5_000 });
    await row.getByText(/from 127\.0\.0\.1:\d+ \(UDP\), sipp, renews within \d+ s/).waitFor();
    await settings.getByRole('button', { name: 'Done' }).click();
    await settings.waitFor({ state: 'detached' });

    await row.getByRole('button', { name: 'Remove' }).click();
    await row.getByRole('button', { name: 'Remove Desk phone' }).click();
    await section.getByText('No phones yet.').waitFor();
    assert.deepEqual(await control.invoke('phones.list', {}), []);

    // The same credentials are refused now; the Network screen counts it.
    const refused = await runSipp({ scenario: 'register-auth.xml', remote: `127.0.0.1:${node.sipPort}`, service: 'pia', localPort: await freePort(), keys: { domain: 'peerdial' }, extraArgs: ['-au', username, '-ap', password] });
    assert.equal(refused.successful, 0);
    await page.getByRole('button', { name: 'Network', exact: true }).click();
    await page.locator('dt:text-is("Refused: wrong password") + dd').filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
  });

  test('farm mode: the node founds a farm, takes a phone for a farm user, lets servers join for a while, and leaves', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const section = page.getByRole('region', { name: 'Phones' });
    await section.getByRole('button', { name: "Be a server of this LAN's farm" }).click();
    // Alone on its LAN, it looks for a farm, then founds one.
    await section.getByTestId('farm-state').filter({ hasText: /Member of farm [0-9a-f]{16}, with no other server seen yet/ }).waitFor({ timeout: 20_000 });
    await section.getByTestId('farm-admission').filter({ hasText: /may join for 10 more minutes/ }).waitFor();
    await section.getByRole('button', { name: 'Stop letting servers join' }).click();
    await section.getByRole('button', { name: 'Let servers join for 10 minutes' }).waitFor();
    assert.equal((await control.invoke('farm.status', {})).admittingForS, 0);

    await section.getByLabel("Phone's name").fill('Lobby');
    await section.getByLabel('For user').fill('dave');
    await section.getByRole('button', { name: 'Add phone' }).click();
    const settings = section.getByRole('region', { name: "New phone's settings" });
    const fact = async (term: string) => ((await settings.locator(`dt:text-is("${term}") + dd`).textContent()) ?? '').trim();
    await settings.waitFor();
    assert.equal(await fact('SIP address (AOR)'), 'sip:dave@peerdial');
    const row = section.getByRole('listitem').filter({ hasText: 'Lobby' });
    await row.getByTestId('phone-user').filter({ hasText: 'for dave (farm)' }).waitFor();
    const run = await runSipp({ scenario: 'register-auth.xml', remote: `127.0.0.1:${node.sipPort}`, service: 'dave', localPort: await freePort(), keys: { domain: 'peerdial' }, extraArgs: ['-au', await fact('User name'), '-ap', await fact('Password')] });
    assert.equal(run.successful, 1, run.output.slice(-1_500));
    await row.getByText('registered', { exact: true }).waitFor({ timeout: 5_000 });
    await settings.getByRole('button', { name: 'Done' }).click();

    await section.getByRole('button', { name: 'Leave the farm' }).click();
    await section.getByRole('button', { name: 'Leave the farm' }).last().click();
    await section.getByRole('button', { name: "Be a server of this LAN's farm" }).waitFor();
    await section.getByText('No phones yet.').waitFor();
    assert.equal((await control.invoke('farm.status', {})).state, 'off');
  });
});
