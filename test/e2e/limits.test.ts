// Settings → "Blocked and limited", in Chromium against a real node: a source that sends MESSAGEs
// past the node's limit (set low with --sip-method-limits) is refused 503 and shows in the list,
// with the limit it met and how often.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, newAppPage, type AppPage } from '../support/browser.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';

describe('the Blocked and limited section', { timeout: 60_000 }, () => {
  let browser: Browser;
  let node: NodeProcess;
  let app: AppPage;

  before(async () => {
    node = await startNode({ user: 'lia', args: ['--no-mdns', '--no-multicast-register', '--sip-method-limits', 'message=1/2'] });
    browser = await launchBrowser();
    app = await newAppPage(browser);
    assert.equal((await app.page.goto(node.uiUrl))?.status(), 200);
  });

  after(async () => {
    await app?.context.close();
    await browser?.close();
    if (node) {
      await node.stop();
      await removeDir(node.dataDir);
    }
  });

  test('lists an address that sent MESSAGEs past its limit', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const section = page.getByRole('region', { name: 'Blocked and limited' });
    await section.getByText('Nothing has been limited since this node started.').waitFor();

    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.66', () => resolve()));
    const statuses: number[] = [];
    const five = new Promise<void>((resolve) =>
      socket.on('message', (bytes) => {
        statuses.push(Number(/^SIP\/2\.0 (\d{3})/.exec(bytes.toString())?.[1]));
        if (statuses.length === 5) resolve();
      }),
    );
    try {
      const port = socket.address().port;
      for (let i = 0; i < 5; i++) {
        const request = [
          `MESSAGE sip:lia@127.0.0.1:${node.sipPort} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.66:${port};branch=z9hG4bK-e2e-${i};rport`,
          'Max-Forwards: 70',
          `From: <sip:mallory@127.0.0.66:${port}>;tag=e2e${i}`,
          `To: <sip:lia@127.0.0.1:${node.sipPort}>`,
          `Call-ID: e2e-limits-${i}@127.0.0.66`,
          'CSeq: 1 MESSAGE',
          'Content-Type: text/plain',
          'Content-Length: 4',
          '',
          'spam',
        ].join('\r\n');
        await new Promise<void>((resolve, reject) => socket.send(request, node.sipPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      }
      await five;
    } finally {
      socket.close();
    }
    assert.deepEqual(statuses.filter((s) => s === 503).length, 3, `answers: ${statuses.join(', ')}`);

    const row = section.locator('tr.limited-source').filter({ hasText: '127.0.0.66' });
    await row.waitFor({ timeout: 5_000 });
    assert.equal((await row.locator('.limit').textContent())?.trim(), 'too many messages (MESSAGE)');
    assert.equal((await row.locator('.count').textContent())?.trim(), '3 times');
    assert.deepEqual(app.problems, []);
  });
});
