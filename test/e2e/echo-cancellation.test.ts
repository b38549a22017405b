// End to end, the echo canceller: a peer's voice that our speaker plays into the room and our
// microphone picks up again must not go back to the peer.
//
// The room is a PulseAudio server of the test's own (test/support/pulseaudio.ts): Chromium plays
// the call into a null sink and its microphone is that sink's monitor, so everything the page
// plays comes back in full, a worse echo than any laptop's. The peer, a headless node, calls the
// user (a node whose UI runs in Chromium, with a real capture device, not Chromium's fake one)
// with `--play` speech and `--record` what it hears: what it hears of its own speech is the echo.
// The user answers twice: once as shipped (Settings → Audio devices → "Echo cancellation" on),
// and once with it off, the control run that proves the room really echoes. Noise suppression
// and gain control stay on in both. With the canceller on, someone speaking in the room (paplay
// into the same sink) must still reach the peer: it cancels the echo, not the microphone. Each run
// leaves what the peer heard in /tmp/peerdial-shots/echo-cancellation-{on,off,talker}.wav.
//
// What we found (Debian 12's chromium 156, PulseAudio 16):
// - WebAudio output is cancelled. Chromium runs the echo canceller in its audio service ("chrome-
//   wide echo cancellation", the ChromeWideEchoCancellation feature, on by default in this build),
//   whose reference is what the browser plays on the output device: in our experiment it cancelled
//   noise bursts played by WebAudio straight to the destination and by an <audio> element playing
//   a MediaStreamAudioDestinationNode's stream alike (-14 dBFS of echo with echoCancellation off,
//   -55 to -68 with it on). With --disable-features=ChromeWideEchoCancellation Chromium falls
//   back to its older canceller in the page's process, and that one cancelled neither (both came
//   back at -15 dBFS): its reference is audio received on an RTCPeerConnection. The same stream
//   sent through a loopback RTCPeerConnection in the page and played from there by an <audio>
//   element was cancelled (-55 to -70 dBFS). So routing our playback through an <audio> element
//   would not help there; a loopback peer connection would, and nothing is needed where the
//   feature is on: the renderer's playback path stays as it was (call-audio.ts).
// - Playwright's headless Chromium gets --mute-audio, under which nothing reaches the sound
//   server: launchBrowser({ audible: true }) drops it.
// - Chromium lists no monitor source as a microphone: the room's microphone is a remap of it.
// - A fresh canceller needs a moment: with it on, the peer heard nothing until the microphone
//   opened (1 s after the answer on a quiet machine, up to 4.4 s on a loaded one; with it off,
//   0.2 s), then about 0.3 s of full echo while the canceller found the echo path, then -65 dBFS
//   and below. So the echo is measured from CONVERGENCE_SECONDS after the first sound the peer
//   heard in either run.
// - On a loaded machine (load average 4-5 on 2 cores, another e2e suite beside it) the canceller
//   lets a 100 ms frame of echo through now and then (-15 to -40 dBFS, a few in ten seconds):
//   the energy of the echo swings with those, so the test compares the runs frame by frame over
//   the frames that carry echo in the control run, and asserts on the median (compareEcho).
// - Measured over 19 runs (the last 10 with this file as it is, one inside the whole e2e suite):
//   the echo reached the peer at -19 to -22 dBFS with the canceller off; with it on, the median
//   frame was 48 to 75 dB quieter (52 to 68 in the last ten), the energy 12 to 76 dB lower. The
//   test asserts 15 dB on the median (ECHO_ATTENUATION_DB). The room's talker reached the peer at
//   about -18 dBFS with the canceller on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { bestMatch, makeSpeechWav, readWav, requireAudioTools, rmsDbfs, SILENCE_DBFS } from '../support/audio-analysis.js';
import { launchBrowser, newAppPage, screenshot, SHOTS_DIR, type AppPage } from '../support/browser.js';
import { RECORDING_RATE, watchCalls } from '../support/calls.js';
import type { CallView } from '../../native/control/api.js';
import { controlOf, untilFoundInOverlay, type NodeControl } from '../support/control.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startSoundRoom, type SoundRoom } from '../support/pulseaudio.js';
import { encodeWav, type WavAudio } from '../../native/wire/audio/wav.js';

const OVERLAY = 'peerdial';
/**
 * About 12 s of speech: on a loaded machine the user's microphone opened up to 4.4 s after the
 * answer, and the echo is measured from a second after that.
 */
