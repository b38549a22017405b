// Wideband calls with baresip, a real softphone, both directions: with its opus module Opus is
// negotiated (RFC 7587), with g722 G.722; each side speaks an espeak-ng phrase and records what
// it hears. Each recording must carry the other side's phrase (speech-band envelopes, as in
// calls-baresip) and, being wideband, the sound between 4 and 7 kHz that G.711 cannot carry.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { requireBaresip, startBaresip, type Baresip } from '../peers/baresip.js';
import { audioTempDir, bandDbfs, bestMatch, describeRecording, makeSpeechWav, readWav, requireAudioTools, type SpokenWav } from '../support/audio-analysis.js';
import { describeCalls, watchCalls } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

const NODE_RTP_PORTS = '16384-19999';
/** As calls-baresip: the far end's phrase correlates at least this well (other speech stays near 0.3). */
const CARRIES = 0.8;
/** 4-7 kHz in the recording within this many dB of what was sent there: the high band came through. */
const WIDEBAND_WITHIN_DB = 15;
const TALK_MS = 6_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function assertWidebandCarries(who: string, recordingFile: string, heard: SpokenWav): string {
  const recording = readWav(recordingFile);
  const expected = readWav(heard.speech);
  const facts = `${who}: ${describeRecording(recording, expected)}`;
  const match = bestMatch(expected, recording);
  assert.ok(match.correlation >= CARRIES, `does not carry the far end's phrase; ${facts}`);
  // Compare the high band over the phrase only, where the recording lines up with what was sent.
  const sentHigh = bandDbfs(expected, 4000, 7000);
  const start = Math.max(0, Math.round(match.offsetSeconds * recording.sampleRate));
  const during = recording.samples.subarray(start, start + Math.round((expected.samples.length / expected.sampleRate) * recording.sampleRate));
  const heardHigh = bandDbfs({ sampleRate: recording.sampleRate, samples: during }, 4000, 7000);
  assert.ok(heardHigh > sentHigh - WIDEBAND_WITHIN_DB, `4-7 kHz heard at ${heardHigh.toFixed(1)} dBFS, sent at ${sentHigh.toFixed(1)}: not wideband; ${facts}`);
  return `${facts}; 4-7 kHz ${heardHigh.toFixed(1)} dBFS (sent ${sentHigh.toFixed(1)})`;
}

for (const codec of ['opus', 'G722'] as const) {
  // baresip's audio runs at the codec's own rate, and speaks a phrase recorded at it.
  const sampleRate = codec === 'opus' ? 48_000 : 16_000;

  describe(`${codec} calls between a headless node and baresip`, () => {
    let dir: string;
    let nodeVoice: SpokenWav;
    let baresipVoice: SpokenWav;
    let node: NodeProcess | undefined;
    let control: NodeControl | undefined;
    let baresip: Baresip | undefined;

    before(async () => {
      requireBaresip();
      requireAudioTools();
      dir = await audioTempDir();
      nodeVoice = makeSpeechWav(dir, 'node-voice', 'The quick brown fox jumps over the lazy dog. She sells sea shells.', { sampleRate: 16_000 });
      baresipVoice = makeSpeechWav(dir, 'baresip-voice', 'Peerdial calling baresip. Six sizzling sausages. Testing the line.', { voice: 'en+f3', sampleRate });
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

    it(`answers baresip's ${codec} call and both sides hear each other in wideband`, async (t) => {
      const recording = path.join(dir, `node-heard-${codec}-in.wav`);
      node = await startNode({ user: 'alice', args: ['--auto-answer', '--play', nodeVoice.padded, '--record', recording, '--rtp-ports', NODE_RTP_PORTS] });
      control = controlOf(node);
      const api = control;
      const calls = watchCalls(control);
      baresip = await startBaresip({ user: 'carol', answerMode: 'manual', source: baresipVoice.padded, codec, sampleRate });
      await baresip.dial(node.sipContact!);
      await baresip.waitFor('CALL_ESTABLISHED');
      const call = await until('the call active with its quality', async () => (await api.invoke('call.list', {})).find((c) => c.state === 'active' && c.quality), 10_000, describeCalls(calls));
      assert.equal(call.quality!.codec, codec);
      await sleep(TALK_MS);
      await baresip.hangup();
      await baresip.waitFor('CALL_CLOSED');
      await node.stop();
      await baresip.stop();
      assert.match(baresip.output(), new RegExp(`Set audio decoder: ${codec === 'opus' ? 'opus' : 'G722'}`, 'i'));
      t.diagnostic(assertWidebandCarries('the node', recording, baresipVoice));
      t.diagnostic(assertWidebandCarries('baresip', baresip.receivedRecording(), nodeVoice));
    });

    it(`calls baresip, which takes ${codec}, and both sides hear each other in wideband`, async (t) => {
      const recording = path.join(dir, `node-heard-${codec}-out.wav`);
      node = await startNode({ user: 'alice', args: ['--play', nodeVoice.padded, '--record', recording, '--rtp-ports', NODE_RTP_PORTS] });
      control = controlOf(node);
      const api = control;
      const calls = watchCalls(control);
      baresip = await startBaresip({ user: 'dave', answerMode: 'auto', source: baresipVoice.padded, codec, sampleRate });
      const dialled = await control.invoke('call.dial', { to: baresip.uri });
      await baresip.waitFor('CALL_ESTABLISHED');
      const call = await until('the call active with its quality', async () => (await api.invoke('call.list', {})).find((c) => c.id === dialled.id && c.state === 'active' && c.quality), 10_000, describeCalls(calls));
      assert.equal(call.quality!.codec, codec);
      await sleep(TALK_MS);
      await control.invoke('call.hangup', { id: dialled.id });
      await baresip.waitFor('CALL_CLOSED');
      await node.stop();
      await baresip.stop();
      t.diagnostic(assertWidebandCarries('the node', recording, baresipVoice));
      t.diagnostic(assertWidebandCarries('baresip', baresip.receivedRecording(), nodeVoice));
    });
  });
}
