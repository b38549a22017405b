// End to end, a voice message as people leave and hear one: alice calls bob, whose node is
// off; her page offers "Leave a voice message", she speaks after the tone (Chromium's fake
// microphone plays a spoken sentence) and sends it, then closes Peerdial. Bob starts his node
// later, sees the message in his conversation with alice, plays it, and it is marked listened;
// his node records what his speaker played, and that must be alice's sentence.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { untilFoundInOverlay } from '../support/control.js';
import { launchBrowser, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { bestMatch, durationSeconds, makeSpeechWav, readWav, requireAudioTools } from '../support/audio-analysis.js';
import { until } from '../support/poll.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';

const OVERLAY = 'peerdial';

let browser: Browser;
let workDir: string;
const nodes: NodeProcess[] = [];
const pages: AppPage[] = [];

async function openApp(node: NodeProcess): Promise<Page> {
  const app = await newAppPage(browser);
  pages.push(app);
  await app.context.grantPermissions(['microphone']);
  const response = await app.page.goto(node.uiUrl);
  assert.equal(response?.status(), 200);
  await app.page.getByRole('button', { name: 'Calls', exact: true }).waitFor({ timeout: 10_000 });
  return app.page;
}

async function node(options: Parameters<typeof startNode>[0]): Promise<NodeProcess> {
  const started = await startNode(options);
  nodes.push(started);
  return started;
}

describe('a voice message between two UIs', { timeout: 240_000 }, () => {
  let speech: string;
  let microphone: string;

  before(async () => {
    requireAudioTools();
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-voicemail-e2e-'));
    const spoken = makeSpeechWav(workDir, 'alice-says', 'Hi Bob, it is Alice. The train gets in at seven, see you at the station.', { sampleRate: 48_000, padSeconds: 4 });
    speech = spoken.speech;
    // Chromium loops its fake microphone file: the sentence, then four seconds of quiet, again and again.
    microphone = spoken.padded;
    browser = await launchBrowser([
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${microphone}`,
      '--autoplay-policy=no-user-gesture-required',
    ]);
  });

  after(async () => {
    await Promise.all(pages.map((p) => p.context.close()));
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('alice leaves bob a message while he is offline; bob plays it later, and hears what she said', async () => {
    // ann keeps the ring (and so bob's mailbox) alive while both alice and bob are away.
    const ann = await node({ user: 'ann', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    const join = ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${ann.sipPort}`, '--refresh-seconds', '10'];
    const alice = await node({ user: 'alice', args: join });
    const bob = await node({ user: 'bob', args: join });
    await Promise.all([untilFoundInOverlay(alice, 'bob'), untilFoundInOverlay(bob, 'alice')]);

    // Bob records his own greeting in Settings → Voicemail before he goes.
    const bobFirst = await openApp(bob);
    await bobFirst.getByRole('button', { name: 'Settings', exact: true }).click();
    const settings = bobFirst.getByRole('region', { name: 'Voicemail' });
    await settings.getByText(/Greeting:\s+the default/).waitFor({ timeout: 10_000 });
    await settings.getByRole('button', { name: 'Record a greeting' }).click();
    const greeting = bobFirst.getByRole('status', { name: 'Greeting' });
    await greeting.getByText(/Recording your greeting: 0:02/).waitFor({ timeout: 15_000 });
    await greeting.getByRole('button', { name: 'Keep greeting' }).click();
    await settings.getByText(/Greeting:\s+yours, 0:0[23]/).waitFor({ timeout: 10_000 });
    await screenshot(bobFirst, 'voicemail-greeting-bob');
    await bob.stop();

    const alicePage = await openApp(alice);
    await alicePage.getByRole('button', { name: 'Calls', exact: true }).click();
    await alicePage.getByRole('textbox', { name: 'Number or address' }).fill('bob');
    await alicePage.getByRole('button', { name: 'Call', exact: true }).click();
    const ended = alicePage.getByRole('status').filter({ hasText: /Call with .*bob.* ended/i });
    await ended.getByRole('button', { name: 'Leave a voice message' }).click({ timeout: 30_000 });

    const recorder = alicePage.getByRole('status', { name: 'Voice message' });
    await recorder.getByText(/Recording a voice message for bob/).waitFor({ timeout: 10_000 });
    // One whole loop of the microphone file, so the sentence is in the message wherever the loop began.
    const loopSeconds = durationSeconds(readWav(microphone));
    await recorder.getByText(new RegExp(`: 0:${String(Math.ceil(loopSeconds) + 1).padStart(2, '0')} of 2:00`)).waitFor({ timeout: 30_000 });
    await screenshot(alicePage, 'voicemail-recording-alice');
    await recorder.getByRole('button', { name: 'Send voice message' }).click();
    await recorder.getByText(/Voice message sent to bob/).waitFor({ timeout: 15_000 });

    await alicePage.getByRole('button', { name: 'Chat', exact: true }).click();
    await alicePage.getByRole('textbox', { name: 'SIP address' }).fill('sip:bob@peerdial');
    await alicePage.getByRole('button', { name: 'Open conversation' }).click();
    const aliceSent = alicePage.getByRole('list', { name: 'Messages' }).getByRole('listitem').filter({ hasText: 'Voice message' });
    await aliceSent.getByText('stored for delivery').waitFor({ timeout: 15_000 });
    await alice.stop();

    const recording = path.join(workDir, 'bob-heard.wav');
    const bobAgain = await node({ user: 'bob', dataDir: bob.dataDir, args: [...join, '--record', recording] });
    const bobPage = await openApp(bobAgain);
    await bobPage.getByRole('button', { name: 'Chat', exact: true }).click();
    await bobPage.getByRole('textbox', { name: 'SIP address' }).fill('sip:alice@peerdial');
    await bobPage.getByRole('button', { name: 'Open conversation' }).click();
    // The mailbox is read at start and every 30 s.
    const message = bobPage.getByRole('list', { name: 'Messages' }).getByRole('listitem').filter({ hasText: 'Voice message' });
    await message.getByText('new', { exact: true }).waitFor({ timeout: 60_000 });
    assert.match(await message.innerText(), /Voice message,\s+0:1\d/);
    await screenshot(bobPage, 'voicemail-new-bob');

    await message.getByRole('button', { name: 'Play' }).click();
    await message.getByRole('button', { name: 'Stop' }).waitFor({ timeout: 5_000 });
    await message.getByText('listened', { exact: true }).waitFor({ timeout: 30_000 });
    await screenshot(bobPage, 'voicemail-listened-bob');

    const heard = await until('the playback is in the recording', async () => {
      const audio = readWav(recording);
      return durationSeconds(audio) >= loopSeconds ? audio : undefined;
    });
    const match = bestMatch(readWav(speech), heard, { wideband: true });
    assert.ok(match.correlation >= 0.6, `bob heard alice's sentence: correlation ${match.correlation.toFixed(2)} at ${match.offsetSeconds.toFixed(1)} s`);

    for (const app of pages) assert.deepEqual(app.problems, [], 'no page errors');
  });
});
