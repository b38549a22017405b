// An in-process stand-in for Electron's ipcMain / ipcRenderer / webContents, faithful in the
// ways the adapter depends on: arguments and results are structured-cloned, events arrive
// asynchronously, and each call carries its sender and frame URL.
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, IPC_SUBSCRIBE_CHANNEL, type Envelope, type PeerdialBridge, type StreamItem } from '../../native/control/api.js';
import type { IpcInvokeEventLike, IpcMainLike, IpcSenderLike } from '../../native/control/ipc-adapter.js';

type Handler = (event: IpcInvokeEventLike, ...args: unknown[]) => unknown;

export class FakeIpcMain implements IpcMainLike {
  private readonly handlers = new Map<string, Handler>();
  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  async invoke(sender: FakeWebContents, frameUrl: string, channel: string, args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    const result = await handler({ sender, senderFrame: { url: frameUrl } }, ...structuredClone(args));
    return structuredClone(result);
  }
}

let nextId = 1;
export class FakeWebContents implements IpcSenderLike {
  readonly id = nextId++;
  private destroyed = false;
  private readonly destroyedListeners: Array<() => void> = [];
  readonly rendererListeners = new Map<string, Set<(event: unknown, ...args: unknown[]) => void>>();

  send(channel: string, ...args: unknown[]): void {
    const copy = structuredClone(args);
    setImmediate(() => this.rendererListeners.get(channel)?.forEach((l) => l({}, ...copy)));
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  once(_event: 'destroyed', listener: () => void): this {
    this.destroyedListeners.push(listener);
    return this;
  }
  destroy(): void {
    this.destroyed = true;
    this.destroyedListeners.splice(0).forEach((l) => l());
  }
}

/** What a renderer's ipcRenderer does for one window. */
export function fakeIpcRenderer(ipcMain: FakeIpcMain, contents: FakeWebContents, frameUrl: string) {
  return {
    invoke: (channel: string, ...args: unknown[]) => ipcMain.invoke(contents, frameUrl, channel, args),
    on(channel: string, listener: (event: unknown, ...args: unknown[]) => void) {
      if (!contents.rendererListeners.has(channel)) contents.rendererListeners.set(channel, new Set());
      contents.rendererListeners.get(channel)!.add(listener);
    },
    removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void) {
      contents.rendererListeners.get(channel)?.delete(listener);
    },
  };
}

let nextStream = 1;

/** The bridge electron/preload.cts exposes, built on a (fake) ipcRenderer. */
export function bridgeOver(ipcRenderer: ReturnType<typeof fakeIpcRenderer>): PeerdialBridge {
  return {
    invoke: (name, params) => ipcRenderer.invoke(IPC_INVOKE_CHANNEL, name, params) as Promise<Envelope<unknown>>,
    subscribe(since, listener) {
      const streamId = nextStream++;
      const forward = (_event: unknown, id: unknown, item: unknown) => {
        if (id === streamId) listener(item as StreamItem);
      };
      ipcRenderer.on(IPC_EVENT_CHANNEL, forward);
      void ipcRenderer.invoke(IPC_SUBSCRIBE_CHANNEL, since, streamId);
      return () => ipcRenderer.removeListener(IPC_EVENT_CHANNEL, forward);
    },
    // The contract suite drives commands and events only; audio over IPC is tested with the
    // real preload in test/unit/electron/preload-sandbox.ts.
    sendAudio() {
      throw new Error('bridgeOver carries no audio: use test/unit/electron/preload-sandbox.ts');
    },
    onAudio() {
      throw new Error('bridgeOver carries no audio: use test/unit/electron/preload-sandbox.ts');
    },
  };
}
