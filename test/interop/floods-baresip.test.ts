// sipp floods a node from one source at a time (INVITEs never ACKed, MESSAGEs, SUBSCRIBEs, each
// 2,000 a second for 10 s) while the node's user (bob, a `peerdial node` process) is in a call
// with baresip (carol, a real softphone) and a second baresip (dave) messages bob (issue 21).
// What bob and carol would notice: the call keeps its audio both ways through every flood (each
// side plays a tone and the other records it), dave's message arrives during each flood, the
// flooder is refused 503 past its limit (node.status.limits counts it), and bob's memory comes
// back within 100 MB of where it started after each flood.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView, NodeStatus } from '../../native/control/api.js';
import { requireBaresip, startBaresip, type Baresip } from '../peers/baresip.js';
import { requireSipp, startSipp } from '../peers/sipp.js';
import { audioTempDir, readWav } from '../support/audio-analysis.js';
import { describeCalls, framesAt, framesOf, RECORDING_RATE, watchCalls, writeTone } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/** bob's RTP ports, apart from the range baresip's helper picks from (20000-28000). */
const NODE_RTP_PORTS = '16384-19999';
const BOB_HZ = 1000;
const CAROL_HZ = 440;
const RATE = 2_000;
const FLOOD_S = 10;
/** PCMU in 20 ms packets. */
const PACKETS_PER_S = 50;
const MB = 1024 * 1024;

/** Each flood: its scenario, the request class node.status counts it under, and that class's default limit (request-limits.ts). */
const FLOODS = [
  { name: 'INVITE', scenario: 'invite-flood.xml', limitClass: 'invite', source: '127.0.0.71', perSecond: 20, burst: 50 },
  { name: 'MESSAGE', scenario: 'message-flood.xml', limitClass: 'message', source: '127.0.0.72', perSecond: 150, burst: 300 },
  { name: 'SUBSCRIBE', scenario: 'subscribe-flood.xml', limitClass: 'subscribe', source: '127.0.0.73', perSecond: 20, burst: 100 },
] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** How many bytes bob's recording holds now: where the next stretch of audio starts. */
const recordedBytes = async (file: string) => (await stat(file).catch(() => undefined))?.size ?? 0;

/**
 * The share of 20 ms frames at `hz` in a 16-bit mono recording's bytes from `fromByte` on, the
 * seconds they hold, and the share second by second (for a failure's message).
 */
async function toneSince(file: string, fromByte: number, hz: number, sampleRate: number): Promise<{ seconds: number; share: number; bySecond: string }> {
  const bytes = await readFile(file);
  const start = Math.max(44, fromByte);
  const body = bytes.subarray(start, start + ((bytes.length - start) & ~1));
  const samples = new Int16Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  const frames = framesOf(samples, (sampleRate * 20) / 1000);
  const bySecond = Array.from({ length: Math.ceil(frames.length / 50) }, (_, i) => Math.round(100 * framesAt(frames.slice(50 * i, 50 * i + 50), hz, sampleRate))).join(' ');
  return { seconds: samples.length / sampleRate, share: framesAt(frames, hz, sampleRate), bySecond };
}