const PEER_TEXT =
  'Hello, can you hear me? I am calling to check the line. One, two, three, four, five. ' +
  'The quick brown fox jumps over the lazy dog, and runs back into the forest.';
const WAV_HEADER_BYTES = 44;
/** How much quieter the echo must be with the canceller on than off (the median 100 ms frame). */
const ECHO_ATTENUATION_DB = 15;
/**
 * The control run's echo, and the room's talker with the canceller on, must be at least this loud.
 * Levels, not shapes, are asserted: each window holds one source alone (the peer's speech, then
 * the talker after it), and the envelope correlation (bestMatch) separates poorly here, 0.56 for
 * the peer's own echo on a loaded machine against 0.40 to 0.50 for unrelated speech; it is
 * reported, not asserted.
 */
const AUDIBLE_ECHO_DBFS = -40;
/** What the peer hears after its speech ends, so an echo late by the whole round trip is inside the window. */
const TAIL_SECONDS = 1.5;
/**
 * A fresh echo canceller lets the echo through until it has found the echo path: in our runs
 * about 0.3 s of full echo when the microphone opened. The echo is measured from this long after
 * the first sound the peer heard.
 */
const CONVERGENCE_SECONDS = 1;
/** The control run must carry this many 100 ms frames of echo after CONVERGENCE_SECONDS, or the speech was missed. */
const MIN_ECHO_FRAMES = 20;
const LEVEL_FRAME_SAMPLES = RECORDING_RATE / 10;

let workDir: string;
let room: SoundRoom;
let browser: Browser;
let user: NodeProcess;
let peer: NodeProcess;
let peerControl: NodeControl;
let peerCalls: Map<string, CallView>;
let app: AppPage;
let recording: string;
let peerSpeech: { file: string; audio: WavAudio };
let roomTalker: { file: string; audio: WavAudio };

/** The samples the peer's node has recorded so far (while a call runs, the header's sizes lag behind). */
async function recordedSamples(): Promise<Int16Array> {
  if (!existsSync(recording)) return new Int16Array(0);
  const bytes = await readFile(recording);
  const body = bytes.subarray(WAV_HEADER_BYTES, WAV_HEADER_BYTES + ((Math.max(0, bytes.length - WAV_HEADER_BYTES)) & ~1));
  return new Int16Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
}

/** What the peer heard from sample `from` once `seconds` of it are on disk. */
async function heardFrom(from: number, seconds: number): Promise<WavAudio> {
  const need = from + Math.round(seconds * RECORDING_RATE);
  const samples = await until(`the peer to record ${seconds} s more`, async () => {
    const all = await recordedSamples();
    return all.length >= need ? all : undefined;
  }, 30_000);
  return { sampleRate: RECORDING_RATE, samples: samples.slice(from, need) };
}

/** CONVERGENCE_SECONDS after the first 100 ms of `audio` above silence (its start when all is quiet), and that first second. */
function settle(audio: WavAudio): { from: number; onset: WavAudio } {
  let first = 0;
  for (let at = 0; at + LEVEL_FRAME_SAMPLES <= audio.samples.length; at += LEVEL_FRAME_SAMPLES) {
    if (rmsDbfs(audio.samples.subarray(at, at + LEVEL_FRAME_SAMPLES)) > SILENCE_DBFS) {
      first = at;
      break;
    }
  }
  const from = first + CONVERGENCE_SECONDS * RECORDING_RATE;
  return {
    from: from / RECORDING_RATE,
    onset: { sampleRate: RECORDING_RATE, samples: audio.samples.subarray(first, from) },
  };
}

/** 100 ms frame levels (dBFS, digital silence as -120). */
function frameLevels(audio: WavAudio): number[] {
  const levels: number[] = [];
  for (let at = 0; at + LEVEL_FRAME_SAMPLES <= audio.samples.length; at += LEVEL_FRAME_SAMPLES) {
    levels.push(Math.max(-120, rmsDbfs(audio.samples.subarray(at, at + LEVEL_FRAME_SAMPLES))));
  }
  return levels;
}

/**
 * The echo of the two runs frame by frame from `fromSeconds` after the answer (the peer's file
 * starts there in both), over the frames where the control run carries it (louder than
 * AUDIBLE_ECHO_DBFS): the median of how much quieter each frame is with the canceller on, and
 * the level of all those frames together in each run. The median is what the canceller does most
 * of the time; a short leak (a glitch on a loaded machine makes it find the echo path again)
 * shows in the energy, not in it.
 */
