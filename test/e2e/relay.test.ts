// The Network screen's "Relays" card and the call screen's path line, in Chromium against two
// real nodes on loopback: Mona's node and Nick's, bootstrapped to hers, both members of the ring.
// On loopback the NAT check finds no NAT between them, so each relays calls for others (after
// "Waiting for the NAT check") and each finds the other's relay for its own calls. Mona turns
// relaying off and on from the card, the engine agrees; a cap of 0 is refused in the engine's
// words; her call to Nick goes directly, and the call screen says so.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { controlOf, untilFoundInOverlay, type NodeControl } from '../support/control.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

const OVERLAY = 'peerdial';
/** The NAT check (it needs a second member) comes before a node relays. */
const RELAY_STARTS_MS = 30_000;

describe('the Relays card and the path of a call', { timeout: 180_000 }, () => {
  let browser: Browser;
  let mona: NodeProcess;
  let nick: NodeProcess;
  let control: NodeControl;
  let app: AppPage;

  before(async () => {
    mona = await startNode({ user: 'mona', args: ['--overlay', OVERLAY, '--no-mdns', '--no-multicast-register', '--refresh-seconds', '10'] });
    nick = await startNode({
      user: 'nick',
      args: ['--overlay', OVERLAY, '--no-mdns', '--no-multicast-register', '--refresh-seconds', '10', '--bootstrap', `127.0.0.1:${mona.sipPort}`, '--auto-answer'],
    });
    await Promise.all([untilFoundInOverlay(mona, 'nick'), untilFoundInOverlay(nick, 'mona')]);
    control = controlOf(mona);
    browser = await launchBrowser(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required']);
    app = await newAppPage(browser);
    await app.context.grantPermissions(['microphone']);
    const response = await app.page.goto(mona.uiUrl);
    assert.equal(response?.status(), 200);
  });

  after(async () => {
    control?.close();
    await app?.context.close();
    await browser?.close();
    for (const n of [nick, mona]) if (n) await n.stop();
    for (const n of [nick, mona]) if (n) await removeDir(n.dataDir);
  });

  async function relaysCard(page: Page): Promise<Locator> {
    await page.getByRole('button', { name: 'Network', exact: true }).click();
    const card = page.getByRole('region', { name: 'Relays', exact: true });
    await card.waitFor({ timeout: 10_000 });
    return card;
  }

  /** The value the card shows for a term, e.g. "State" -> "running". */
  async function fact(card: Locator, term: string): Promise<string> {
    return ((await card.locator(`dt:text-is("${term}") + dd`).textContent()) ?? '').trim();
  }

  const stateIs = (card: Locator, words: string, timeout = 10_000) => card.locator('dt:text-is("State") + dd').filter({ hasText: new RegExp(`^${words}$`) }).waitFor({ timeout });

  test('a member relays calls for others: the box is checked, the relay runs at its address, and the other member\'s relay is ready for her calls', async () => {
    const card = await relaysCard(app.page);
    const box = card.getByRole('checkbox', { name: 'Relay calls for others' });
    assert.equal(await box.isChecked(), true, 'members relay by default');
    await stateIs(card, 'running', RELAY_STARTS_MS);
    await card.getByText('Relaying calls for others, up to 10 Mbit/s and 5 GB a day.').waitFor();
    const view = await control.invoke('relay.status', {});
    assert.equal(view.server.state, 'running');
    assert.ok(view.server.address, 'a running relay has an address');
    assert.equal(await fact(card, 'Address'), view.server.address);
    assert.equal(await fact(card, 'Relaying now'), '0 calls');
    assert.match(await fact(card, 'Relayed today'), /^0 B of 5 GB$/);
    assert.match(await fact(card, 'Rate now'), /^0 kbit\/s of 10 Mbit\/s$/);
    await card.locator('dt:text-is("Found by others") + dd').filter({ hasText: 'yes: advertised in the ring' }).waitFor({ timeout: RELAY_STARTS_MS });

    // Nick's node relays too (the same NAT check); Mona's node finds his relay, measures it and
    // holds credentials for it.
    const nickControl = controlOf(nick);
    let nickRelay = '';
    try {
      nickRelay = await until("Nick's relay to run", async () => (await nickControl.invoke('relay.status', {})).server.address, RELAY_STARTS_MS);
    } finally {
      nickControl.close();
    }
    const list = card.getByRole('list', { name: 'Relays for your calls' });
    const item = await listItemWith(list, [nickRelay, 'ready for your calls'], RELAY_STARTS_MS);
    assert.match((await item.textContent()) ?? '', /[\d.]+ ms round trip, carrying 0 calls, 10 Mbit\/s spare/);
    await card.scrollIntoViewIfNeeded();
    await screenshot(app.page, 'relay-card-running');
    assert.deepEqual(app.problems, []);
  });

  test('unchecking "Relay calls for others" turns the relay off, and the engine agrees; turned on elsewhere, the card follows', async () => {
    const card = await relaysCard(app.page);
    const box = card.getByRole('checkbox', { name: 'Relay calls for others' });
    await box.uncheck();
    await stateIs(card, 'off');
    await card.getByText('Relaying for others is off.').waitFor();
    assert.equal(await card.locator('dt:text-is("Address")').count(), 0, 'a relay that is off has no address');
    const view = await control.invoke('relay.status', {});
    assert.equal(view.settings.enabled, false, 'the engine keeps what the box says');
    assert.equal(view.server.state, 'off');
    assert.equal(view.server.address, undefined);

    // Turned on through the control API (as another window would), the card follows the event.
    await control.invoke('relay.configure', { enabled: true });
    await stateIs(card, 'running', RELAY_STARTS_MS);
    assert.equal(await box.isChecked(), true);
    assert.deepEqual(app.problems, []);
  });

  test('a bandwidth cap of 0 is refused in the engine\'s words and nothing changes; a good cap is kept', async () => {
    const card = await relaysCard(app.page);
    const cap = card.getByRole('textbox', { name: 'Bandwidth cap (Mbit/s)' });
    await cap.fill('0');
    await card.getByRole('button', { name: 'Save', exact: true }).click();
    const alert = card.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    assert.equal(((await alert.textContent()) ?? '').trim(), 'The bandwidth to give (Mbit/s) must be a number from 0.1 to 10000 (got 0).');
    assert.equal((await control.invoke('relay.status', {})).settings.maxMbit, 10, 'the refused cap is not kept');
    await screenshot(app.page, 'relay-cap-refused');

    await cap.fill('2.5');
    await card.getByRole('button', { name: 'Save', exact: true }).click();
    await card.getByRole('status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 10_000 });
    assert.equal(await alert.count(), 0, 'the refusal goes once a cap is kept');
    await card.locator('dt:text-is("Rate now") + dd').filter({ hasText: 'of 2.5 Mbit/s' }).waitFor({ timeout: 10_000 });
    const view = await control.invoke('relay.status', {});
    assert.equal(view.settings.maxMbit, 2.5);
    assert.equal(view.settings.maxGbPerDay, 5, 'the daily volume is as it was');
    assert.equal(await cap.inputValue(), '2.5');
    assert.deepEqual(app.problems, []);
  });

  test('a call between the two users goes directly, and the call screen says so with both ends of the path', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Calls', exact: true }).click();
    await page.getByRole('textbox', { name: 'Number or address' }).fill('nick');
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    const call = page.getByRole('region', { name: 'Current call' });
    await call.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 15_000 });

    const path = call.getByRole('definition').filter({ hasText: /^Direct(, [\d.]+ ms)?$/ });
    await path.waitFor({ timeout: 15_000 });
    const [active] = (await control.invoke('call.list', {})).filter((c) => c.state === 'active');
    assert.equal(active?.quality?.path?.kind, 'direct', JSON.stringify(active?.quality));
    const term = async (name: string) => ((await call.locator(`dt:text-is("${name}") + dd`).textContent()) ?? '').trim();
    assert.match(await term('Your end'), /^127\.0\.0\.1:\d+ \((own|public) address\)$/);
    assert.match(await term('Their end'), /^127\.0\.0\.1:\d+ \((own|public) address(, met in the checks)?\)$/);
    assert.match(await term('Found in'), /^[\d.]+ m?s$/, 'how long the checks took to find the path');
    await screenshot(page, 'relay-call-direct');

    await call.getByRole('button', { name: 'Hang up' }).click();
    await call.waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual(app.problems, []);
  });
});
