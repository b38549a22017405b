// The control API over Electron IPC. Written against the few members of ipcMain and
// WebContents it uses, so it runs under plain Node too (tests pass an in-process stand-in;
// electron/main.ts passes the real ipcMain).
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, IPC_SUBSCRIBE_CHANNEL, ControlError, type CommandName, type ControlEndpoint, type StreamItem } from './api.js';
import { envelope } from './control-api.js';

export interface IpcSenderLike {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}
export interface IpcInvokeEventLike {
  sender: IpcSenderLike;
  senderFrame?: { url: string } | null;
}
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcInvokeEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface IpcControlOptions {
  ipcMain: IpcMainLike;
  endpoint: ControlEndpoint;
  /** The sender check: only our own window's frame may call in. */
  isTrustedSender(event: IpcInvokeEventLike): boolean;
}

/** Binds the handlers; returns a function that unbinds them and ends every subscription. */
export function bindIpcControl({ ipcMain, endpoint, isTrustedSender }: IpcControlOptions): () => void {
  const subscriptions = new Map<number, () => void>();
  const untrusted = () => ({ ok: false as const, error: new ControlError('UNAUTHORIZED', 'This window may not use Peerdial.').toJSON() });

  ipcMain.handle(IPC_INVOKE_CHANNEL, (event, name, params) => {
    if (!isTrustedSender(event)) return untrusted();
    return envelope(() => endpoint.invoke(name as CommandName, params as never));
  });

  // One stream per window; a new subscribe replaces the old one. Events carry the stream id
  // so the preload can drop what the replaced stream still had in flight.
  ipcMain.handle(IPC_SUBSCRIBE_CHANNEL, (event, since, streamId) => {
    if (!isTrustedSender(event)) return untrusted();
    const sender = event.sender;
    subscriptions.get(sender.id)?.();
    subscriptions.delete(sender.id);
    const forward = (item: StreamItem) => {
      if (!sender.isDestroyed()) sender.send(IPC_EVENT_CHANNEL, streamId, item);
    };
    // Answer the subscribe first, then replay: the renderer's listener is in place by then.
    queueMicrotask(() => {
      const stop = endpoint.subscribe(since as { epoch: string; seq: number } | undefined, forward);
      subscriptions.set(sender.id, stop);
      sender.once('destroyed', () => {
        stop();
        subscriptions.delete(sender.id);
      });
    });
    return { ok: true as const, value: null };
  });

  return () => {
    ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
    ipcMain.removeHandler(IPC_SUBSCRIBE_CHANNEL);
    for (const stop of subscriptions.values()) stop();
    subscriptions.clear();
  };
}
