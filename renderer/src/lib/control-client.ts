// The renderer's one way to talk to the engine: the preload bridge in the desktop app,
// a WebSocket in browser mode. Both speak the same control API (native/control/api.ts).
import type {
  CommandName,
  ControlEndpoint,
  ControlErrorShape,
  Envelope,
  ErrorCode,
  ParamsOf,
  PeerdialBridge,
  ResultOf,
  StreamItem,
  WsClientFrame,
  WsServerFrame,
} from '../../../native/control/api.js';
import { FRAME_BYTES } from './audio/frame-format.js';

export class ControlClientError extends Error implements ControlErrorShape {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlClientError';
  }
}

/** Call audio to and from the engine, as the preload bridge carries it: 20 ms frames of 16-bit PCM at 48 kHz. */
export type AudioChannel = Pick<PeerdialBridge, 'sendAudio' | 'onAudio'>;

function unwrap<T>(envelope: Envelope<T>): T {
  if (envelope.ok) return envelope.value;
  throw new ControlClientError(envelope.error.code, envelope.error.message);
}

/** Over Electron IPC, through what the preload exposed. */
export function bridgeClient(bridge: PeerdialBridge): ControlEndpoint & AudioChannel {
  return {
    async invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>> {
      return unwrap((await bridge.invoke(name, params)) as Envelope<ResultOf<N>>);
    },
    subscribe(since, listener) {
      return bridge.subscribe(since, listener);
    },
    sendAudio(frame) {
      bridge.sendAudio(frame);
    },
    onAudio(listener) {
      return bridge.onAudio(listener);
    },
  };
}

/** About 200 ms of microphone frames waiting in the socket: beyond that, fresh audio matters more. */
const AUDIO_BACKLOG_BYTES = 10 * FRAME_BYTES;

type WebSocketLike = {
  readyState: number;
  binaryType: string;
  bufferedAmount: number;
  send(data: string | ArrayBuffer): void;
  close(): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: { data?: unknown }) => void): void;
};
export type WebSocketFactory = (url: string) => WebSocketLike;

/**
 * Over a WebSocket to the headless node. Reconnects with backoff after a drop and resumes
 * the event stream from the last event seen, so nothing is missed across a reconnect.
 */
