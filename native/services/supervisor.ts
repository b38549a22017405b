// Starts services in order, stops them in reverse, and restarts one that fails with
// exponential backoff, reporting every state change instead of crashing the engine.
import type { TimerHandle, TimerHost } from '../proto/sip/timers.js';

export interface Supervised {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type SupervisedState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';
export interface SupervisedView {
  name: string;
  state: SupervisedState;
  restarts: number;
  lastError?: string;
}

export interface SupervisorOptions {
  timers: TimerHost;
  onState(view: SupervisedView): void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Restarts in a row after which a service is left failed. */
  maxRestarts?: number;
  stopTimeoutMs?: number;
}

interface Entry {
  service: Supervised;
  view: SupervisedView;
  backoff: number;
  timer?: TimerHandle;
}

export class Supervisor {
  private readonly entries: Entry[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  get views(): SupervisedView[] {
    return this.entries.map((e) => ({ ...e.view }));
  }

  /** Starts a service now. A failure here is the caller's (a bad port is fatal at start-up). */
  async add(service: Supervised): Promise<void> {
    const entry: Entry = { service, view: { name: service.name, state: 'starting', restarts: 0 }, backoff: this.options.initialBackoffMs ?? 1_000 };
    this.entries.push(entry);
    this.set(entry, 'starting');
    try {
      await service.start();
    } catch (error) {
      this.entries.pop();
      throw error;
    }
    this.set(entry, 'running');
  }

  /** A running service reports that it broke: it is stopped and started again after a backoff. */
  reportFailure(name: string, error: unknown): void {
    const entry = this.entries.find((e) => e.service.name === name);
    if (!entry || this.stopping || entry.view.state === 'restarting' || entry.view.state === 'failed') return;
    entry.view.lastError = String((error as Error)?.message ?? error);
    this.scheduleRestart(entry);
  }

  private scheduleRestart(entry: Entry): void {
    if (entry.view.restarts >= (this.options.maxRestarts ?? 10)) {
      this.set(entry, 'failed');
      return;
    }
    this.set(entry, 'restarting');
    const delay = entry.backoff;
    entry.backoff = Math.min(entry.backoff * 2, this.options.maxBackoffMs ?? 30_000);
    entry.timer = this.options.timers.set(delay, () => void this.restart(entry));
  }

  private async restart(entry: Entry): Promise<void> {
    if (this.stopping) return;
    entry.view.restarts++;
    await entry.service.stop().catch(() => undefined);
    try {
      await entry.service.start();
      entry.backoff = this.options.initialBackoffMs ?? 1_000;
      this.set(entry, 'running');
    } catch (error) {
      entry.view.lastError = String((error as Error)?.message ?? error);
      this.scheduleRestart(entry);
    }
  }

  /** Stops every service in reverse order; each gets stopTimeoutMs before we move on. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.entries].reverse()) {
      if (entry.timer) this.options.timers.clear(entry.timer);
      const timeout = new Promise<void>((resolve) => this.options.timers.set(this.options.stopTimeoutMs ?? 1_500, resolve));
      await Promise.race([entry.service.stop().catch(() => undefined), timeout]);
      this.set(entry, 'stopped');
    }
  }

  private set(entry: Entry, state: SupervisedState): void {
    entry.view.state = state;
    this.options.onState({ ...entry.view });
  }
}
