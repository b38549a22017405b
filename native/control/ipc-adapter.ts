// The control API over Electron IPC. Written against the few members of ipcMain and
// WebContents it uses, so it runs under plain Node too (tests pass an in-process stand-in;
// electron/main.ts passes the real ipcMain).
import {
  IPC_AUDIO_IN_CHANNEL,
  IPC_AUDIO_OUT_CHANNEL,
  IPC_EVENT_CHANNEL,
  IPC_INVOKE_CHANNEL,
  IPC_SUBSCRIBE_CHANNEL,
  ControlError,
  type AudioEndpoint,
  type CommandName,
  type ControlEndpoint,
  type StreamItem,
} from './api.js';
import { bytesOfFrame, frameFromBytes } from './audio-frames.js';
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
  /** For one-way messages (audio); needed only when the binding carries audio. */
  on?(channel: string, listener: (event: IpcInvokeEventLike, ...args: unknown[]) => void): unknown;
  removeListener?(channel: string, listener: (event: IpcInvokeEventLike, ...args: unknown[]) => void): unknown;
}

export interface IpcControlOptions {
  ipcMain: IpcMainLike;
  endpoint: ControlEndpoint;
  /** The sender check: only our own window's frame may call in. */
  isTrustedSender(event: IpcInvokeEventLike): boolean;
  /** The calls' microphone and speaker. Without it, audio messages are not listened to. */
  audio?: AudioEndpoint;
}

/** Counts of audio the binding let go, for diagnostics and tests. */
export interface IpcAudioCounters {
  microphoneFramesDropped: number;
}

/** Binds the handlers; returns a function that unbinds them and ends every subscription. */
export function bindIpcControl({ ipcMain, endpoint, isTrustedSender, audio }: IpcControlOptions, counters?: IpcAudioCounters): () => void {
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

  const unbindAudio = audio ? bindIpcAudio(ipcMain, audio, isTrustedSender, counters ?? { microphoneFramesDropped: 0 }) : () => undefined;

  return () => {
    unbindAudio();
    ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
    ipcMain.removeHandler(IPC_SUBSCRIBE_CHANNEL);
    for (const stop of subscriptions.values()) stop();
    subscriptions.clear();
  };
}

/**
 * Microphone frames come in on IPC_AUDIO_IN_CHANNEL. The window that sent the latest message
 * there is the speaker: it gets the speaker frames on IPC_AUDIO_OUT_CHANNEL. An empty message
 * only attaches the window (what the preload sends when the page starts listening).
 */
function bindIpcAudio(ipcMain: IpcMainLike, audio: AudioEndpoint, isTrustedSender: (event: IpcInvokeEventLike) => boolean, counters: IpcAudioCounters): () => void {
  if (!ipcMain.on || !ipcMain.removeListener) throw new Error('bindIpcControl: audio needs ipcMain.on and ipcMain.removeListener');
  let speaker: { sender: IpcSenderLike; stop: () => void } | undefined;
  const detach = () => {
    speaker?.stop();
    speaker = undefined;
  };
  const attach = (sender: IpcSenderLike) => {
    if (speaker?.sender === sender) return;
    detach();
    const stop = audio.onSpeaker((frame) => {
      if (sender.isDestroyed()) return;
      sender.send(IPC_AUDIO_OUT_CHANNEL, bytesOfFrame(frame));
    });
    speaker = { sender, stop };
    sender.once('destroyed', () => {
      if (speaker?.sender === sender) detach();
    });
  };
  const onAudioIn = (event: IpcInvokeEventLike, data: unknown) => {
    if (!isTrustedSender(event)) return;
    attach(event.sender);
    const empty = (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) && data.byteLength === 0;
    if (empty) return;
    const frame = frameFromBytes(data);
    if (frame) audio.pushMicrophone(frame);
    else counters.microphoneFramesDropped++;
  };
  ipcMain.on(IPC_AUDIO_IN_CHANNEL, onAudioIn);
  return () => {
    ipcMain.removeListener!(IPC_AUDIO_IN_CHANNEL, onAudioIn);
    detach();
  };
}
