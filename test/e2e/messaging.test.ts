// End to end, as a user sees it: real headless nodes (the built CLI), their UIs in Chromium.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { launchBrowser, listItemWith, newAppPage, screenshot } from '../support/browser.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';

let browser: Browser;
const nodes: NodeProcess[] = [];
const dataDirs = new Set<string>();

async function node(options: Parameters<typeof startNode>[0] = {}): Promise<NodeProcess> {
  const started = await startNode(options);
  nodes.push(started);
  dataDirs.add(started.dataDir);
  return started;
}

async function openApp(url: string) {
  const app = await newAppPage(browser);
  const response = await app.page.goto(url);
  assert.equal(response?.status(), 200, `the UI at ${url} should load`);
  return app;
}

async function chatScreen(page: Page) {
  await page.getByRole('textbox', { name: 'SIP address' }).waitFor({ timeout: 10_000 });
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
}

async function openConversation(page: Page, address: string) {
  await page.getByRole('textbox', { name: 'SIP address' }).fill(address);
  await page.getByRole('button', { name: 'Open conversation' }).click();
  await page.getByRole('heading', { name: address }).waitFor();
}

async function typeAndPressEnter(page: Page, text: string) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

/** The HTTP status a WebSocket handshake to `url` gets, or 101 when it is let in. */
function handshakeStatus(url: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { origin } });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (error) => reject(error));
  });
}

