// The calls' media in worker threads: calls spread over the pool, and a main thread that is
// busy (a long sqlite query, an overlay burst) stops none of their audio.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../native/log.js';
import { MediaSession, RepeatedFrameSource } from '../../native/services/calls/media-session.js';
import { MediaWorkerPool } from '../../native/services/calls/media-workers.js';
import type { NegotiatedAudio } from '../../native/wire/sdp/audio-offer-answer.js';

const log = createLogger('media-workers-test', 'silent');
const workers = new MediaWorkerPool({ size: 2 });
const sessions: MediaSession[] = [];
after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await workers.close();
});

async function open(): Promise<MediaSession> {
  const session = await MediaSession.open({ bind: '127.0.0.1', advertisedHost: '127.0.0.1', log, workers });
  sessions.push(session);
  return session;
}

const pcmu = (remotePort: number): NegotiatedAudio => ({ codec: { name: 'PCMU', payloadType: 0 }, telephoneEventPayloadType: 101, remoteAddress: '127.0.0.1', remotePort, direction: 'sendrecv' });
const tone = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 8000)));

describe('media worker threads', () => {
  it('puts-each-new-call-on-the-worker-with-the-fewest-calls', async () => {
    const first = await Promise.all([open(), open(), open()]);
    assert.deepEqual([...workers.load].sort(), [1, 2]);
    const busier = workers.load.indexOf(2);
    // Closing a call on the busier worker makes the two even; the next call may go to either.
    const onBusier = first.filter((_, i) => i % 2 === busier);
    await onBusier[0].close();
    assert.deepEqual(workers.load, [1, 1]);
    await open();
    assert.equal(workers.load.reduce((a, b) => a + b, 0), 3);
    assert.ok(Math.max(...workers.load) === 2 && Math.min(...workers.load) === 1);
  });

  it('keeps-sending-and-receiving-while-the-main-thread-is-busy', async () => {
    const a = await open();
    const b = await open();
    a.setSource(new RepeatedFrameSource([tone]));
    b.setSource(new RepeatedFrameSource([tone]));
    a.configure(pcmu(b.port));
    b.configure(pcmu(a.port));
    for (const until = Date.now() + 5000; b.stats().packetsReceived === 0; await sleep(20)) assert.ok(Date.now() < until, 'no media between the two sessions');
    // Counters live in shared memory: they can be read while this thread never yields.
    const heardBefore = b.stats().packetsReceived;
    const sentBefore = a.stats().packetsSent;
    const deadline = Date.now() + 10_000;
    // Both ends must go on: wait for both (B's first packets heard may have left A before sentBefore was read).
    while ((b.stats().packetsReceived < heardBefore + 25 || a.stats().packetsSent < sentBefore + 25) && Date.now() < deadline) {
      // the main thread busy, as synchronous work on it is
    }
    assert.ok(b.stats().packetsReceived >= heardBefore + 25, `B heard ${b.stats().packetsReceived - heardBefore} packets while the main thread was busy`);
    assert.ok(a.stats().packetsSent >= sentBefore + 25, `A sent ${a.stats().packetsSent - sentBefore} packets while the main thread was busy`);
  });

  it('waits-for-a-main-thread-source-that-answers-late-instead-of-sending-silence', async () => {
    const a = await open();
    const b = await open();
    // Each frame takes the main thread 14 ms to produce: more than the 10 ms it is asked ahead.
    a.setSource({
      read: () => {
        const until = performance.now() + 14;
        while (performance.now() < until) {
          // a slow source
        }
        return tone;
      },
    });
    let loud = 0;
    let silentAfterLoud = 0;
    const heard = new Promise<void>((resolve) => {
      b.setSink({
        write: (frame) => {
          let sum = 0;
          for (const x of frame) sum += x * x;
          if (Math.sqrt(sum / frame.length) > 1000) loud++;
          else if (loud > 0) silentAfterLoud++;
          if (loud + silentAfterLoud >= 100) resolve();
        },
      });
    });
    a.configure(pcmu(b.port));
    b.configure(pcmu(a.port));
    await heard;
    assert.ok(silentAfterLoud <= 3, `${silentAfterLoud} silent frames among ${loud + silentAfterLoud} once the tone began`);
  });
});