describe('sipp floods a node while its user is in a call with baresip', { timeout: 300_000 }, () => {
  let dir: string;
  let bob: NodeProcess;
  let api: NodeControl;
  let calls: Map<string, CallView>;
  let carol: Baresip;
  let dave: Baresip;
  let bobHeard: string;
  let callId: string;
  let baselineRss: number;
  const figures: string[] = [];

  before(async () => {
    requireSipp();
    requireBaresip();
    dir = await audioTempDir();
    bobHeard = path.join(dir, 'bob-heard.wav');
    // Tones far longer than the test: baresip hangs up when its source ends.
    const bobTone = await writeTone(path.join(dir, 'bob.wav'), BOB_HZ, 400);
    const carolTone = await writeTone(path.join(dir, 'carol.wav'), CAROL_HZ, 400);
    bob = await startNode({ user: 'bob', args: ['--play', bobTone, '--record', bobHeard, '--rtp-ports', NODE_RTP_PORTS] });
    api = controlOf(bob);
    calls = watchCalls(api);
    carol = await startBaresip({ user: 'carol', answerMode: 'auto', source: carolTone });
    dave = await startBaresip({ user: 'dave', answerMode: 'manual', source: carolTone, contacts: [bob.sipContact!] });
  });

  after(async () => {
    api?.close();
    await carol?.stop();
    await dave?.stop();
    await bob?.stop();
    for (const d of [dir, bob?.dataDir, carol?.dir, dave?.dir]) if (d) await removeDir(d);
    if (figures.length) console.log(figures.join('\n'));
  });

  const status = (): Promise<NodeStatus> => api.invoke('node.status', {});
  const bobCall = async () => (await api.invoke('call.list', {})).find((c) => c.id === callId);

  it('bob calls carol (baresip) and they hear each other', async () => {
    const dialled = await api.invoke('call.dial', { to: carol.uri });
    callId = dialled.id;
    await carol.waitFor('CALL_ESTABLISHED');
    await until('bob hears carol', async () => ((await bobCall())?.quality?.packetsReceived ?? 0) > 2 * PACKETS_PER_S, 15_000, describeCalls(calls));
    // Where bob's memory starts: a node in a call, before any flood.
    baselineRss = (await status()).memory.rssBytes;
    figures.push(`baseline: bob's RSS ${(baselineRss / MB).toFixed(0)} MB`);
  });

  for (const flood of FLOODS) {
    it(`a ${flood.name} flood (${RATE}/s for ${FLOOD_S} s, from ${flood.source}) is refused 503 past its limit; the call keeps its audio, dave's message gets through, memory comes back`, async () => {
      const before = { status: await status(), call: (await bobCall())!, recorded: await recordedBytes(bobHeard), at: Date.now() };
      assert.equal(before.call.state, 'active');
      const sipp = startSipp({
        scenario: flood.scenario,
        remote: `127.0.0.1:${bob.sipPort}`,
        service: 'bob',
        localPort: await freePort(),
        rate: RATE,
        calls: RATE * FLOOD_S,
        timeoutS: 4 * FLOOD_S,
        extraArgs: ['-i', flood.source, '-default_behaviors', 'none'],
      });
      // Another user's message, sent in the middle of the flood.
      await sleep((FLOOD_S * 1000) / 3);
      const text = `dave to bob during the ${flood.name} flood`;
      const sentAt = Date.now();
      const sent = await dave.command('message', text);
      assert.ok(sent.ok, sent.data);
      const stored = await until(`dave's message at bob during the ${flood.name} flood`, async () => (await api.invoke('im.history', { peer: dave.uri, limit: 20 })).find((m) => m.text === text), 10_000);
      const messageMs = Date.now() - sentAt;
      const run = await sipp.done;
      const seconds = (Date.now() - before.at) / 1000;
      assert.equal(stored.direction, 'in');
      assert.equal(run.successful, RATE * FLOOD_S, run.output.slice(-1_500));

      const after = { status: await status(), call: (await bobCall())! };
      const limits = after.status.limits!;
      const refused = limits.refused[flood.limitClass] - before.status.limits!.refused[flood.limitClass];
      const answered = refused - (limits.unanswered - before.status.limits!.unanswered);
      // Past the burst and the rate, the flood was refused (a little slack for requests the kernel
      // dropped before the node read them); 20 refusals a second were answered 503, the rest dropped.
      const allowed = flood.burst + flood.perSecond * Math.ceil(seconds);
      assert.ok(refused >= 0.95 * (RATE * FLOOD_S - allowed), `refused ${refused} of ${RATE * FLOOD_S}`);
      assert.ok(answered >= 20 * FLOOD_S, `answered 503 to ${answered}`);
      assert.ok(limits.sources.some((s) => s.address === flood.source && s.method === flood.limitClass), JSON.stringify(limits.sources));

      // The call: still up, and bob kept hearing carol's tone the whole time.
      assert.equal(after.call.state, 'active');
      const packets = after.call.quality!.packetsReceived - before.call.quality!.packetsReceived;
      const heard = await toneSince(bobHeard, before.recorded, CAROL_HZ, RECORDING_RATE);
      assert.ok(packets >= 0.95 * PACKETS_PER_S * seconds, `bob received ${packets} packets in ${seconds.toFixed(1)} s`);
      assert.ok(heard.seconds >= 0.9 * seconds, `bob recorded ${heard.seconds.toFixed(1)} s in ${seconds.toFixed(1)} s`);
      assert.ok(heard.share >= 0.95, `${(100 * heard.share).toFixed(1)}% of what bob heard was carol's tone (% each second: ${heard.bySecond})`);

      // Memory: sampled until it is back within 100 MB of where it started (bounded).
      let rss = after.status.memory.rssBytes;
      const peak = rss;
      const settleStarted = Date.now();
      await until(`bob's RSS back within 100 MB after the ${flood.name} flood`, async () => (rss = (await status()).memory.rssBytes) - baselineRss < 100 * MB, 60_000, () => `RSS ${(rss / MB).toFixed(0)} MB, baseline ${(baselineRss / MB).toFixed(0)} MB`, 1_000);
      figures.push(
        `${flood.name}: ${run.successful} sent in ${seconds.toFixed(1)} s, refused ${refused} (${answered} answered 503); dave's message in ${messageMs} ms; ` +
          `bob received ${packets} RTP packets (${(packets / seconds).toFixed(1)}/s, loss ${after.call.quality!.lossFraction}, jitter ${after.call.quality!.jitterMs.toFixed(1)} ms), ` +
          `recorded ${heard.seconds.toFixed(1)} s, ${(100 * heard.share).toFixed(1)}% at carol's tone; RSS after ${(peak / MB).toFixed(0)} MB, back to ${(rss / MB).toFixed(0)} MB in ${((Date.now() - settleStarted) / 1000).toFixed(0)} s (baseline ${(baselineRss / MB).toFixed(0)} MB)`,
      );
    });
  }

  it('the INVITE flood\'s calls stop ringing without a gap in the call, which ends cleanly; carol heard bob\'s tone throughout', async () => {
    // The INVITEs that passed the limit rang until bob's ring timeout, then ended one by one as
    // missed calls: all that time the call in progress keeps its audio (each second of what bob heard).
    await until('the flood\'s ringing calls ended', async () => (await api.invoke('call.list', {})).every((c) => c.id === callId || c.state === 'ended'), 90_000, describeCalls(calls), 1_000);
    const whole = await toneSince(bobHeard, 0, CAROL_HZ, RECORDING_RATE);
    const seconds = whole.bySecond.split(' ').map(Number);
    figures.push(`bob recorded ${whole.seconds.toFixed(1)} s of the call, ${(100 * whole.share).toFixed(1)}% at carol's tone, the worst second ${Math.min(...seconds.slice(1))}%`);
    // The first second holds the call's setup.
    assert.ok(seconds.slice(1).every((share) => share >= 80), `% of each second of what bob heard at carol's tone: ${whole.bySecond}`);
    assert.ok(whole.share >= 0.95, `${(100 * whole.share).toFixed(1)}% of what bob heard was carol's tone`);
    const stillUp = await bobCall();
    assert.equal(stillUp?.state, 'active');
    await api.invoke('call.hangup', { id: callId });
    await carol.waitFor('CALL_CLOSED');
    const ended = await until('bob\'s call ended', async () => calls.get(callId)?.state === 'ended' && calls.get(callId), 10_000, describeCalls(calls));
    assert.equal(ended.endReason, 'hangup');
    await carol.stop();
    const recording = readWav(carol.receivedRecording());
    const callSeconds = (ended.endedAt! - ended.answeredAt!) / 1000;
    const recorded = recording.samples.length / recording.sampleRate;
    const frames = framesOf(recording.samples, (recording.sampleRate * 20) / 1000);
    const share = framesAt(frames, BOB_HZ, recording.sampleRate);
    const bySecond = Array.from({ length: Math.ceil(frames.length / 50) }, (_, i) => Math.round(100 * framesAt(frames.slice(50 * i, 50 * i + 50), BOB_HZ, recording.sampleRate))).join(' ');
    figures.push(`carol (baresip) recorded ${recorded.toFixed(1)} s of a ${callSeconds.toFixed(1)} s call, ${(100 * share).toFixed(1)}% at bob's tone (% each second: ${bySecond})`);
    assert.ok(recorded >= 0.95 * callSeconds, `carol recorded ${recorded.toFixed(1)} s of a ${callSeconds.toFixed(1)} s call`);
    // bob's audio out is pulled from his main thread one frame ahead, so a stall there of a few
    // hundred ms (seen once or twice a run under these floods, on 2 shared cores) is a gap carol
    // hears: 93-99.5% of her recording was bob's tone in 7 runs. 90% still says she heard him throughout.
    assert.ok(share >= 0.9, `${(100 * share).toFixed(1)}% of what carol heard was bob's tone (% each second: ${bySecond})`);
  });
});
