import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  IPC_AUDIO_IN_CHANNEL,
  IPC_AUDIO_OUT_CHANNEL,
  IPC_EVENT_CHANNEL,
  IPC_INVOKE_CHANNEL,
  IPC_SUBSCRIBE_CHANNEL,
  type Envelope,
  type IdentityView,
  type StreamItem,
} from '../../../native/control/api.js';
import { bindIpcControl } from '../../../native/control/ipc-adapter.js';
import { trustedSenderCheck } from '../../../electron/sender-check.js';
import { FakeIpcMain, FakeWebContents, fakeIpcRenderer } from '../../support/fake-electron-ipc.js';
import { REPO_ROOT } from '../../support/node-process.js';
import type { UserAudio } from '../../../native/services/calls/call-audio.js';
import type { HostedEngine } from '../../../electron/engine-channel.js';
import { startHostedEngine, startRealEngine, type HostedEngineFixture } from './hosted-engine.js';
import { MessagingIpcMain, messagingIpcRenderer, PRELOAD_SOURCE, runPreloadInSandbox } from './preload-sandbox.js';
const RENDERER_DIR = path.join(REPO_ROOT, 'dist/renderer');
const OUR_PAGE = pathToFileURL(path.join(RENDERER_DIR, 'index.html')).href;

/** A window (webContents) showing `frameUrl`, with our IPC binding in main, and the preload's bridge. */
function openWindow(f: HostedEngineFixture, frameUrl: string) {
  const ipcMain = new MessagingIpcMain();
  const contents = new FakeWebContents();
  const unbind = bindIpcControl({
    ipcMain,
    endpoint: f.client,
    audio: f.client,
    isTrustedSender: trustedSenderCheck({ windowContentsId: () => contents.id, rendererDir: RENDERER_DIR }),
  });
  const { bridge } = runPreloadInSandbox(messagingIpcRenderer(ipcMain, contents, frameUrl));
  return { bridge, contents, unbind };
}

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('preload', () => {
  const fixtures: HostedEngineFixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.cleanup();
  });

  it('writes the same IPC channel names as native/control/api.ts', () => {
    const inline = (name: string) => new RegExp(`const ${name} = '([^']+)';`).exec(PRELOAD_SOURCE)?.[1];
    assert.equal(inline('INVOKE_CHANNEL'), IPC_INVOKE_CHANNEL);
    assert.equal(inline('SUBSCRIBE_CHANNEL'), IPC_SUBSCRIBE_CHANNEL);
    assert.equal(inline('EVENT_CHANNEL'), IPC_EVENT_CHANNEL);
    assert.equal(inline('AUDIO_IN_CHANNEL'), IPC_AUDIO_IN_CHANNEL);
    assert.equal(inline('AUDIO_OUT_CHANNEL'), IPC_AUDIO_OUT_CHANNEL);
  });

  it('runs in a sandboxed renderer and exposes only invoke, subscribe and the call audio pair', () => {
    const { exposed, required } = runPreloadInSandbox(fakeIpcRenderer(new FakeIpcMain(), new FakeWebContents(), OUR_PAGE));
    assert.deepEqual([...exposed.keys()], ['peerdial']);
    assert.deepEqual(Object.keys(exposed.get('peerdial') as object).sort(), ['invoke', 'onAudio', 'sendAudio', 'subscribe']);
    assert.deepEqual(required, ['electron']);
  });

  it('lets our page use the engine: commands answered, events streamed', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    const { bridge, unbind } = openWindow(f, OUR_PAGE);

    const items: StreamItem[] = [];
    const stop = bridge.subscribe(undefined, (item) => items.push(item));
    await until(() => items.some((i) => i.type === 'reset'));

    const created = (await bridge.invoke('identity.create', { displayName: 'Frank', userName: 'frank' })) as Envelope<IdentityView>;
    assert.equal(created.ok, true);
    assert.equal(created.ok && created.value.userName, 'frank');
    await until(() => items.some((i) => i.type === 'identity.created'));

    const refused = (await bridge.invoke('identity.create', { displayName: 'Frank', userName: 'frank' })) as Envelope<IdentityView>;
    assert.deepEqual(refused.ok ? undefined : refused.error.code, 'IDENTITY_EXISTS');

    stop();
    const seen = items.length;
    await bridge.invoke('im.conversations', {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(items.length, seen);
    unbind();
  });

  it('gives a replay to the new subscriber only, never twice to the old one', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    const { bridge, unbind } = openWindow(f, OUR_PAGE);
    const first: StreamItem[] = [];
    const stopFirst = bridge.subscribe(undefined, (item) => first.push(item));
    await until(() => first.some((i) => i.type === 'reset'));
    await bridge.invoke('identity.create', { displayName: 'Gina', userName: 'gina' });
    await until(() => first.some((i) => i.type === 'identity.created'));
    const created = first.find((i) => i.type === 'identity.created')!;

    // The page resubscribes from just before identity.created (as after a reload of its state).
    const second: StreamItem[] = [];
    bridge.subscribe({ epoch: created.epoch, seq: created.seq - 1 }, (item) => second.push(item));
    await until(() => second.length > 0);
    assert.equal(second[0].type, 'identity.created');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(first.filter((i) => i.type === 'identity.created').length, 1);
    stopFirst();
    unbind();
  });

  it("carries call audio between our page and the engine process, both ways, sample for sample", async () => {
    let hosted: HostedEngine | undefined;
    const f = await startHostedEngine(async (dataDir, sipPort) => (hosted = await startRealEngine(dataDir, sipPort)));
    fixtures.push(f);
    await f.client.ready;
    const engineAudio = hosted!.audio as UserAudio;
    const { bridge, unbind } = openWindow(f, OUR_PAGE);

    const heard: Int16Array[] = [];
    const stop = bridge.onAudio((frame) => heard.push(new Int16Array(frame)));
    const tone = Int16Array.from({ length: 960 }, (_, i) => Math.round(8000 * Math.sin(i / 3)));
    // The page attached itself as the speaker with its first onAudio; give that a moment to cross.
    await new Promise((resolve) => setTimeout(resolve, 50));
    engineAudio.speakerSink().write(tone, 48000);
    await until(() => heard.length === 1);
    assert.deepEqual([...heard[0]], [...tone]);

    const spoken = Int16Array.from({ length: 960 }, (_, i) => i * 100 - 8000);
    bridge.sendAudio(spoken.slice().buffer);
    bridge.sendAudio(new ArrayBuffer(100)); // not a frame: dropped on the way
    await until(() => engineAudio.microphone.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(engineAudio.microphone.length, 1);
    assert.deepEqual([...engineAudio.microphone.read(48000)!], [...spoken]);

    stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    engineAudio.speakerSink().write(tone, 48000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(heard.length, 1, 'no speaker frames after the page stopped listening');
    unbind();
  });

  it('refuses a page that is not ours, and sends it no events', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    const { bridge, unbind } = openWindow(f, 'https://evil.example/');
    const items: StreamItem[] = [];
    bridge.subscribe(undefined, (item) => items.push(item));
    const answer = await bridge.invoke('identity.get', {});
    assert.equal(answer.ok, false);
    assert.equal(!answer.ok && answer.error.code, 'UNAUTHORIZED');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(items, []);
    unbind();
  });
});