export function webSocketClient(url: string, factory: WebSocketFactory = (u) => new WebSocket(u) as unknown as WebSocketLike): ControlEndpoint & AudioChannel & { close(): void; onConnection(listener: (up: boolean) => void): void } {
  let ws: WebSocketLike | undefined;
  let nextId = 1;
  let closed = false;
  let backoff = 250;
  let last: { epoch: string; seq: number } | undefined;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; frame: WsClientFrame; sent: boolean }>();
  const listeners = new Set<(item: StreamItem) => void>();
  const audioListeners = new Set<(frame: ArrayBuffer) => void>();
  const connectionListeners = new Set<(up: boolean) => void>();
  const connect = () => {
    {
      const socket = factory(url);
      const flush = () => {
        for (const p of pending.values()) {
          if (p.sent) continue;
          p.sent = true;
          socket.send(JSON.stringify(p.frame));
        }
      };
      ws = socket;
      // Binary frames are audio; as ArrayBuffers they reach the worklet without another copy.
      socket.binaryType = 'arraybuffer';
      socket.addEventListener('open', () => {
        backoff = 250;
        connectionListeners.forEach((l) => l(true));
        if (listeners.size) socket.send(JSON.stringify({ kind: 'subscribe', since: last } satisfies WsClientFrame));
        if (audioListeners.size) socket.send(JSON.stringify({ kind: 'audio', speaker: true } satisfies WsClientFrame));
        flush();
      });
      socket.addEventListener('message', (event) => {
        if (event.data instanceof ArrayBuffer) {
          const frame = event.data;
          audioListeners.forEach((l) => l(frame));
          return;
        }
        const frame = JSON.parse(String(event.data)) as WsServerFrame;
        if (frame.kind === 'result') {
          const p = pending.get(frame.id);
          if (!p) return;
          pending.delete(frame.id);
          try {
            p.resolve(unwrap(frame.envelope));
          } catch (error) {
            p.reject(error as Error);
          }
        } else if (frame.kind === 'event') {
          const item = frame.item;
          // A resubscription replays from `since` while events of the earlier stream may still be
          // in flight: each event reaches the listeners once, in order.
          if (item.type !== 'reset' && last && item.epoch === last.epoch && item.seq <= last.seq) return;
          last = { epoch: item.epoch, seq: item.seq };
          listeners.forEach((l) => l(item));
        }
      });
      socket.addEventListener('close', () => {
        connectionListeners.forEach((l) => l(false));
        // A command already sent may or may not have run: never send it twice; unsent ones wait.
        for (const [id, p] of pending) {
          if (!p.sent && !closed) continue;
          pending.delete(id);
          p.reject(new ControlClientError('UNAVAILABLE', 'The connection to Peerdial was lost.'));
        }
        if (closed) return;
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 5_000);
      });
      socket.addEventListener('error', () => undefined);
    }
  };
  connect();

  return {
    async invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>> {
      if (closed) throw new ControlClientError('UNAVAILABLE', 'The connection to Peerdial is closed.');
      const id = nextId++;
      const frame: WsClientFrame = { kind: 'invoke', id, name, params };
      const entry = { resolve: (_: unknown) => {}, reject: (_: Error) => {}, frame, sent: false };
      const result = new Promise<unknown>((resolve, reject) => Object.assign(entry, { resolve, reject }));
      pending.set(id, entry);
      // When not open yet, the 'open' handler sends every unsent frame.
      if (ws?.readyState === 1) {
        entry.sent = true;
        ws.send(JSON.stringify(frame));
      }
      return result as Promise<ResultOf<N>>;
    },
    subscribe(since, listener) {
      // One stream per connection: a new subscription restarts it from `since` (a reset when undefined).
      last = since;
      listeners.add(listener);
      if (ws?.readyState === 1) ws.send(JSON.stringify({ kind: 'subscribe', since: last } satisfies WsClientFrame));
      return () => listeners.delete(listener);
    },
    sendAudio(frame) {
      // Audio is live: a frame that cannot go now (closed, or the socket is backed up) is dropped, never queued.
      if (ws?.readyState === 1 && ws.bufferedAmount < AUDIO_BACKLOG_BYTES) ws.send(frame);
    },
    onAudio(listener) {
      const first = audioListeners.size === 0;
      audioListeners.add(listener);
      if (first && ws?.readyState === 1) ws.send(JSON.stringify({ kind: 'audio', speaker: true } satisfies WsClientFrame));
      return () => {
        if (!audioListeners.delete(listener) || audioListeners.size > 0) return;
        if (ws?.readyState === 1) ws.send(JSON.stringify({ kind: 'audio', speaker: false } satisfies WsClientFrame));
      };
    },
    onConnection(listener) {
      connectionListeners.add(listener);
    },
    close() {
      closed = true;
      ws?.close();
    },
  };
}

/** The client for this page: the bridge when the preload put one there, else the WebSocket. */
export function connectControl(): ControlEndpoint & AudioChannel & { close?(): void; onConnection?(listener: (up: boolean) => void): void } {
  const bridge = (globalThis as { peerdial?: PeerdialBridge }).peerdial;
  if (bridge) return bridgeClient(bridge);
  // Typed structurally so this module also type-checks under Node (the contract tests import it).
  const { location, sessionStorage } = globalThis as unknown as {
    location: { search: string; host: string; protocol: string };
    sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  };
  const token = new URLSearchParams(location.search).get('token') ?? sessionStorage.getItem('peerdial-token') ?? '';
  if (token) sessionStorage.setItem('peerdial-token', token);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return webSocketClient(`${scheme}://${location.host}/control?token=${encodeURIComponent(token)}`);
}
