// The message protocol between the Electron main process and the engine's utilityProcess.
// It sees only a port (postMessage plus a message listener), never Electron, so tests drive
// both ends over a node:worker_threads MessageChannel with a real engine behind it.
import {
  ControlError,
  type AudioEndpoint,
  type CommandName,
  type ControlEndpoint,
  type ControlErrorShape,
  type Envelope,
  type ParamsOf,
  type ResultOf,
  type StreamItem,
} from '../native/control/api.js';
import { bytesOfFrame, frameFromBytes } from '../native/control/audio-frames.js';
import { envelope, toControlError } from '../native/control/control-api.js';

export type EventCursor = { epoch: string; seq: number };

/** Frames the main process sends to the engine process. */
export type MainToEngine =
  | { kind: 'invoke'; id: number; name: string; params: unknown }
  | { kind: 'subscribe'; subscription: number; since?: EventCursor }
  | { kind: 'unsubscribe'; subscription: number }
  /** One microphone frame (AUDIO_FRAME_BYTES). */
  | { kind: 'microphone'; frame: ArrayBuffer }
  /** Start or stop sending speaker frames. */
  | { kind: 'speaker'; on: boolean }
  | { kind: 'stop' };

/** Frames the engine process sends to the main process. */
export type EngineToMain =
  | { kind: 'ready' }
  | { kind: 'start-failed'; error: ControlErrorShape }
  | { kind: 'result'; id: number; envelope: Envelope<unknown> }
  | { kind: 'event'; subscription: number; item: StreamItem }
  | { kind: 'speaker-frame'; frame: ArrayBuffer }
  | { kind: 'stopped' };

