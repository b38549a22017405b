// sipp, the third-party SIP tester, calling a headless node and being called by it: a whole call
// (INVITE/200/ACK/BYE), a caller who cancels while the node rings, a callee that is busy (486),
// hold and resume by re-INVITE, and a call that carries real G.711 speech from sipp's own capture
// into the node's recording. sipp's scenarios check the node's SIP; the control API and the
// recording show what the user sees and hears.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { decodeG711 } from '../../native/wire/audio/g711.js';
import type { WavAudio } from '../../native/wire/audio/wav.js';
import { parseRtpPacket } from '../../native/wire/rtp/rtp-packet.js';
import { requireSipp, runSipp, startSipp } from '../peers/sipp.js';
import { audioTempDir, bestMatch, describeRecording, readWav, soundSeconds } from '../support/audio-analysis.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { udpDatagramsFromPcap } from '../support/pcap-udp.js';

/** The G.711 A-law speech capture Debian's sip-tester ships, which call-uac-pcap.xml replays. */
const SIPP_SPEECH_PCAP = '/usr/share/sip-tester/g711a.pcap';

/** Every view of every call the node reported through `call.changed`, in order. */
function watchCalls(control: NodeControl): Map<string, CallView[]> {
  const calls = new Map<string, CallView[]>();
  control.subscribe(undefined, (item) => {
    if (item.type !== 'call.changed') return;
    calls.set(item.data.id, [...(calls.get(item.data.id) ?? []), item.data]);
  });
  return calls;
}

function latest(calls: Map<string, CallView[]>, id: string): CallView | undefined {
  return calls.get(id)?.at(-1);
}

/** The first call (other than those in `except`) whose latest view is ended. */
function endedCall(calls: Map<string, CallView[]>, except: Set<string> = new Set()): CallView | undefined {
  return [...calls.keys()].filter((id) => !except.has(id)).map((id) => latest(calls, id)!).find((v) => v.state === 'ended');
}

function describeCalls(calls: Map<string, CallView[]>): () => string {
  return () => `calls seen: ${JSON.stringify([...calls.values()].map((views) => views.map((v) => `${v.state}/${v.hold}/${v.endReason ?? ''}`)))}`;
}

/** The speech in sipp's capture, decoded: what the node should hear. */
function speechInPcap(file: string): WavAudio {
  const frames: Int16Array[] = [];
  for (const datagram of udpDatagramsFromPcap(readFileSync(file))) {
    const parsed = parseRtpPacket(datagram.payload);
    if (parsed.ok && parsed.packet.payloadType === 8) frames.push(decodeG711('a', parsed.packet.payload));
  }
  const samples = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    samples.set(f, at);
    at += f.length;
  }
  return { sampleRate: 8000, samples };
}

function assertSippPassed(run: { code: number | null; successful: number; failed: number; output: string }): void {
  assert.equal(run.failed, 0, run.output.slice(-3_000));
  assert.equal(run.successful, 1, run.output.slice(-3_000));
  assert.equal(run.code, 0, run.output.slice(-3_000));
}

