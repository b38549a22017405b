// Calls between a headless node and baresip, a real softphone, both directions, on loopback.
// Each side speaks a different espeak-ng phrase from a WAV and records what it hears; the test
// checks that each recording carries the other side's phrase (long enough, louder than silence,
// shaped like it) and not its own, then DTMF both ways (RFC 4733).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { requireBaresip, startBaresip, type Baresip } from '../peers/baresip.js';
import {
  audioTempDir,
  bestMatch,
  describeRecording,
  durationSeconds,
  makeSpeechWav,
  readWav,
  requireAudioTools,
  soundDbfs,
  soundSeconds,
  type SpokenWav,
} from '../support/audio-analysis.js';
import { describeCalls, RECORDING_RATE, watchCalls } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/** The node's RTP ports, apart from the range baresip's helper picks from (20000-28000). */
const NODE_RTP_PORTS = '16384-19999';
/** A recording carries the sent phrase when its envelope correlates at least this well (other speech stays near 0.3). */
const CARRIES = 0.8;
/** ...and does not carry a phrase it correlates below this with. */
const LACKS = 0.6;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The latest view of every call the node reported through `call.changed`. */
/** Asserts that `recording` holds `heard` (the far end's phrase) and not `own` (this side's). */
function assertCarries(who: string, recordingFile: string, heard: SpokenWav, own: SpokenWav): string {
  const recording = readWav(recordingFile);
  const expected = readWav(heard.speech);
  const ownVoice = readWav(own.speech);
  const facts = `${who}: ${describeRecording(recording, expected)}`;
  // The node records at 48 kHz, baresip at the 8 kHz its config asks for.
  assert.ok([8000, RECORDING_RATE].includes(recording.sampleRate), facts);
  assert.ok(durationSeconds(recording) >= durationSeconds(expected), `recording too short; ${facts}`);
  // The whole phrase fits in the talk time: most of its sound must have arrived.
  assert.ok(soundSeconds(recording) >= 0.8 * soundSeconds(expected), `too little sound (sent ${soundSeconds(expected).toFixed(2)} s); ${facts}`);
  assert.ok(soundDbfs(recording) > soundDbfs(expected) - 10, `too quiet (sent at ${soundDbfs(expected).toFixed(1)} dBFS); ${facts}`);
  const match = bestMatch(expected, recording);
  assert.ok(match.correlation >= CARRIES, `does not carry the far end's phrase; ${facts}`);
  assert.ok(match.overlap >= 0.95, `the far end's phrase is cut; ${facts}`);
  const echo = bestMatch(ownVoice, recording);
  assert.ok(echo.correlation < LACKS, `carries its own phrase (${echo.correlation.toFixed(3)}): the recording is not of the far end; ${facts}`);
  return `${facts}; own phrase ${echo.correlation.toFixed(3)}`;
}

