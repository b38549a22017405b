// The preload of the sandboxed window: exposes `window.peerdial` with invoke and subscribe,
// and sendAudio/onAudio for calls, and nothing else (no ipcRenderer, no Node). CommonJS because a sandboxed preload cannot be
// an ES module; the channel names are written here because a sandboxed preload cannot
// require our own files (test/unit/electron/preload-channels.test.ts keeps them equal to
// IPC_*_CHANNEL in native/control/api.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- how a .cts file says require() under verbatimModuleSyntax
import electron = require('electron');
import type { Envelope, PeerdialBridge, StreamItem } from '../native/control/api.js';

const INVOKE_CHANNEL = 'peerdial:invoke';
const SUBSCRIBE_CHANNEL = 'peerdial:subscribe';
const EVENT_CHANNEL = 'peerdial:event';
const AUDIO_IN_CHANNEL = 'peerdial:audio-in';
const AUDIO_OUT_CHANNEL = 'peerdial:audio-out';

const { contextBridge, ipcRenderer } = electron;

// Main keeps one event stream per window; a new subscribe replaces it. Each stream has its
// own id, so a listener never sees the items an earlier stream still had in flight.
let lastStreamId = 0;

const audioListeners = new Set<(frame: ArrayBuffer) => void>();
// The page gets a plain ArrayBuffer whatever form IPC delivered the bytes in.
const forwardAudio = (_event: unknown, data: unknown) => {
  let frame: ArrayBuffer | undefined;
  if (data instanceof ArrayBuffer) frame = data;
  else if (ArrayBuffer.isView(data)) frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
  if (!frame) return;
  for (const listener of audioListeners) listener(frame);
};

const bridge: PeerdialBridge = {
  invoke(name: string, params: unknown): Promise<Envelope<unknown>> {
    return ipcRenderer.invoke(INVOKE_CHANNEL, String(name), params) as Promise<Envelope<unknown>>;
  },
  subscribe(since: { epoch: string; seq: number } | undefined, listener: (item: StreamItem) => void): () => void {
    const streamId = ++lastStreamId;
    // The IPC event object stays here: the page sees only the stream item.
    const forward = (_event: unknown, id: unknown, item: StreamItem) => {
      if (id === streamId) listener(item);
    };
    ipcRenderer.on(EVENT_CHANNEL, forward);
    const cursor = since === undefined ? undefined : { epoch: String(since.epoch), seq: Number(since.seq) };
    ipcRenderer.invoke(SUBSCRIBE_CHANNEL, cursor, streamId).catch(() => undefined);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, forward);
    };
  },
  sendAudio(frame: ArrayBuffer): void {
    if (frame instanceof ArrayBuffer) ipcRenderer.send(AUDIO_IN_CHANNEL, frame);
  },
  onAudio(listener: (frame: ArrayBuffer) => void): () => void {
    if (audioListeners.size === 0) {
      ipcRenderer.on(AUDIO_OUT_CHANNEL, forwardAudio);
      // An empty message makes this window the speaker before it sends any microphone frame.
      ipcRenderer.send(AUDIO_IN_CHANNEL, new ArrayBuffer(0));
    }
    audioListeners.add(listener);
    return () => {
      if (audioListeners.delete(listener) && audioListeners.size === 0) ipcRenderer.removeListener(AUDIO_OUT_CHANNEL, forwardAudio);
    };
  },
};

contextBridge.exposeInMainWorld('peerdial', bridge);
