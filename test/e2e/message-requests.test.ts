// End to end, a message request as a user meets it: carol, a stranger to bob, writes to him by
// name; bob's page shows it under Requests (not among Conversations) with a count on the Chat
// tab; Accept moves it to his conversations; blocked from there, she shows under Settings ->
// Blocked and limited until he unblocks her.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { controlOf, untilFoundInOverlay } from '../support/control.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';

const OVERLAY = 'peerdial';

let browser: Browser;
const nodes: NodeProcess[] = [];
const pages: AppPage[] = [];

describe('message requests in the UI', { timeout: 120_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    browser = await launchBrowser();
    const bob = await startNode({ user: 'bob', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    nodes.push(bob);
    const carol = await startNode({ user: 'carol', args: ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${bob.sipPort}`, '--refresh-seconds', '10'] });
    nodes.push(carol);
    await Promise.all([untilFoundInOverlay(bob, 'carol'), untilFoundInOverlay(carol, 'bob')]);
  });

  after(async () => {
    await Promise.all(pages.map((p) => p.context.close()));
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
  });

  test("a stranger's message waits under Requests, and Accept moves it to Conversations", async () => {
    const [bobNode, carolNode] = nodes;
    const app = await newAppPage(browser);
    pages.push(app);
    const page = app.page;
    assert.equal((await page.goto(bobNode.uiUrl))?.status(), 200);
    await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached', timeout: 10_000 });

    const carol = controlOf(carolNode);
    try {
      await carol.invoke('im.send', { to: 'bob', text: 'Hi Bob, Carol from the conference here' });
    } finally {
      carol.close();
    }

    const requests = page.getByRole('list', { name: /^Requests/ });
    const request = await listItemWith(requests, [`sip:carol@${OVERLAY}`, 'Hi Bob, Carol from the conference here']);
    await page.getByRole('button', { name: /^Chat/ }).filter({ hasText: '1' }).waitFor();
    assert.equal(await page.getByRole('list', { name: 'Conversations' }).getByText('Hi Bob, Carol from the conference here').count(), 0, 'not among the conversations yet');
    await screenshot(page, 'message-request-bob');

    await request.getByRole('button', { name: /^Accept/ }).click();
    await requests.waitFor({ state: 'detached', timeout: 10_000 });
    await listItemWith(page.getByRole('list', { name: 'Conversations' }), [`sip:carol@${OVERLAY}`, 'Hi Bob, Carol from the conference here']);

    // Blocked from the conversation, she is listed under Settings -> Blocked and limited, and Unblock lifts it.
    await (await listItemWith(page.getByRole('list', { name: 'Conversations' }), [`sip:carol@${OVERLAY}`])).getByRole('button').click();
    await page.getByRole('button', { name: 'Block', exact: true }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Block', exact: true }).click();
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Blocked and limited' }).waitFor();
    const blocked = page.getByRole('list', { name: 'Blocked people' });
    const entry = await listItemWith(blocked, [`sip:carol@${OVERLAY}`]);
    await screenshot(page, 'blocked-people-bob');
    await entry.getByRole('button', { name: /^Unblock/ }).click();
    await page.getByText('Nobody is blocked.').waitFor();
  });
});
