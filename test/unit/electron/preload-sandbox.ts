// Test helpers: the real electron/preload.cts run the way Electron runs a sandboxed preload, over
// the in-process IPC stand-in, with the one-way messages (ipcRenderer.send / ipcMain.on) that
// call audio uses added to it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import ts from 'typescript';
import type { PeerdialBridge } from '../../../native/control/api.js';
import type { IpcInvokeEventLike } from '../../../native/control/ipc-adapter.js';
import { FakeIpcMain, FakeWebContents, fakeIpcRenderer } from '../../support/fake-electron-ipc.js';
import { REPO_ROOT } from '../../support/node-process.js';

export const PRELOAD_SOURCE = readFileSync(path.join(REPO_ROOT, 'electron/preload.cts'), 'utf8');

type MessageListener = (event: IpcInvokeEventLike, ...args: unknown[]) => void;

/** ipcMain with `on`: messages arrive asynchronously, structured-cloned, with their sender and frame URL. */
export class MessagingIpcMain extends FakeIpcMain {
  private readonly messageListeners = new Map<string, Set<MessageListener>>();
  on(channel: string, listener: MessageListener): this {
    if (!this.messageListeners.has(channel)) this.messageListeners.set(channel, new Set());
    this.messageListeners.get(channel)!.add(listener);
    return this;
  }
  removeListener(channel: string, listener: MessageListener): this {
    this.messageListeners.get(channel)?.delete(listener);
    return this;
  }
  deliver(sender: FakeWebContents, frameUrl: string, channel: string, args: unknown[]): void {
    const copy = structuredClone(args);
    setImmediate(() => this.messageListeners.get(channel)?.forEach((l) => l({ sender, senderFrame: { url: frameUrl } }, ...copy)));
  }
}

export type IpcRendererStandIn = ReturnType<typeof fakeIpcRenderer> & { send(channel: string, ...args: unknown[]): void };

export function messagingIpcRenderer(ipcMain: MessagingIpcMain, contents: FakeWebContents, frameUrl: string): IpcRendererStandIn {
  return { ...fakeIpcRenderer(ipcMain, contents, frameUrl), send: (channel, ...args) => ipcMain.deliver(contents, frameUrl, channel, args) };
}

/** Runs the preload as CommonJS inside a function whose only `require` knows 'electron'. */
export function runPreloadInSandbox(ipcRenderer: ReturnType<typeof fakeIpcRenderer> | IpcRendererStandIn) {
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
  return { exposed, required, bridge: exposed.get('peerdial') as PeerdialBridge };
}