/** What both ends need of a port: Electron's UtilityProcess and parentPort fit through a small wrapper. */
export interface ChannelPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface HostedEngine {
  endpoint: ControlEndpoint;
  /** The calls' microphone and speaker. */
  audio?: AudioEndpoint;
  stop(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
/** Audio crosses the process boundary as an ArrayBuffer (structured clone may hand over a view). */
const isBytes = (v: unknown): v is ArrayBuffer | ArrayBufferView => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const isCursor = (v: unknown): v is EventCursor => isObject(v) && typeof v.epoch === 'string' && typeof v.seq === 'number';

export function parseMainToEngine(raw: unknown): MainToEngine | undefined {
  if (!isObject(raw)) return undefined;
  switch (raw.kind) {
    case 'invoke':
      return isId(raw.id) && typeof raw.name === 'string' ? { kind: 'invoke', id: raw.id, name: raw.name, params: raw.params } : undefined;
    case 'subscribe':
      if (!isId(raw.subscription)) return undefined;
      if (raw.since !== undefined && !isCursor(raw.since)) return undefined;
      return { kind: 'subscribe', subscription: raw.subscription, since: raw.since };
    case 'unsubscribe':
      return isId(raw.subscription) ? { kind: 'unsubscribe', subscription: raw.subscription } : undefined;
    case 'microphone':
      return isBytes(raw.frame) ? { kind: 'microphone', frame: raw.frame as ArrayBuffer } : undefined;
    case 'speaker':
      return typeof raw.on === 'boolean' ? { kind: 'speaker', on: raw.on } : undefined;
    case 'stop':
      return { kind: 'stop' };
    default:
      return undefined;
  }
}

export function parseEngineToMain(raw: unknown): EngineToMain | undefined {
  if (!isObject(raw)) return undefined;
  switch (raw.kind) {
    case 'ready':
    case 'stopped':
      return { kind: raw.kind };
    case 'start-failed':
      return isObject(raw.error) ? { kind: 'start-failed', error: raw.error as unknown as ControlErrorShape } : undefined;
    case 'result':
      return isId(raw.id) && isObject(raw.envelope) && typeof raw.envelope.ok === 'boolean'
        ? { kind: 'result', id: raw.id, envelope: raw.envelope as Envelope<unknown> }
        : undefined;
    case 'event':
      return isId(raw.subscription) && isObject(raw.item) ? { kind: 'event', subscription: raw.subscription, item: raw.item as StreamItem } : undefined;
    case 'speaker-frame':
      return isBytes(raw.frame) ? { kind: 'speaker-frame', frame: raw.frame as ArrayBuffer } : undefined;
    default:
      return undefined;
  }
}

/**
 * The engine process's side: starts the engine, answers commands, streams events, and
 * stops the engine when asked. Commands that arrive while the engine is starting wait for it.
 */
export function hostEngine(port: ChannelPort, start: () => Promise<HostedEngine>, onStopped: () => void): void {
  const send = (frame: EngineToMain) => port.postMessage(frame);
  const starting = start();
  starting.then(
    () => send({ kind: 'ready' }),
    (error: unknown) => send({ kind: 'start-failed', error: toControlError(error).toJSON() }),
  );
  const running = async (): Promise<HostedEngine> => {
    if (stopping) throw new ControlError('UNAVAILABLE', 'Peerdial is shutting down.');
    try {
      return await starting;
    } catch (error) {
      throw new ControlError('UNAVAILABLE', `The Peerdial engine did not start: ${toControlError(error).message}`);
    }
  };

  const wanted = new Set<number>();
  const active = new Map<number, () => void>();
  let stopping: Promise<void> | undefined;
  // Audio goes only to a running engine: a frame that arrives before it started is stale by then.
  let started: HostedEngine | undefined;
  let speakerWanted = false;
  let stopSpeaker: (() => void) | undefined;
  const followSpeaker = () => {
    stopSpeaker?.();
    stopSpeaker = undefined;
    if (speakerWanted && started && !stopping) stopSpeaker = started.audio?.onSpeaker((frame) => send({ kind: 'speaker-frame', frame: bytesOfFrame(frame) }));
  };
  starting.then(
    (engine) => {
      started = engine;
      followSpeaker();
    },
    () => undefined,
  );

  const onMessage = (raw: unknown) => {
    const frame = parseMainToEngine(raw);
    if (!frame) return;
    switch (frame.kind) {
      case 'invoke':
        void envelope(async () => (await running()).endpoint.invoke(frame.name as CommandName, frame.params as never)).then((result) =>
          send({ kind: 'result', id: frame.id, envelope: result }),
        );
        return;
      case 'subscribe':
        wanted.add(frame.subscription);
        running().then(
          (engine) => {
            // Unsubscribed (or stopping) while the engine was still starting.
            if (!wanted.has(frame.subscription) || stopping) return;
            active.get(frame.subscription)?.();
            active.set(
              frame.subscription,
              engine.endpoint.subscribe(frame.since, (item) => send({ kind: 'event', subscription: frame.subscription, item })),
            );
          },
          () => undefined,
        );
        return;
      case 'unsubscribe':
        wanted.delete(frame.subscription);
        active.get(frame.subscription)?.();
        active.delete(frame.subscription);
        return;
      case 'microphone': {
        const samples = frameFromBytes(frame.frame);
        if (samples && !stopping) started?.audio?.pushMicrophone(samples);
        return;
      }
      case 'speaker':
        speakerWanted = frame.on;
        followSpeaker();
        return;
      case 'stop':
        stopping ??= (async () => {
          stopSpeaker?.();
          stopSpeaker = undefined;
          for (const stop of active.values()) stop();
          active.clear();
          wanted.clear();
          const engine = await starting.catch(() => undefined);
          await engine?.stop().catch(() => undefined);
        })().then(() => {
          send({ kind: 'stopped' });
          port.off('message', onMessage);
          onStopped();
        });
        return;
    }
  };
  port.on('message', onMessage);
}

/**
 * The main process's side: a ControlEndpoint whose every call crosses to the engine process.
 * Errors keep their stable codes; when the engine process ends, every pending call fails
 * with UNAVAILABLE instead of hanging.
 */
export class EngineChannelClient implements ControlEndpoint, AudioEndpoint {
  /** Resolves once the engine has started; rejects with its reason when it could not. */
  readonly ready: Promise<void>;
  private nextId = 1;
  private nextSubscription = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly listeners = new Map<number, (item: StreamItem) => void>();
  private readonly stoppedWaiters = new Set<() => void>();
  private readonly speakerListeners = new Set<(frame: Int16Array) => void>();
  private settleReady!: { resolve(): void; reject(error: Error): void };
  private closed?: ControlError;
  private stopped = false;

  constructor(private readonly port: ChannelPort) {
    this.ready = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    // A caller that never awaits `ready` must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    port.on('message', this.onMessage);
  }

  invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise<ResultOf<N>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ kind: 'invoke', id, name, params });
    });
  }

  subscribe(since: EventCursor | undefined, listener: (item: StreamItem) => void): () => void {
    if (this.closed) return () => undefined;
    const subscription = this.nextSubscription++;
    this.listeners.set(subscription, listener);
    this.send({ kind: 'subscribe', subscription, since });
    return () => {
      if (this.listeners.delete(subscription) && !this.closed) this.send({ kind: 'unsubscribe', subscription });
    };
  }

  pushMicrophone(frame: Int16Array): void {
    if (!this.closed) this.send({ kind: 'microphone', frame: bytesOfFrame(frame) });
  }

  onSpeaker(listener: (frame: Int16Array) => void): () => void {
    if (this.closed) return () => undefined;
    if (this.speakerListeners.size === 0) this.send({ kind: 'speaker', on: true });
    this.speakerListeners.add(listener);
    return () => {
      if (this.speakerListeners.delete(listener) && this.speakerListeners.size === 0 && !this.closed) this.send({ kind: 'speaker', on: false });
    };
  }

  /** Asks the engine to stop; true when it said it stopped within `timeoutMs`. */
  stop(timeoutMs: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.stoppedWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(this.stopped);
      };
      this.stoppedWaiters.add(done);
      this.send({ kind: 'stop' });
    });
  }

  /** The engine process is gone: fail what waits, refuse what comes. */
  close(reason = 'The Peerdial engine stopped.'): void {
    if (this.closed) return;
    this.closed = new ControlError('UNAVAILABLE', reason);
    this.port.off('message', this.onMessage);
    this.settleReady.reject(this.closed);
    for (const { reject } of this.pending.values()) reject(this.closed);
    this.pending.clear();
    this.listeners.clear();
    this.speakerListeners.clear();
    for (const done of this.stoppedWaiters) done();
    this.stoppedWaiters.clear();
  }

  private send(frame: MainToEngine): void {
    this.port.postMessage(frame);
  }

  private readonly onMessage = (raw: unknown): void => {
    const frame = parseEngineToMain(raw);
    if (!frame) return;
    switch (frame.kind) {
      case 'ready':
        this.settleReady.resolve();
        return;
      case 'start-failed':
        this.settleReady.reject(new ControlError(frame.error.code, frame.error.message));
        return;
      case 'result': {
        const waiter = this.pending.get(frame.id);
        if (!waiter) return;
        this.pending.delete(frame.id);
        if (frame.envelope.ok) waiter.resolve(frame.envelope.value);
        else waiter.reject(new ControlError(frame.envelope.error.code, frame.envelope.error.message));
        return;
      }
      case 'event':
        this.listeners.get(frame.subscription)?.(frame.item);
        return;
      case 'speaker-frame': {
        const samples = frameFromBytes(frame.frame);
        if (samples) for (const listener of this.speakerListeners) listener(samples);
        return;
      }
      case 'stopped':
        // The host no longer listens: refuse further calls rather than leave them waiting.
        this.stopped = true;
        this.close('Peerdial has stopped its engine.');
        return;
    }
  };
}
