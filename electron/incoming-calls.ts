// Which calls are ringing here now, for the desktop notification and the tray. Fed by
// call.changed events (and call.list after a reset); it never touches Electron itself.
import type { CallView, StreamItem } from '../native/control/api.js';

export interface IncomingCallsListener {
  /** A call started ringing here: show a notification. */
  ringing(call: CallView): void;
  /** It stopped ringing (answered, declined, cancelled, missed): take the notification down. */
  stopped(callId: string): void;
}

/** What the notification and the tray say for a ringing call. */
export function incomingCallTitle(call: Pick<CallView, 'peer' | 'peerName'>): string {
  return `Incoming call from ${call.peerName?.trim() || call.peer}`;
}

export class IncomingCalls {
  private readonly calls = new Map<string, CallView>();

  constructor(private readonly listener: IncomingCallsListener) {}

  /** Ringing calls, oldest first. */
  get ringing(): CallView[] {
    return [...this.calls.values()];
  }

  /** Returns 'reload' when the stream was reset and the caller should fetch call.list. */
  apply(item: StreamItem): 'reload' | undefined {
    if (item.type === 'reset') return 'reload';
    if (item.type === 'call.changed') this.update(item.data);
    return undefined;
  }

  /** The whole truth after a reset: calls missing from the list are no longer ringing. */
  fromList(calls: CallView[]): void {
    const present = new Set(calls.map((call) => call.id));
    for (const id of [...this.calls.keys()]) {
      if (!present.has(id)) this.stop(id);
    }
    for (const call of calls) this.update(call);
  }

  /** The engine went away: nothing rings any more. */
  clear(): void {
    for (const id of [...this.calls.keys()]) this.stop(id);
  }

  private update(call: CallView): void {
    const ringingNow = call.direction === 'in' && call.state === 'incoming';
    if (ringingNow && !this.calls.has(call.id)) {
      this.calls.set(call.id, call);
      this.listener.ringing(call);
    } else if (ringingNow) {
      this.calls.set(call.id, call);
    } else if (this.calls.has(call.id)) {
      this.stop(call.id);
    }
  }

  private stop(id: string): void {
    this.calls.delete(id);
    this.listener.stopped(id);
  }
}
