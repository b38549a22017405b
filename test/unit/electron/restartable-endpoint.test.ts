import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StreamItem } from '../../../native/control/api.js';
import { RestartableEndpoint } from '../../../electron/restartable-endpoint.js';
import type { HostedEngine } from '../../../electron/engine-channel.js';
import type { UserAudio } from '../../../native/services/calls/call-audio.js';
import { startHostedEngine, startRealEngine, type HostedEngineFixture } from './hosted-engine.js';

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the endpoint the window uses across engine restarts', () => {
  const fixtures: HostedEngineFixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.cleanup();
  });

  it('refuses commands with UNAVAILABLE while no engine is attached', async () => {
    const endpoint = new RestartableEndpoint();
    await assert.rejects(endpoint.invoke('node.status', {}), { code: 'UNAVAILABLE' });
  });

  it('keeps a subscription across a restart and tells the window to reload', async () => {
    const endpoint = new RestartableEndpoint();
    const items: StreamItem[] = [];
    endpoint.subscribe(undefined, (item) => items.push(item));

    const first = await startHostedEngine();
    fixtures.push(first);
    endpoint.attach(first.client);
    await until(() => items.some((i) => i.type === 'reset'));
    await endpoint.invoke('identity.create', { displayName: 'Eve', userName: 'eve' });
    await until(() => items.some((i) => i.type === 'identity.created'));
    const firstEpoch = items[0].epoch;

    // The engine process dies; a new one (new epoch) takes its place.
    endpoint.detach();
    await first.client.stop(2_000);
    await assert.rejects(endpoint.invoke('node.status', {}), { code: 'UNAVAILABLE' });
    const second = await startHostedEngine();
    fixtures.push(second);
    const before = items.length;
    endpoint.attach(second.client);
    await until(() => items.length > before);
    const reset = items[before];
    assert.equal(reset.type, 'reset');
    assert.notEqual(reset.epoch, firstEpoch);
    assert.equal((await endpoint.invoke('node.status', {})).sipPort, second.sipPort);
  });

  it('keeps the window as the speaker across a restart, and sends the microphone to the new engine', async () => {
    const endpoint = new RestartableEndpoint();
    const heard: number[] = [];
    endpoint.onSpeaker((frame) => heard.push(frame[0]));
    const frame = (value: number) => new Int16Array(960).fill(value);
    // Nothing runs: a microphone frame has nowhere to go and is dropped.
    endpoint.pushMicrophone(frame(1));

    const engines: HostedEngine[] = [];
    const start = async () => {
      const f = await startHostedEngine(async (dataDir, sipPort) => {
        const engine = await startRealEngine(dataDir, sipPort);
        engines.push(engine);
        return engine;
      });
      fixtures.push(f);
      await f.client.ready;
      return { f, audio: engines.at(-1)!.audio as UserAudio };
    };
    const play = async (audio: UserAudio, value: number) =>
      until(() => {
        audio.speakerSink().write(frame(value), 48000);
        return heard.includes(value);
      });

    const first = await start();
    endpoint.attach(first.f.client);
    await play(first.audio, 7);
    endpoint.pushMicrophone(frame(2));
    await until(() => first.audio.microphone.length === 1);
    assert.equal(first.audio.microphone.read(48000)![0], 2);

    endpoint.detach();
    await first.f.client.stop(2_000);
    const second = await start();
    endpoint.attach(second.f.client);
    await play(second.audio, 9);
    endpoint.pushMicrophone(frame(3));
    await until(() => second.audio.microphone.length === 1);
    assert.equal(second.audio.microphone.read(48000)![0], 3);
  });
});
