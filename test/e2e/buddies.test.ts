// End to end, buddies as two users meet them: two headless nodes on one overlay, their UIs in
// Chromium. Alice adds bob by name; bob's page shows her request with her key fingerprint and he
// accepts it; both lists show the other available; alice goes busy with a note and bob's list
// says so; alice's message reads "delivered", then "read" once bob opens the conversation; and
// bob's typing shows on alice's page.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { controlOf, untilFoundInOverlay } from '../support/control.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

const OVERLAY = 'peerdial';
/** Presence travels by SUBSCRIBE/NOTIFY once the request is accepted; the issue asks for changes within 2 s, the page gets a little more. */
const PRESENCE_MS = 15_000;

let browser: Browser;
const nodes: NodeProcess[] = [];
const pages: AppPage[] = [];

async function fingerprintOf(node: NodeProcess): Promise<string> {
  const client = controlOf(node);
  try {
    const identity = await client.invoke('identity.get', {});
    assert.ok(identity, 'the node was started with a user, so it has an identity');
    return identity.fingerprint;
  } finally {
    client.close();
  }
}

async function openApp(node: NodeProcess): Promise<AppPage> {
  const app = await newAppPage(browser);
  pages.push(app);
  const response = await app.page.goto(node.uiUrl);
  assert.equal(response?.status(), 200);
  await app.page.getByRole('button', { name: 'Chat', exact: true }).waitFor({ timeout: 10_000 });
  await app.page.getByRole('list', { name: 'Buddies', exact: true }).waitFor({ state: 'attached' });
  return app;
}

function buddyList(page: Page): Locator {
  return page.getByRole('list', { name: 'Buddies', exact: true });
}

/** The button of a buddy's entry that opens the conversation (the other one calls). */
async function openConversationWith(page: Page, name: string): Promise<void> {
  const entry = await listItemWith(buddyList(page), [name]);
  await entry.getByRole('button').first().click();
  await page.getByRole('heading', { name, exact: true }).waitFor();
}

describe('buddies, presence and receipts between two UIs', { timeout: 180_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    browser = await launchBrowser();
    const alice = await startNode({ user: 'alice', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    nodes.push(alice);
    const bob = await startNode({ user: 'bob', args: ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${alice.sipPort}`, '--refresh-seconds', '10'] });
    nodes.push(bob);
    await Promise.all([untilFoundInOverlay(alice, 'bob'), untilFoundInOverlay(bob, 'alice')]);
  });

  after(async () => {
    await Promise.all(pages.map((p) => p.context.close()));
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
  });

  test('alice adds bob, bob accepts her request, both see each other, busy shows, and a message turns delivered then read', async () => {
    const [aliceNode, bobNode] = nodes;
    const aliceFingerprint = await fingerprintOf(aliceNode);
    const a = await openApp(aliceNode);
    const b = await openApp(bobNode);
    const alice = a.page;
    const bob = b.page;

    // Alice asks, by a bare name in her overlay, with a note.
    await alice.getByRole('button', { name: 'Add buddy' }).click();
    await alice.getByRole('textbox', { name: "Buddy's address" }).fill('bob');
    await alice.getByRole('textbox', { name: 'Note (optional)' }).fill('Hi Bob, it is Alice from work');
    await alice.getByRole('button', { name: 'Send buddy request' }).click();
    await listItemWith(buddyList(alice), ['bob', 'waiting for them to accept']);

    // Bob sees who asks, the key she asked with and her note, and accepts in his UI.
    const requests = bob.getByRole('list', { name: 'Buddy requests' });
    const request = await listItemWith(requests, ['alice', `sip:alice@${OVERLAY}`, aliceFingerprint, 'Hi Bob, it is Alice from work'], PRESENCE_MS);
    await screenshot(bob, 'buddies-request-bob');
    await request.getByRole('button', { name: /^Accept/ }).click();
    await requests.waitFor({ state: 'detached', timeout: 10_000 });

    // Both lists show the other one online.
    await listItemWith(buddyList(bob), ['alice', 'Available'], PRESENCE_MS);
    await listItemWith(buddyList(alice), ['bob', 'Available'], PRESENCE_MS);

    // Alice goes busy with a note; bob's list says so in words.
    await alice.getByRole('combobox', { name: 'My status' }).selectOption('busy');
    const note = alice.getByRole('textbox', { name: 'Status note' });
    await note.fill('In a meeting until 3');
    await note.press('Enter');
    await listItemWith(buddyList(bob), ['alice', 'Busy', 'In a meeting until 3'], PRESENCE_MS);
    await screenshot(bob, 'buddies-list-bob');

    // Alice writes; her node reports it delivered while bob has not opened it, and bob's list counts it unread.
    await openConversationWith(alice, 'bob');
    const box = alice.getByRole('textbox', { name: 'Message' });
    await box.fill('Are you free after the meeting?');
    await box.press('Enter');
    const aliceMessages = alice.getByRole('list', { name: 'Messages' });
    await listItemWith(aliceMessages, ['Are you free after the meeting?', 'delivered']);
    await listItemWith(buddyList(bob), ['alice', '1 unread']);

    // Bob opens the conversation: the message is his to read, and alice's turns "read".
    await openConversationWith(bob, 'alice');
    await listItemWith(bob.getByRole('list', { name: 'Messages' }), ['Are you free after the meeting?']);
    // Between two Peerdial users the conversation is sealed end to end, and says so.
    await bob.getByRole('note').filter({ hasText: 'encrypted end to end' }).waitFor({ timeout: 5_000 });
    // Both see the same safety number; bob compares it with alice and marks her verified.
    await bob.getByRole('button', { name: 'Safety number' }).click();
    const bobDigits = await bob.getByLabel('Safety number digits').innerText();
    assert.match(bobDigits, /^(\d{5} ){11}\d{5}$/);
    await alice.getByRole('button', { name: 'Safety number' }).click();
    assert.equal(await alice.getByLabel('Safety number digits').innerText(), bobDigits, 'the same digits on both sides');
    await bob.getByRole('button', { name: 'Mark as verified' }).click();
    await bob.getByRole('button', { name: '✓ Verified' }).waitFor({ timeout: 5_000 });
    await screenshot(bob, 'buddies-safety-number-bob');
    await listItemWith(aliceMessages, ['Are you free after the meeting?', /\bread\b/]);
    await until('bob\'s unread count to clear', async () => (await buddyList(bob).getByRole('listitem').filter({ hasText: 'unread' }).count()) === 0, 10_000);
    await screenshot(alice, 'buddies-read-alice');

    assert.deepEqual([...a.problems, ...b.problems], []);
  });

  test('bob typing shows on alice\'s open conversation and goes away when he sends', async () => {
    const alice = pages[0].page;
    const bob = pages[1].page;
    // Both conversations are open from the test before.
    const typing = alice.getByRole('status').filter({ hasText: 'bob is typing…' });
    const box = bob.getByRole('textbox', { name: 'Message' });
    await box.pressSequentially('Yes, ');
    await typing.waitFor({ timeout: 10_000 });
    await box.pressSequentially('after four.');
    await box.press('Enter');
    await listItemWith(alice.getByRole('list', { name: 'Messages' }), ['Yes, after four.']);
    await typing.waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual([...pages[0].problems, ...pages[1].problems], []);
  });
});
