import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import ts from 'typescript';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, IPC_SUBSCRIBE_CHANNEL, type Envelope, type IdentityView, type PeerdialBridge, type StreamItem } from '../../../native/control/api.js';
import { bindIpcControl } from '../../../native/control/ipc-adapter.js';
import { trustedSenderCheck } from '../../../electron/sender-check.js';
import { FakeIpcMain, FakeWebContents, fakeIpcRenderer } from '../../support/fake-electron-ipc.js';
import { REPO_ROOT } from '../../support/node-process.js';
import { startHostedEngine, type HostedEngineFixture } from './hosted-engine.js';

const PRELOAD_SOURCE = readFileSync(path.join(REPO_ROOT, 'electron/preload.cts'), 'utf8');
const RENDERER_DIR = path.join(REPO_ROOT, 'dist/renderer');
const OUR_PAGE = pathToFileURL(path.join(RENDERER_DIR, 'index.html')).href;

/**
 * Runs the preload the way Electron runs a sandboxed one: as CommonJS inside a function whose
 * only `require` knows a few built-in modules, none of our files.
 */
/** A window (webContents) showing `frameUrl`, with our IPC binding in main, and the preload's bridge. */
function openWindow(f: HostedEngineFixture, frameUrl: string) {
  const ipcMain = new FakeIpcMain();
  const contents = new FakeWebContents();
  const unbind = bindIpcControl({
    ipcMain,
    endpoint: f.client,
    isTrustedSender: trustedSenderCheck({ windowContentsId: () => contents.id, rendererDir: RENDERER_DIR }),
  });
  const bridge = runPreloadInSandbox(fakeIpcRenderer(ipcMain, contents, frameUrl)).exposed.get('peerdial') as PeerdialBridge;
  return { bridge, contents, unbind };
}

function runPreloadInSandbox(ipcRenderer: ReturnType<typeof fakeIpcRenderer>) {
  const exposed = new Map<string, unknown>();
  const required: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) },
    ipcRenderer,
  };
  const sandboxRequire = (id: string) => {
    required.push(id);
    if (id === 'electron' || id === 'electron/renderer') return electron;
    throw new Error(`module not found: ${id}`);
  };
  const { outputText } = ts.transpileModule(PRELOAD_SOURCE, {
    fileName: 'preload.cts',
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  });
  const exports = {};
  vm.compileFunction(outputText, ['require', 'process', 'exports', 'module', 'Buffer', 'global'])(
    sandboxRequire,
    {},
    exports,
    { exports },
    undefined,
    {},
  );
  return { exposed, required };
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
  });

  it('runs in a sandboxed renderer and exposes only invoke and subscribe', () => {
    const { exposed, required } = runPreloadInSandbox(fakeIpcRenderer(new FakeIpcMain(), new FakeWebContents(), OUR_PAGE));
    assert.deepEqual([...exposed.keys()], ['peerdial']);
    assert.deepEqual(Object.keys(exposed.get('peerdial') as object).sort(), ['invoke', 'subscribe']);
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
