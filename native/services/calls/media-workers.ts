// The pool of media worker threads (media-worker.ts): about one per core, each with its own media
// clock, and every call's media on the least loaded of them. The main thread keeps signalling,
// ICE, DTLS handshakes and the control API; a late turn of its event loop delays none of the
// calls' packets.
import os from 'node:os';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { MediaClockStats } from '../../transport/media-clock.js';
import type { FromWorker, ToWorker } from './media-worker-protocol.js';

/** What a call's media session gets from the pool: a line to its worker. */
export interface MediaWorkerChannel {
  post(message: ToWorker): void;
  /** The call is over: its worker takes new calls in its place. */
  detach(): void;
}

export interface MediaWorkerPoolOptions {
  /** Worker threads (default: one per core the process may use). */
  size?: number;
}

interface PoolWorker {
  worker: Worker;
  calls: number;
  outbox: ToWorker[];
  /** Where each call's messages go, by the call's id. */
  receivers: Map<number, (message: FromWorker) => void>;
  clockWaiters: ((stats: MediaClockStats) => void)[];
  utilization: EventLoopUtilization;
  dead: boolean;
}

// Built, the worker is JavaScript beside this file. Under tsx (tests, benchmarks) both are
// TypeScript, and a worker does not inherit tsx's loader from `--import tsx` on Node 20: a small
// bootstrap registers it in the thread first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_FILE = new URL(FROM_SOURCE ? './media-worker.ts' : './media-worker.js', import.meta.url);

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_FILE);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_FILE.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

let nextCallId = 1;

export class MediaWorkerPool {
  readonly size: number;
  private readonly workers: (PoolWorker | undefined)[];
  private closed = false;

  constructor(options: MediaWorkerPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? os.availableParallelism()));
    this.workers = new Array<PoolWorker | undefined>(this.size).fill(undefined);
  }

  /** A channel for a new call on the worker with the fewest calls (threads start when first needed). */
  attach(receive: (message: FromWorker) => void): { id: number; channel: MediaWorkerChannel } {
    if (this.closed) throw new Error('the media workers are stopped');
    let chosen = 0;
    for (let i = 1; i < this.size; i++) if ((this.workers[i]?.calls ?? 0) < (this.workers[chosen]?.calls ?? 0)) chosen = i;
    const entry = (this.workers[chosen] ??= this.spawn());
    const id = nextCallId++;
    // An open call keeps the process running, as its sockets did when they were on this thread.
    if (entry.calls++ === 0) entry.worker.ref();
    entry.receivers.set(id, receive);
    let attached = true;
    return {
      id,
      channel: {
        post: (message) => this.post(entry, message),
        detach: () => {
          if (!attached) return;
          attached = false;
          if (--entry.calls === 0) entry.worker.unref();
          entry.receivers.delete(id);
        },
      },
    };
  }

  /** Each running worker's clock: ticks, and how late its listeners ran (benchmarks); `reset` starts them over. */
  async clockStats(reset = false): Promise<MediaClockStats[]> {
    const running = this.workers.filter((w): w is PoolWorker => w !== undefined);
    return Promise.all(
      running.map(
        (entry) =>
          new Promise<MediaClockStats>((resolve) => {
            entry.clockWaiters.push(resolve);
            this.post(entry, { t: 'clock-stats', reset });
          }),
      ),
    );
  }

  /**
   * How busy each running worker's event loop was since the last call (0..1): the share of time
   * it spent running rather than waiting for its next timer or datagram.
   */
  busyFractions(): number[] {
    return this.workers
      .filter((w): w is PoolWorker => w !== undefined)
      .map((entry) => {
        const now = entry.worker.performance.eventLoopUtilization();
        const since = entry.worker.performance.eventLoopUtilization(now, entry.utilization);
        entry.utilization = now;
        return since.utilization;
      });
  }

  /** Calls on each worker, in pool order (0 for a worker not started). */
  get load(): number[] {
    return this.workers.map((w) => w?.calls ?? 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w?.worker.terminate()));
    this.workers.fill(undefined);
  }

  private spawn(): PoolWorker {
    const worker = startWorker();
    const entry: PoolWorker = { worker, calls: 0, outbox: [], receivers: new Map(), clockWaiters: [], utilization: worker.performance.eventLoopUtilization(), dead: false };
    worker.on('message', (batch: FromWorker[]) => {
      for (const message of batch) {
        if (message.t === 'clock-stats') entry.clockWaiters.shift()?.(message.stats);
        else entry.receivers.get(message.id)?.(message);
      }
    });
    const died = (reason: string) => {
      const index = this.workers.indexOf(entry);
      if (index < 0) return;
      // A worker that died takes its calls' media with it: each call's log says so, and what
      // waits for the worker (a call opening or closing) is answered, so nothing hangs on it.
      this.workers[index] = undefined;
      entry.dead = true;
      for (const [id, receive] of entry.receivers) {
        receive({ t: 'log', id, level: 'error', message: 'media worker failed', fields: { reason } });
        for (const t of ['open-failed', 'stopped', 'closed'] as const) receive(t === 'open-failed' ? { t, id, message: `the media worker failed: ${reason}` } : { t, id });
      }
    };
    worker.on('error', (error) => died(String(error)));
    worker.on('exit', (code) => died(`exited with code ${code}`));
    // A worker without calls must not keep a finished process running (unref after the listeners:
    // adding one refs the worker again).
    worker.unref();
    return entry;
  }

  /** Messages of one turn go to a worker as one. */
  private post(entry: PoolWorker, message: ToWorker): void {
    if (entry.dead) return;
    entry.outbox.push(message);
    if (entry.outbox.length === 1) {
      queueMicrotask(() => {
        const batch = entry.outbox;
        entry.outbox = [];
        if (!entry.dead) entry.worker.postMessage(batch);
      });
    }
  }
}

let shared: MediaWorkerPool | undefined;

/** The process's pool, for media sessions opened without one (tests, tools); the node's engine has its own. */
export function sharedMediaWorkers(): MediaWorkerPool {
  shared ??= new MediaWorkerPool();
  return shared;
}
