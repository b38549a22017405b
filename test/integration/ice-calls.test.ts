// ICE between two engines on loopback, seen from outside: the path the call screen shows, and
// media from an address that never passed a connectivity check (someone who learned the port)
// is dropped and counted instead of played to the user.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Engine } from '../../native/roots/node-engine.js';
import { decodeWav } from '../../native/wire/audio/wav.js';
import { encodeG711 } from '../../native/wire/audio/g711.js';
import { serializeRtpPacket } from '../../native/wire/rtp/rtp-packet.js';
import { CallEvents, RECORDING_RATE, tone, toneHz, writeTone } from '../support/calls.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const dirs: string[] = [];
const engines: Engine[] = [];

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await Promise.all(dirs.map(removeDir));
});

describe('ICE in a call between two engines', () => {
  it('shows a direct path, and refuses audio injected from an unchecked address', async () => {
    const dir = await tempDataDir('peerdial-ice-');
    dirs.push(dir);
    const recording = path.join(dir, 'bob-heard.wav');
    const start = async (userName: string, extra: Partial<Parameters<typeof Engine.start>[0]>) => {
      const dataDir = await tempDataDir();
      dirs.push(dataDir);
      const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, ...extra });
      engines.push(engine);
      return engine;
    };
    const alice = await start('alice', { playFile: await writeTone(path.join(dir, 'a440.wav'), 440, 20) });
    const bob = await start('bob', { recordFile: recording, autoAnswer: true });
    const bobCalls = new CallEvents(bob);
    await alice.api.invoke('call.dial', { to: bob.sipContact! });
    await bobCalls.waitFor('the answered call at bob', (v) => v.state === 'active');
    const call = await until('a path with audio at bob', async () => {
      const [view] = await bob.api.invoke('call.list', {});
      return view?.quality?.path && view.quality.packetsReceived > 25 ? view : undefined;
    }, 10_000);
    assert.equal(call.quality!.path!.kind, 'direct');
    assert.equal(call.quality!.path!.text, 'direct');
    assert.match(call.quality!.path!.local, /^host 127\.0\.0\.1:\d+$/);

    // Someone sends loud 2 kHz audio to bob's media port from an address of their own.
    const port = Number(call.quality!.path!.local.split(':')[1]);
    const intruder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => intruder.bind(0, '127.0.0.1', () => resolve()));
    const loud = tone(2000, 2).samples;
    for (let i = 0; i < 100; i++) {
      const payload = encodeG711('mu', loud.subarray(i * 160, (i + 1) * 160));
      const packet = serializeRtpPacket({ payloadType: 0, marker: i === 0, sequenceNumber: i, timestamp: i * 160, ssrc: 0x1234, payload });
      await new Promise<void>((resolve) => intruder.send(packet, port, '127.0.0.1', () => resolve()));
    }
    intruder.close();
    // Counted, and a second more of alice's audio after them: toneHz needs half a second of sound
    // in the last two, which the half second of audio before the injection only just gave.
    const after = await until('the injected packets to be counted, and alice heard on', async () => {
      const [view] = await bob.api.invoke('call.list', {});
      return (view?.quality?.refusedMedia ?? 0) >= 100 && (view?.quality?.packetsReceived ?? 0) >= call.quality!.packetsReceived + 50 ? view : undefined;
    }, 5_000);
    assert.ok(after.quality!.refusedMedia! >= 100);
    // What bob hears is still alice's 440 Hz, not the intruder's 2 kHz.
    const heard = decodeWav(await readFile(recording)).samples;
    const hz = toneHz(heard.subarray(Math.max(0, heard.length - 2 * RECORDING_RATE)));
    assert.ok(hz !== undefined && Math.abs(hz - 440) < 25, `bob hears ${hz} Hz`);
    await bob.api.invoke('call.hangup', { id: call.id });
    await until('alice to see the call end', async () => (await alice.api.invoke('call.list', {})).length === 0, 5_000);
  });
});