describe('calls between a headless node and baresip', () => {
  let dir: string;
  let nodeVoice: SpokenWav;
  let baresipVoice: SpokenWav;
  let node: NodeProcess | undefined;
  let control: NodeControl | undefined;
  let baresip: Baresip | undefined;
  /** Long enough for both phrases to be heard whole, with a second to spare for call setup and buffering. */
  let talkMs: number;

  before(async () => {
    // Fails (not skips) without the tools: the CI script installs them.
    requireBaresip();
    requireAudioTools();
    dir = await audioTempDir();
    nodeVoice = makeSpeechWav(dir, 'node-voice', 'The quick brown fox jumps over the lazy dog. One, two, three, four, five.');
    baresipVoice = makeSpeechWav(dir, 'baresip-voice', 'Peerdial calling baresip. Seven, eight, nine, ten. Testing the line.', { voice: 'en+f3' });
    talkMs = 1_000 + Math.ceil(1_000 * Math.max(durationSeconds(readWav(nodeVoice.speech)), durationSeconds(readWav(baresipVoice.speech))));
  });
  afterEach(async () => {
    control?.close();
    await baresip?.stop();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
    if (baresip) await removeDir(baresip.dir);
    node = undefined;
    control = undefined;
    baresip = undefined;
  });
  after(async () => {
    if (dir) await removeDir(dir);
  });

  async function startAnsweringNode(recording: string): Promise<{ node: NodeProcess; control: NodeControl; calls: Map<string, CallView> }> {
    node = await startNode({ user: 'alice', args: ['--auto-answer', '--play', nodeVoice.padded, '--record', recording, '--rtp-ports', NODE_RTP_PORTS] });
    control = controlOf(node);
    return { node, control, calls: watchCalls(control) };
  }

  it('answers a call from baresip and both sides hear each other', async (t) => {
    const recording = path.join(dir, 'node-heard-baresip-call.wav');
    const { node: answering, control: api, calls } = await startAnsweringNode(recording);
    baresip = await startBaresip({ user: 'carol', answerMode: 'manual', source: baresipVoice.padded });

    await baresip.dial(answering.sipContact!);
    await baresip.waitFor('CALL_ESTABLISHED');
    const call = await until('the node to show the call active', async () => (await api.invoke('call.list', {})).find((c) => c.state === 'active'), 10_000, describeCalls(calls));
    assert.equal(call.direction, 'in');
    assert.match(call.peer, /carol@127\.0\.0\.1/);
    await sleep(talkMs);
    await baresip.hangup();
    await baresip.waitFor('CALL_CLOSED');
    const ended = await until('the node to end the call', async () => calls.get(call.id)?.state === 'ended' && calls.get(call.id), 10_000, describeCalls(calls));
    assert.equal(ended.endReason, 'remote-hangup');
    const history = await api.invoke('call.history', {});
    assert.equal(history[0]?.direction, 'in');
    assert.equal(history[0]?.outcome, 'answered');
    assert.ok(history[0]!.durationSeconds >= Math.floor(talkMs / 1_000) - 1, JSON.stringify(history[0]));

    await answering.stop();
    await baresip.stop();
    t.diagnostic(assertCarries('the node', recording, baresipVoice, nodeVoice));
    t.diagnostic(assertCarries('baresip', baresip.receivedRecording(), nodeVoice, baresipVoice));
  });

  it('calls baresip by its URI, talks both ways and hangs up', async (t) => {
    const recording = path.join(dir, 'node-heard-outgoing-call.wav');
    node = await startNode({ user: 'alice', args: ['--play', nodeVoice.padded, '--record', recording, '--rtp-ports', NODE_RTP_PORTS] });
    control = controlOf(node);
    const calls = watchCalls(control);
    baresip = await startBaresip({ user: 'dave', answerMode: 'auto', source: baresipVoice.padded });

    const dialled = await control.invoke('call.dial', { to: baresip.uri });
    assert.equal(dialled.direction, 'out');
    assert.ok(['calling', 'ringing', 'active'].includes(dialled.state), dialled.state);
    await baresip.waitFor('CALL_ESTABLISHED');
    const api = control;
    await until('the node to show its call active', async () => (await api.invoke('call.list', {})).find((c) => c.id === dialled.id && c.state === 'active'), 10_000, describeCalls(calls));
    await sleep(talkMs);
    const hungUp = await control.invoke('call.hangup', { id: dialled.id });
    assert.equal(hungUp.id, dialled.id);
    const closed = await baresip.waitFor('CALL_CLOSED');
    assert.equal(closed.direction, 'incoming');
    const ended = await until('the node to end its call', async () => calls.get(dialled.id)?.state === 'ended' && calls.get(dialled.id), 10_000, describeCalls(calls));
    assert.equal(ended.endReason, 'hangup');
    const history = await control.invoke('call.history', {});
    assert.equal(history[0]?.direction, 'out');
    assert.equal(history[0]?.outcome, 'answered');

    await node.stop();
    await baresip.stop();
    t.diagnostic(assertCarries('the node', recording, baresipVoice, nodeVoice));
    t.diagnostic(assertCarries('baresip', baresip.receivedRecording(), nodeVoice, baresipVoice));
  });

  it('detects DTMF digits from baresip and sends digits baresip detects', async () => {
    const { node: answering, control: api, calls } = await startAnsweringNode(path.join(dir, 'node-heard-dtmf-call.wav'));
    baresip = await startBaresip({ user: 'erin', answerMode: 'manual', source: baresipVoice.padded });
    await baresip.dial(answering.sipContact!);
    await baresip.waitFor('CALL_ESTABLISHED');
    const call = await until('the node to show the call active', async () => (await api.invoke('call.list', {})).find((c) => c.state === 'active'), 10_000, describeCalls(calls));

    // RFC 4733 events from baresip's menu (`sndcode`), one per digit.
    await baresip.sendDtmf('2580*');
    const heard = await until(
      'the node to detect baresip\'s digits',
      async () => (await api.invoke('call.list', {})).find((c) => c.id === call.id && c.dtmfReceived.length >= 5),
      10_000,
      describeCalls(calls),
    );
    assert.equal(heard.dtmfReceived, '2580*');

    await api.invoke('call.dtmf', { id: call.id, digits: '159#' });
    const peer = baresip;
    await until('baresip to detect the node\'s digits', async () => peer.dtmfReceived().length >= 4, 10_000, () => `baresip heard "${peer.dtmfReceived()}"`);
    assert.equal(baresip.dtmfReceived(), '159#');
    // Digits are events, not audio: none of them may show up twice or in the other direction.
    assert.equal((await api.invoke('call.list', {})).find((c) => c.id === call.id)?.dtmfReceived, '2580*');

    await api.invoke('call.hangup', { id: call.id });
    await baresip.waitFor('CALL_CLOSED');
  });
});
