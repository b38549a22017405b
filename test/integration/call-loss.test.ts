// Speech through a lossy path: 10% of the datagrams to the callee's media ports are dropped at
// random, in a namespace of a test LAN. Opus, with its in-band FEC and concealment, must still
// carry the caller's phrase (band-envelope correlation at least OPUS_CARRIES), averaged over two
// lossy calls (which packets a random 10% takes varies). Clean calls and G.711 through the same
// loss are measured beside it and reported. The loss starts once the call carries audio, in the
// silence before the phrase: call setup is not what is measured here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeLan, requireNetnsPrivileges, type LanHost, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';
import { writeFile } from 'node:fs/promises';
import { audioTempDir, bestMatch, describeRecording, makeSpeechWav, readWav, requireAudioTools, type SpokenWav } from '../support/audio-analysis.js';
import { encodeWav } from '../../native/wire/audio/wav.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const LOSS = 0.1;
const RTP_PORTS = '20000-20999';
/** What Opus must keep of the phrase through 10% loss (a clean Opus call correlates ~0.96, G.711 ~0.99). */
const OPUS_CARRIES = 0.9;

const dirs: string[] = [];
const stops: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await Promise.all(dirs.map(removeDir));
});

async function start(host: LanHost, args: string[]): Promise<LanNode> {
  const dir = await tempDataDir('peerdial-loss-');
  dirs.push(dir);
  const node = await startLanNode(host, ['--data-dir', dir, '--no-multicast-register', '--no-mdns', '--rtp-ports', RTP_PORTS, ...args]);
  stops.push(() => node.stop());
  return node;
}

describe('speech through 10% packet loss', () => {
  let lan: NetnsLan;
  let dir: string;
  let speech: SpokenWav;
  /** The phrase after 2 s of silence (the loss starts in it), then silence. */
  let played: string;
  const correlation: Record<string, number> = {};

  before(async () => {
    await requireNetnsPrivileges();
    requireAudioTools();
    dir = await audioTempDir();
    dirs.push(dir);
    speech = makeSpeechWav(dir, 'phrase', 'The quick brown fox jumps over the lazy dog. One, two, three, four, five, six.', { sampleRate: 16_000 });
    const phrase = readWav(speech.speech);
    const samples = new Int16Array(phrase.samples.length + 22 * phrase.sampleRate);
    samples.set(phrase.samples, 2 * phrase.sampleRate);
    played = path.join(dir, 'phrase-late.wav');
    await writeFile(played, encodeWav({ sampleRate: phrase.sampleRate, samples }));
    lan = await makeLan({ hosts: 2 });
    stops.push(() => lan.teardown());
  });

  /** One call from ann to bea on `codec`, bea recording; the correlation of what bea heard with the phrase. */
  async function call(codec: 'opus' | 'PCMU', loss: number): Promise<{ correlation: number; facts: string }> {
    const [callerHost, calleeHost] = lan.hosts;
    let undo: (() => Promise<void>) | undefined;
    const recording = path.join(dir, `heard-${codec}-${loss}-${Date.now()}.wav`);
    const caller = await start(callerHost, ['--user', 'ann', '--play', played, '--codecs', codec]);
    const callee = await start(calleeHost, ['--user', 'bea', '--auto-answer', '--record', recording, '--codecs', codec]);
    try {
      const dialled = await caller.invoke('call.dial', { to: `sip:bea@${calleeHost.address}:5060` });
      const active = await until('the call to carry audio', async () => {
        const [view] = await callee.invoke('call.list', {});
        return view?.state === 'active' && (view.quality?.packetsReceived ?? 0) > 0 ? view : undefined;
      }, 20_000);
      assert.equal(active.quality!.codec, codec);
      if (loss > 0) undo = await lan.loseUdp(calleeHost, RTP_PORTS, loss);
      // The silence, the phrase, the buffering and a second to spare.
      const sent = readWav(speech.speech);
      await new Promise((resolve) => setTimeout(resolve, (sent.samples.length / sent.sampleRate) * 1000 + 3_000));
      const [during] = await callee.invoke('call.list', {});
      await caller.invoke('call.hangup', { id: dialled.id });
      await callee.stop();
      const lost = during.quality!.lossFraction;
      if (loss > 0) assert.ok(lost > loss / 2, `the path lost ${(lost * 100).toFixed(1)}%: the loss was not applied`);
      const heard = readWav(recording);
      const match = bestMatch(sent, heard);
      return { correlation: match.correlation, facts: `${codec}, ${(lost * 100).toFixed(1)}% lost: ${describeRecording(heard, sent)}` };
    } finally {
      await caller.stop();
      await callee.stop();
      await undo?.();
    }
  }

  for (const codec of ['opus', 'PCMU'] as const) {
    it(`${codec}: the callee hears the caller's phrase without loss, and through 10% loss`, async (t) => {
      const clean = await call(codec, 0);
      const lossy = [await call(codec, LOSS), await call(codec, LOSS)];
      correlation[`${codec}-clean`] = clean.correlation;
      correlation[`${codec}-lossy`] = (lossy[0].correlation + lossy[1].correlation) / 2;
      for (const run of [clean, ...lossy]) t.diagnostic(run.facts);
    });
  }

  // The comparison with G.711 is reported, not asserted: on these band envelopes the loss costs
  // each codec 0.02 to 0.05 of correlation, and which one loses more flips from run to run on a
  // loaded machine (it failed a CI run both ways); G.711's clean calls also score higher (0.997
  // against Opus's 0.975) and it scores as high up to 7 kHz (0.995), so no measure here separates
  // them. What is asserted is that Opus carries the phrase through the loss.
  it('opus keeps the phrase through the loss (G.711 through the same loss reported beside it)', (t) => {
    const facts = JSON.stringify(correlation);
    t.diagnostic(`the loss cost opus ${(correlation['opus-clean'] - correlation['opus-lossy']).toFixed(3)} of correlation, G.711 ${(correlation['PCMU-clean'] - correlation['PCMU-lossy']).toFixed(3)}; ${facts}`);
    assert.ok(correlation['opus-lossy'] >= OPUS_CARRIES, `opus correlates ${correlation['opus-lossy']?.toFixed(3)} through ${LOSS * 100}% loss (want ${OPUS_CARRIES}); ${facts}`);
  });
});