function compareEcho(off: WavAudio, on: WavAudio, fromSeconds: number): { frames: number; medianDb: number; offDbfs: number; onDbfs: number } {
  const offLevels = frameLevels(off);
  const onLevels = frameLevels(on);
  const gains: number[] = [];
  let offPower = 0;
  let onPower = 0;
  for (let i = Math.ceil(fromSeconds * 10); i < Math.min(offLevels.length, onLevels.length); i++) {
    if (offLevels[i] <= AUDIBLE_ECHO_DBFS) continue;
    gains.push(offLevels[i] - onLevels[i]);
    offPower += 10 ** (offLevels[i] / 10);
    onPower += 10 ** (onLevels[i] / 10);
  }
  gains.sort((a, b) => a - b);
  const median = gains.length ? (gains[(gains.length - 1) >> 1] + gains[gains.length >> 1]) / 2 : 0;
  const level = (power: number) => (gains.length ? 10 * Math.log10(power / gains.length) : -Infinity);
  return { frames: gains.length, medianDb: median, offDbfs: level(offPower), onDbfs: level(onPower) };
}

const dbText = (db: number) => (Number.isFinite(db) ? `${db.toFixed(1)} dBFS` : 'digital silence');

async function setEchoCancellation(page: Page, on: boolean): Promise<void> {
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const toggle = page.getByRole('region', { name: 'Audio devices' }).getByRole('checkbox', { name: 'Echo cancellation' });
  await toggle.setChecked(on);
  assert.equal(await toggle.isChecked(), on);
}

interface CallResult {
  /** What the peer heard of its own speech. */
  echo: WavAudio;
  /** Where the peer's recording stood when the call was answered. */
  answeredAt: number;
}

/** The peer calls the user, who answers in the page; the peer speaks and records the echo. The call stays up. */
async function peerCallsAndSpeaks(page: Page): Promise<CallResult> {
  const dialled = await peerControl.invoke('call.dial', { to: 'me' });
  const ringing = page.getByRole('alertdialog', { name: 'Incoming call' });
  await ringing.waitFor({ timeout: 15_000 });
  await ringing.getByRole('button', { name: 'Answer' }).click();
  await page.getByRole('region', { name: 'Current call' }).getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
  await until('the peer to see the call answered', async () => peerCalls.get(dialled.id)?.state === 'active', 10_000);
  // The peer's node plays its file from the first frame of the answered call; the recording
  // carries everything it hears from then on.
  const answeredAt = (await recordedSamples()).length;
  const speechSeconds = peerSpeech.audio.samples.length / peerSpeech.audio.sampleRate;
  const echo = await heardFrom(answeredAt, speechSeconds + TAIL_SECONDS);
  return { echo, answeredAt };
}

async function hangUp(page: Page): Promise<void> {
  const current = page.getByRole('region', { name: 'Current call' });
  await current.getByRole('button', { name: 'Hang up' }).click();
  await current.waitFor({ state: 'detached', timeout: 10_000 });
  await until('the peer to see the call end', async () => (await peerControl.invoke('call.list', {})).every((c) => c.state === 'ended'), 10_000);
}

