// End to end, a call as two users make it: two headless nodes on one overlay, their UIs in
// Chromium with a fake microphone playing a 440 Hz tone. Alice dials bob by name from the dial
// pad, bob's page rings and he answers, and bob's node records what it hears: alice's
// microphone must be in that recording. Alice hangs up and both pages list the call.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { untilFoundInOverlay } from '../support/control.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { rmsDbfs } from '../support/audio-analysis.js';
import { until } from '../support/poll.js';
import { RECORDING_RATE } from '../support/calls.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';

const OVERLAY = 'peerdial';
const WAV_HEADER_BYTES = 44;

let browser: Browser;
let workDir: string;
const nodes: NodeProcess[] = [];
const pages: AppPage[] = [];

/** A fake microphone fed from `wav`, and sound without a click first. */
function launchWithMicrophone(wav: string): Promise<Browser> {
  return launchBrowser([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`,
    '--autoplay-policy=no-user-gesture-required',
  ]);
}

/** Amplitude of one frequency in a recording's samples (a single DFT bin). */
function toneAmplitude(samples: Int16Array, hz: number): number {
  let re = 0;
  let im = 0;
  for (let n = 0; n < samples.length; n++) {
    re += samples[n] * Math.cos((2 * Math.PI * hz * n) / RECORDING_RATE);
    im -= samples[n] * Math.sin((2 * Math.PI * hz * n) / RECORDING_RATE);
  }
  return (2 * Math.hypot(re, im)) / samples.length;
}

async function openApp(node: NodeProcess): Promise<Page> {
  const app = await newAppPage(browser);
  pages.push(app);
  await app.context.grantPermissions(['microphone']);
  const response = await app.page.goto(node.uiUrl);
  assert.equal(response?.status(), 200);
  await app.page.getByRole('button', { name: 'Calls', exact: true }).waitFor({ timeout: 10_000 });
  return app.page;
}

/** The 16-bit samples a running node has recorded so far (while a call runs, the header's sizes lag behind). */
async function recordedSamples(file: string): Promise<Int16Array> {
  const bytes = await readFile(file);
  const body = bytes.subarray(WAV_HEADER_BYTES, WAV_HEADER_BYTES + ((bytes.length - WAV_HEADER_BYTES) & ~1));
  const samples = new Int16Array(body.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = body.readInt16LE(i * 2);
  return samples;
}

describe('a call between two UIs', { timeout: 180_000 }, () => {
  let recording: string;

  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-calls-e2e-'));
    const microphone = path.join(workDir, 'microphone-440hz.wav');
    const sox = spawnSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', microphone, 'synth', '60', 'sine', '440', 'vol', '0.5'], { encoding: 'utf8' });
    assert.equal(sox.status, 0, `sox (scripts/install-test-deps.sh installs it) could not make the microphone WAV: ${sox.stderr ?? sox.error}`);
    recording = path.join(workDir, 'bob-heard.wav');
    browser = await launchWithMicrophone(microphone);

    const alice = await startNode({ user: 'alice', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    nodes.push(alice);
    const bob = await startNode({
      user: 'bob',
      args: ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${alice.sipPort}`, '--refresh-seconds', '10', '--record', recording],
    });
    nodes.push(bob);
    await Promise.all([untilFoundInOverlay(alice, 'bob'), untilFoundInOverlay(bob, 'alice')]);
  });

  after(async () => {
    await Promise.all(pages.map((p) => p.context.close()));
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('alice calls bob by name, bob answers in his UI and hears her, and both see the call in history', async () => {
    const [aliceNode, bobNode] = nodes;
    const alice = await openApp(aliceNode);
    const bob = await openApp(bobNode);

    await alice.getByRole('button', { name: 'Calls', exact: true }).click();
    // A bare name stands for the AOR in this overlay (sip:bob@peerdial).
    await alice.getByRole('group', { name: 'Dial pad' }).waitFor();
    await alice.getByRole('textbox', { name: 'Number or address' }).fill('bob');
    await alice.getByRole('button', { name: 'Call', exact: true }).click();

    const aliceCall = alice.getByRole('region', { name: 'Current call' });
    await aliceCall.getByRole('status').filter({ hasText: /Calling…|Ringing…/ }).waitFor({ timeout: 10_000 });

    // Bob's page rings on whatever screen it shows, and says who calls.
    const ringing = bob.getByRole('alertdialog', { name: 'Incoming call' });
    await ringing.waitFor({ timeout: 15_000 });
    assert.match(await ringing.innerText(), /alice/i);
    // Two Peerdial users: the call is encrypted end to end, and says so while it rings.
    await ringing.getByText('Encrypted end to end').waitFor({ timeout: 5_000 });
    await screenshot(bob, 'calls-incoming-bob');
    await ringing.getByRole('button', { name: 'Answer' }).click();
    await ringing.waitFor({ state: 'detached', timeout: 10_000 });

    const bobCall = bob.getByRole('region', { name: 'Current call' });
    await bobCall.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
    await aliceCall.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });

    // Talk for a while: alice's fake microphone plays its tone into the call.
    const recordedBefore = (await recordedSamples(recording)).length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const heard = (await recordedSamples(recording)).subarray(recordedBefore);
    assert.ok(heard.length >= RECORDING_RATE * 2, `bob's node recorded ${heard.length} samples in 3 s of call`);
    // Chromium's noise suppression turns a steady tone down over the first seconds (it takes it
    // for background noise), so the test looks for the tone itself, not for its full loudness.
    const level = rmsDbfs(heard);
    assert.ok(level > -45, `bob's node heard ${level.toFixed(1)} dBFS: near silence, alice's microphone did not reach him`);
    const at440 = toneAmplitude(heard, 440);
    for (const other of [300, 550, 880]) {
      assert.ok(at440 > 10 * toneAmplitude(heard, other), `bob heard more ${other} Hz than 440 Hz: not alice's tone`);
    }

    assert.match(await aliceCall.getByLabel('Duration').innerText(), /^0:0[1-9]$|^0:[1-9]\d$/);
    // The lock explains itself on a click.
    const lock = aliceCall.getByRole('button', { name: /Encrypted end to end/ });
    await lock.click();
    await aliceCall.getByText(/Only you and the other person can hear this call/).waitFor({ timeout: 5_000 });
    await bobCall.getByRole('button', { name: /Encrypted end to end/ }).waitFor({ timeout: 5_000 });
    await aliceCall.getByRole('term').filter({ hasText: 'Codec' }).waitFor({ timeout: 5_000 });
    await screenshot(alice, 'calls-in-call-alice');

    // DTMF from alice's keypad shows on bob's.
    await aliceCall.getByRole('button', { name: 'Keypad' }).click();
    await aliceCall.getByRole('group', { name: 'Keypad' }).getByRole('button', { name: '4', exact: true }).click();
    await aliceCall.getByRole('group', { name: 'Keypad' }).getByRole('button', { name: '#', exact: true }).click();
    await bobCall.getByRole('button', { name: 'Keypad' }).click();
    await bobCall.getByText('Received: 4#').waitFor({ timeout: 10_000 });

    // Hold and resume: each side says who holds whom.
    await aliceCall.getByRole('button', { name: 'Hold', exact: true }).click();
    await aliceCall.getByRole('status').filter({ hasText: 'On hold' }).waitFor({ timeout: 10_000 });
    await bobCall.getByRole('status').filter({ hasText: 'They put you on hold' }).waitFor({ timeout: 10_000 });
    await aliceCall.getByRole('button', { name: 'Resume' }).click();
    await bobCall.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
    await aliceCall.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });

    await aliceCall.getByRole('button', { name: 'Hang up' }).click();
    await alice.getByRole('status').filter({ hasText: /Call with .*bob.* ended/i }).waitFor({ timeout: 10_000 });
    await bob.getByRole('status').filter({ hasText: /Call with .*alice.* ended/i }).waitFor({ timeout: 10_000 });
    await aliceCall.waitFor({ state: 'detached' });
    await bobCall.waitFor({ state: 'detached' });

    await listItemWith(alice.getByRole('list', { name: 'Call history' }), ['Outgoing', /bob/i, 'Answered']);
    await bob.getByRole('button', { name: 'Calls', exact: true }).click();
    await listItemWith(bob.getByRole('list', { name: 'Call history' }), ['Incoming', /alice/i, 'Answered']);
    await screenshot(bob, 'calls-history-bob');

    // The history is the engine's: a reload of the page shows it again.
    await alice.reload();
    await alice.getByRole('button', { name: 'Calls', exact: true }).click();
    await listItemWith(alice.getByRole('list', { name: 'Call history' }), ['Outgoing', /bob/i, 'Answered']);

    // Settings → Calls counts the encrypted call, and keeps the choice for calls with phones.
    await alice.getByRole('button', { name: 'Settings', exact: true }).click();
    const callsSettings = alice.getByRole('region', { name: 'Calls' });
    assert.equal((await callsSettings.locator('.encrypted-count').innerText()).trim(), '1');
    const allowPlain = callsSettings.getByRole('checkbox', { name: 'Allow unencrypted calls with phones' });
    assert.equal(await allowPlain.isChecked(), true);
    await allowPlain.uncheck();
    await callsSettings.getByText('Such calls are refused').waitFor({ timeout: 5_000 });
    await alice.reload();
    await alice.getByRole('button', { name: 'Settings', exact: true }).click();
    assert.equal(await alice.getByRole('region', { name: 'Calls' }).getByRole('checkbox', { name: 'Allow unencrypted calls with phones' }).isChecked(), false);

    for (const app of pages) assert.deepEqual(app.problems, [], 'no page errors and no CSP violations (the audio worklet loads from our own origin)');
  });

  test('Settings → Audio devices: the input level follows the microphone, and the echo test calls back what it hears', async () => {
    const alice = await openApp(nodes[0]);
    await alice.getByRole('button', { name: 'Settings', exact: true }).click();
    const audio = alice.getByRole('region', { name: 'Audio devices' });
    const meter = audio.getByRole('meter', { name: 'Input level' });
    assert.equal(Number(await meter.getAttribute('value')), 0, 'nothing measured before the check');
    await audio.getByRole('button', { name: 'Check microphone' }).click();
    // The fake microphone plays a 440 Hz tone at half scale (about -9 dBFS).
    await until('the meter to rise', async () => (Number(await meter.getAttribute('value')) > 0.3 ? true : undefined), 10_000);
    await screenshot(alice, 'settings-microphone-level');
    await audio.getByRole('button', { name: 'Stop' }).click();
    assert.equal(Number(await meter.getAttribute('value')), 0);

    await audio.getByRole('button', { name: 'Test my microphone and speaker' }).click();
    const echoCall = alice.getByRole('region', { name: 'Current call' });
    await echoCall.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
    assert.match(await echoCall.innerText(), /echo/i);
    await echoCall.getByRole('button', { name: 'Hang up' }).click();
    await echoCall.waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual(pages.at(-1)!.problems, []);
  });
});
