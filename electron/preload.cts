// The preload of the sandboxed window: exposes `window.peerdial` with invoke and subscribe,
// and nothing else (no ipcRenderer, no Node). CommonJS because a sandboxed preload cannot be
// an ES module; the channel names are written here because a sandboxed preload cannot
// require our own files (test/unit/electron/preload-channels.test.ts keeps them equal to
// IPC_*_CHANNEL in native/control/api.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- how a .cts file says require() under verbatimModuleSyntax
import electron = require('electron');
import type { Envelope, PeerdialBridge, StreamItem } from '../native/control/api.js';

const INVOKE_CHANNEL = 'peerdial:invoke';
const SUBSCRIBE_CHANNEL = 'peerdial:subscribe';
const EVENT_CHANNEL = 'peerdial:event';

const { contextBridge, ipcRenderer } = electron;

// Main keeps one event stream per window; a new subscribe replaces it. Each stream has its
// own id, so a listener never sees the items an earlier stream still had in flight.
let lastStreamId = 0;

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
};

contextBridge.exposeInMainWorld('peerdial', bridge);