describe('sipp calls a headless node and is called by it', () => {
  let dir: string;
  let node: NodeProcess | undefined;
  let control: NodeControl | undefined;

  before(async () => {
    // Fails (not skips) without sipp: the CI script installs it.
    requireSipp();
    dir = await audioTempDir();
  });
  afterEach(async () => {
    control?.close();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
    node = undefined;
    control = undefined;
  });
  after(async () => {
    if (dir) await removeDir(dir);
  });

  async function start(args: string[]): Promise<{ node: NodeProcess; control: NodeControl; calls: Map<string, CallView[]> }> {
    node = await startNode({ user: 'bob', args });
    control = controlOf(node);
    return { node, control, calls: watchCalls(control) };
  }

  it('answers sipp\'s INVITE with G.711 and ends the call on BYE', async () => {
    const { node: callee, control: api, calls } = await start(['--auto-answer']);
    const run = await runSipp({ scenario: 'call-uac.xml', remote: `127.0.0.1:${callee.sipPort}`, service: 'bob' });
    assertSippPassed(run);
    const ended = await until('the node to end the call', async () => endedCall(calls), 10_000, describeCalls(calls));
    assert.equal(ended.direction, 'in');
    assert.equal(ended.endReason, 'remote-hangup');
    assert.ok(calls.get(ended.id)!.some((v) => v.state === 'active'), describeCalls(calls)());
    const [entry] = await api.invoke('call.history', {});
    assert.equal(entry?.direction, 'in');
    assert.equal(entry?.outcome, 'answered');
  });

  it('shows a call cancelled while ringing as missed', async () => {
    const { node: callee, control: api, calls } = await start([]);
    const run = await runSipp({ scenario: 'call-uac-cancel.xml', remote: `127.0.0.1:${callee.sipPort}`, service: 'bob' });
    assertSippPassed(run);
    const ended = await until('the node to end the call', async () => endedCall(calls), 10_000, describeCalls(calls));
    const states = calls.get(ended.id)!.map((v) => v.state);
    assert.ok(states.includes('incoming'), `the call never rang: ${states.join(' ')}`);
    assert.ok(!states.includes('active'), `a cancelled call was answered: ${states.join(' ')}`);
    assert.equal(ended.endReason, 'cancelled');
    assert.equal((await api.invoke('call.list', {})).length, 0);
    const [entry] = await api.invoke('call.history', {});
    assert.equal(entry?.direction, 'in');
    assert.equal(entry?.outcome, 'missed');
    assert.equal(entry?.durationSeconds, 0);
  });

  it('ends its call as busy when sipp answers 486', async () => {
    const { control: api, calls } = await start([]);
    const port = await freePort();
    const uas = startSipp({ scenario: 'call-uas-486.xml', localPort: port });
    // sipp needs a moment to bind; an INVITE sent earlier is resent by Timer A after 500 ms.
    await new Promise((r) => setTimeout(r, 200));
    const dialled = await api.invoke('call.dial', { to: `sip:busy@127.0.0.1:${port}` });
    assert.equal(dialled.direction, 'out');
    const ended = await until('the node to end its call', async () => latest(calls, dialled.id)?.state === 'ended' && latest(calls, dialled.id), 15_000, describeCalls(calls));
    assertSippPassed(await uas.done);
    assert.equal(ended.endReason, 'busy');
    assert.ok(ended.endMessage && /busy/i.test(ended.endMessage), `end message: ${ended.endMessage}`);
    const [entry] = await api.invoke('call.history', {});
    assert.equal(entry?.direction, 'out');
    assert.equal(entry?.outcome, 'busy');
  });

  it('answers a hold re-INVITE recvonly and the resume sendrecv', async () => {
    const { node: callee, calls } = await start(['--auto-answer']);
    // The scenario fails unless the answer to a=sendonly says a=recvonly, and the answer to the
    // later a=sendrecv holds nothing (RFC 3264 6.1, 8.4).
    const run = await runSipp({ scenario: 'call-uac-hold.xml', remote: `127.0.0.1:${callee.sipPort}`, service: 'bob' });
    assertSippPassed(run);
    const ended = await until('the node to end the call', async () => endedCall(calls), 10_000, describeCalls(calls));
    const holds = calls.get(ended.id)!.filter((v) => v.state === 'active').map((v) => v.hold);
    const heldAt = holds.indexOf('remote');
    assert.ok(heldAt >= 0, `the node never showed the call held by the far end: ${holds.join(' ')}`);
    assert.ok(holds.slice(heldAt).includes('none'), `the node never showed the call resumed: ${holds.join(' ')}`);
    assert.equal(ended.endReason, 'remote-hangup');
  });

  it('records the G.711 speech sipp sends from its capture (30 ms packets)', async (t) => {
    const recording = path.join(dir, 'node-heard-sipp.wav');
    const { node: callee, calls } = await start(['--auto-answer', '--record', recording]);
    const run = await runSipp({ scenario: 'call-uac-pcap.xml', remote: `127.0.0.1:${callee.sipPort}`, service: 'bob', timeoutS: 30 });
    assertSippPassed(run);
    const ended = await until('the node to end the call', async () => endedCall(calls), 10_000, describeCalls(calls));
    const codecs = calls.get(ended.id)!.map((v) => v.quality?.codec).filter(Boolean);
    assert.equal(codecs.at(-1), 'PCMA', `codecs shown: ${codecs.join(' ')}`);
    await callee.stop();

    const sent = speechInPcap(SIPP_SPEECH_PCAP);
    const heard = readWav(recording);
    const facts = describeRecording(heard, sent);
    assert.ok(soundSeconds(heard) >= 0.8 * soundSeconds(sent), `too little sound (sent ${soundSeconds(sent).toFixed(2)} s): ${facts}`);
    t.diagnostic(`the node: ${facts}`);
    const match = bestMatch(sent, heard);
    assert.ok(match.correlation >= 0.8, `the recording is not sipp's speech: ${facts}`);
    assert.ok(match.overlap >= 0.95, `the speech is cut: ${facts}`);
  });
});
