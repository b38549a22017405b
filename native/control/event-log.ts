// Sequence-numbered events that a client can resume from (`since`), as syncthing's event API.
import { randomBytes } from 'node:crypto';
import type { ControlEvent, EventPayloads, EventType, StreamItem } from './api.js';

export class EventLog {
  readonly epoch = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly kept: ControlEvent[] = [];
  private readonly listeners = new Set<(item: StreamItem) => void>();

  constructor(private readonly capacity = 1_000) {}

  publish<T extends EventType>(type: T, data: EventPayloads[T]): void {
    const event = { seq: ++this.seq, epoch: this.epoch, type, data } as ControlEvent;
    this.kept.push(event);
    if (this.kept.length > this.capacity) this.kept.shift();
    for (const listener of this.listeners) listener(event);
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Replays what the client missed after `since`, or sends one `reset`, then follows live. */
  subscribe(since: { epoch: string; seq: number } | undefined, listener: (item: StreamItem) => void): () => void {
    const oldest = this.kept[0]?.seq ?? this.seq + 1;
    const resumable = since && since.epoch === this.epoch && since.seq >= oldest - 1 && since.seq <= this.seq;
    if (resumable) {
      for (const event of this.kept) if (event.seq > since.seq) listener(event);
    } else {
      listener({ type: 'reset', epoch: this.epoch, seq: this.seq });
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