describe('the UI in a browser', { timeout: 180_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all([...dataDirs].map((dir) => removeDir(dir)));
  });

  test('without the token neither the page nor the control socket opens', async () => {
    const alice = await node({ user: 'alice' });
    const ui = new URL(alice.uiUrl);
    const token = ui.searchParams.get('token')!;
    const { page, context } = await newAppPage(browser);

    const response = await page.goto(ui.origin + '/');
    assert.equal(response?.status(), 401);
    assert.match((await page.textContent('body')) ?? '', /needs its access token/);
    assert.equal(await page.getByRole('heading', { name: 'Peerdial' }).count(), 0, 'the app must not render');
    assert.equal(await page.locator('script').count(), 0, 'no app code is served');
    await screenshot(page, 'no-token');

    const wrong = await page.goto(`${ui.origin}/?token=${'x'.repeat(token.length)}`);
    assert.equal(wrong?.status(), 401);

    const control = `ws://${ui.host}/control`;
    assert.equal(await handshakeStatus(control, ui.origin), 401);
    assert.equal(await handshakeStatus(`${control}?token=${'x'.repeat(token.length)}`, ui.origin), 401);
    // The right token from our own page's origin gets in, so the refusals above are about the token.
    assert.equal(await handshakeStatus(`${control}?token=${token}`, ui.origin), 101);
    await context.close();
  });

  test('a fresh node asks for an identity once, then opens straight to chat', async () => {
    const fresh = await node();
    const first = await openApp(fresh.uiUrl);
    const { page } = first;
    await page.getByRole('heading', { name: 'Welcome to Peerdial' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByRole('list', { name: 'Conversations' }).count(), 0, 'no chat before an identity exists');
    await screenshot(page, 'first-run');

    assert.match((await page.getByRole('textbox', { name: 'User name' }).getAttribute('placeholder')) ?? '', /^e\.g\. /, 'the placeholder reads as an example, not a value');
    await page.getByRole('textbox', { name: 'Display name' }).fill('Carol Example');
    assert.equal(await page.getByRole('textbox', { name: 'User name' }).inputValue(), 'carol-example', 'a user name is proposed from the display name');
    await page.getByRole('textbox', { name: 'User name' }).fill('carol smith');
    await page.getByRole('button', { name: 'Create identity' }).click();
    await page.getByRole('alert').filter({ hasText: /user name must be/i }).waitFor();
    assert.equal(await page.getByRole('textbox', { name: 'User name' }).inputValue(), 'carol smith', 'the form keeps what was typed');
    await screenshot(page, 'first-run-error');

    await page.getByRole('textbox', { name: 'User name' }).fill('carol');
    await page.getByRole('button', { name: 'Create identity' }).click();
    await chatScreen(page);
    const contact = `sip:carol@127.0.0.1:${fresh.sipPort}`;
    await page.getByText(contact).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Welcome to Peerdial' }).count(), 0);
    await page.getByRole('status').filter({ hasText: 'Online' }).waitFor();
    await screenshot(page, 'chat-empty');

    await page.getByRole('button', { name: 'Settings' }).click();
    const settings = page.locator('dl');
    await settings.getByText('Carol Example').waitFor();
    await settings.getByText(contact).waitFor();
    assert.match((await settings.first().textContent()) ?? '', /Key fingerprint\s*([0-9a-f]{4} ){7}[0-9a-f]{4}/);
    const services = page.getByRole('list', { name: 'Services' });
    assert.equal(await services.getByRole('listitem').count(), await services.getByRole('listitem').filter({ hasText: 'running' }).count());
    assert.ok((await services.getByRole('listitem').count()) >= 3);
    assert.match((await page.getByRole('region', { name: 'This node' }).locator('dl').textContent()) ?? '', new RegExp(`SIP port\\s*${fresh.sipPort}\\s*Transports\\s*UDP, TCP`));
    await screenshot(page, 'settings');

    assert.equal(await fresh.stop(), 0);
    await page.getByRole('status').filter({ hasText: 'Offline' }).waitFor();
    const again = await node({ dataDir: fresh.dataDir });
    assert.equal(again.sipContact, `sip:carol@127.0.0.1:${again.sipPort}`, 'the identity made in the UI was kept');
    const second = await openApp(again.uiUrl);
    await chatScreen(second.page);
    assert.equal(await second.page.getByRole('heading', { name: 'Welcome to Peerdial' }).count(), 0);
    // The page that was open all along reconnects by itself to the restarted node (same UI port).
    await page.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: 15_000 });

    // The identity moves to a new computer: an encrypted backup from Settings, imported on a fresh node's first run.
    await second.page.getByRole('button', { name: 'Settings' }).click();
    await second.page.getByText('Not encrypted on this disk').waitFor();
    await second.page.getByText('Export your identity (for a new computer)').click();
    await second.page.getByLabel('Passphrase for the backup').fill('a new laptop at last');
    await second.page.getByLabel('The same again').fill('a new laptop at last');
    const [download] = await Promise.all([second.page.waitForEvent('download'), second.page.getByRole('button', { name: 'Export identity' }).click()]);
    assert.equal(download.suggestedFilename(), 'peerdial-identity-carol.json');
    const backupFile = await download.path();
    const fingerprint = await second.page.locator('dd.mono').first().innerText();

    const laptop = await node();
    const third = await openApp(laptop.uiUrl);
    await third.page.getByRole('heading', { name: 'Welcome to Peerdial' }).waitFor({ timeout: 10_000 });
    await third.page.getByText('Move your identity from another computer').click();
    await third.page.getByLabel('Backup file').setInputFiles(backupFile);
    await third.page.getByLabel('Its passphrase').fill('not it at all');
    await third.page.getByRole('button', { name: 'Import identity' }).click();
    await third.page.getByRole('alert').filter({ hasText: 'does not open this backup' }).waitFor();
    await third.page.getByLabel('Its passphrase').fill('a new laptop at last');
    await third.page.getByRole('button', { name: 'Import identity' }).click();
    await chatScreen(third.page);
    await third.page.getByRole('button', { name: 'Settings' }).click();
    assert.equal(await third.page.locator('dd.mono').first().innerText(), fingerprint, 'the same key on the new computer');

    assert.deepEqual([...first.problems, ...second.problems, ...third.problems], []);
    await first.context.close();
    await second.context.close();
    await third.context.close();
  });

  test('two nodes message each other live, and history survives a restart', async () => {
    const alice = await node({ user: 'alice' });
    let bob = await node({ user: 'bob' });
    assert.ok(alice.sipContact && bob.sipContact);
    const a = await openApp(alice.uiUrl);
    const b = await openApp(bob.uiUrl);
    await chatScreen(a.page);
    await chatScreen(b.page);

    await openConversation(a.page, bob.sipContact);
    await typeAndPressEnter(a.page, 'Hello Bob, this is Alice');
    const aMessages = a.page.getByRole('list', { name: 'Messages' });
    await listItemWith(aMessages, ['Hello Bob, this is Alice', 'delivered']);
    assert.equal(await a.page.getByRole('textbox', { name: 'Message' }).inputValue(), '', 'a sent message leaves the box');

    // B did nothing but keep the page open: the conversation arrives live.
    const bConversations = b.page.getByRole('list', { name: 'Conversations' });
    const fromAlice = await listItemWith(bConversations, [alice.sipContact, 'Hello Bob, this is Alice']);
    await fromAlice.getByRole('button').click();
    const bMessages = b.page.getByRole('list', { name: 'Messages' });
    await listItemWith(bMessages, ['Hello Bob, this is Alice']);
    // Written to a contact address, not to a user's name: not encrypted, and the page says so.
    await b.page.getByRole('note').filter({ hasText: 'Not encrypted' }).waitFor({ timeout: 5_000 });
    await listItemWith(bMessages, ['Hello Bob, this is Alice', 'not encrypted, sender not verified']);

    // Shift+Enter adds a line; Enter sends.
    const bBox = b.page.getByRole('textbox', { name: 'Message' });
    await bBox.fill('Hi Alice!');
    await bBox.press('Shift+Enter');
    await bBox.pressSequentially('Bob here.');
    assert.equal(await bBox.inputValue(), 'Hi Alice!\nBob here.');
    await bBox.press('Enter');
    await listItemWith(bMessages, ['Hi Alice!', 'read']);
    const reply = await listItemWith(aMessages, ['Hi Alice!']);
    assert.equal(await reply.locator('p').first().innerText(), 'Hi Alice!\nBob here.');
    await listItemWith(a.page.getByRole('list', { name: 'Conversations' }), [bob.sipContact, 'Hi Alice!']);
    await screenshot(a.page, 'chat-alice');
    await screenshot(b.page, 'chat-bob');

    // A user B's node does not have: the failure and its reason show on the message.
    const stranger = `sip:nobody@127.0.0.1:${bob.sipPort}`;
    await openConversation(a.page, stranger);
    await typeAndPressEnter(a.page, 'Anyone there?');
    await listItemWith(aMessages, ['Anyone there?', /failed: 404/]);

    // An address the engine refuses to send to: the error shows and the typed text stays.
    await openConversation(a.page, 'sip:127.0.0.1:5999');
    await typeAndPressEnter(a.page, 'Keep this text');
    await a.page.getByRole('alert').filter({ hasText: 'is not a SIP address' }).waitFor();
    assert.equal(await a.page.getByRole('textbox', { name: 'Message' }).inputValue(), 'Keep this text');
    await screenshot(a.page, 'chat-send-error');

    assert.equal(await bob.stop(), 0);
    bob = await node({ user: 'bob', dataDir: bob.dataDir, args: ['--sip-port', String(bob.sipPort)] });
    const b2 = await openApp(bob.uiUrl);
    await chatScreen(b2.page);
    await (await listItemWith(b2.page.getByRole('list', { name: 'Conversations' }), [alice.sipContact])).getByRole('button').click();
    const history = b2.page.getByRole('list', { name: 'Messages' });
    await listItemWith(history, ['Hello Bob, this is Alice']);
    await listItemWith(history, ['Hi Alice!', 'read']);
    assert.equal(await history.getByRole('listitem').count(), 2);
    await screenshot(b2.page, 'chat-bob-after-restart');

    assert.deepEqual([...a.problems, ...b2.problems], []);
    await Promise.all([a.context.close(), b.context.close(), b2.context.close()]);
  });
});