describe('echo cancellation', { timeout: 240_000 }, () => {
  before(async () => {
    requireAudioTools();
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-echo-e2e-'));
    const peerWav = makeSpeechWav(workDir, 'peer', PEER_TEXT, { sampleRate: 48_000, padSeconds: 0 });
    peerSpeech = { file: peerWav.speech, audio: readWav(peerWav.speech) };
    const talkerWav = makeSpeechWav(workDir, 'talker', 'Yes, I hear you well. The weather is fine here today.', { voice: 'en+f3', sampleRate: 48_000, padSeconds: 0 });
    roomTalker = { file: talkerWav.speech, audio: readWav(talkerWav.speech) };
    recording = path.join(workDir, 'peer-heard.wav');

    room = await startSoundRoom();
    browser = await launchBrowser(['--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'], { env: room.env, audible: true });

    user = await startNode({ user: 'me', args: ['--overlay', OVERLAY, '--refresh-seconds', '10'] });
    peer = await startNode({
      user: 'peer',
      args: ['--overlay', OVERLAY, '--bootstrap', `127.0.0.1:${user.sipPort}`, '--refresh-seconds', '10', '--play', peerSpeech.file, '--record', recording],
    });
    await Promise.all([untilFoundInOverlay(user, 'peer'), untilFoundInOverlay(peer, 'me')]);
    peerControl = controlOf(peer);
    peerCalls = watchCalls(peerControl);

    app = await newAppPage(browser);
    await app.context.grantPermissions(['microphone']);
    const response = await app.page.goto(user.uiUrl);
    assert.equal(response?.status(), 200);
    await app.page.getByRole('button', { name: 'Calls', exact: true }).waitFor({ timeout: 10_000 });
  });

  after(async () => {
    peerControl?.close();
    await app?.context.close();
    await browser?.close();
    await Promise.all([user, peer].filter(Boolean).map((n) => n.stop()));
    await Promise.all([user, peer].filter(Boolean).map((n) => removeDir(n.dataDir)));
    await room?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('the peer does not hear its own voice come back from our speaker, yet hears someone speaking in the room', async (t: TestContext) => {
    const page = app.page;

    // As shipped: on.
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const toggle = page.getByRole('region', { name: 'Audio devices' }).getByRole('checkbox', { name: 'Echo cancellation' });
    assert.equal(await toggle.isChecked(), true, 'echo cancellation is on by default');
    await toggle.scrollIntoViewIfNeeded();
    await screenshot(page, 'settings-echo-cancellation');

    const cancelled = await peerCallsAndSpeaks(page);
    // Now someone in the room speaks (the peer has finished): that must reach the peer.
    const talkerFrom = (await recordedSamples()).length;
    await room.play(roomTalker.file);
    const talkerSeconds = ((await recordedSamples()).length - talkerFrom) / RECORDING_RATE;
    const talker = await heardFrom(talkerFrom, talkerSeconds + TAIL_SECONDS);
    await hangUp(page);

    // The control run: the same call with the canceller off.
    await setEchoCancellation(page, false);
    const echoed = await peerCallsAndSpeaks(page);
    await hangUp(page);
    await setEchoCancellation(page, true);

    // Kept beside the screenshots, to listen to when the figures surprise.
    await mkdir(SHOTS_DIR, { recursive: true });
    for (const [name, audio] of [['on', cancelled.echo], ['off', echoed.echo], ['talker', talker]] as const) {
      await writeFile(path.join(SHOTS_DIR, `echo-cancellation-${name}.wav`), encodeWav(audio));
    }

    const on = settle(cancelled.echo);
    const off = settle(echoed.echo);
    const echo = compareEcho(echoed.echo, cancelled.echo, Math.max(on.from, off.from));
    const offMatch = bestMatch(peerSpeech.audio, echoed.echo, { wideband: true });
    const talkerLevel = rmsDbfs(talker.samples);
    const talkerMatch = bestMatch(roomTalker.audio, talker, { wideband: true });
    const summary =
      `over ${echo.frames} echo frames from ${Math.max(on.from, off.from).toFixed(1)} s: median ${echo.medianDb.toFixed(1)} dB quieter with cancellation on ` +
      `(off ${dbText(echo.offDbfs)}, the peer's speech: correlation ${offMatch.correlation.toFixed(2)}; on ${dbText(echo.onDbfs)}: ${(echo.offDbfs - echo.onDbfs).toFixed(1)} dB in energy); ` +
      `whole windows: off ${dbText(rmsDbfs(echoed.echo.samples))}, on ${dbText(rmsDbfs(cancelled.echo.samples))}, the first second of sound with it on ${dbText(rmsDbfs(on.onset.samples))}; ` +
      `a talker in the room with cancellation on reached the peer at ${dbText(talkerLevel)} (correlation ${talkerMatch.correlation.toFixed(2)})`;
    t.diagnostic(summary);

    assert.ok(echo.frames >= MIN_ECHO_FRAMES, `the control run must carry the echo, or the test proves nothing: ${summary}`);
    assert.ok(echo.offDbfs > AUDIBLE_ECHO_DBFS, `the control run's echo must be loud: ${summary}`);
    assert.ok(echo.medianDb >= ECHO_ATTENUATION_DB, `the echo canceller must take ${ECHO_ATTENUATION_DB} dB off the echo at least: ${summary}`);
    assert.ok(talkerLevel > AUDIBLE_ECHO_DBFS, `with the canceller on, the microphone must still carry the room's talker: ${summary}`);
    assert.deepEqual(app.problems, [], 'no page errors and no CSP violations');
  });
});
