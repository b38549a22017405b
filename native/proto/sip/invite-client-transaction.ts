// RFC 3261 17.1.1 with RFC 6026 7.2: the INVITE client transaction, sans IO. The ACK for a
// non-2xx final response belongs to the transaction (17.1.1.3) and is built by `ackFor`;
// the ACK for a 2xx belongs to the dialog and is not sent here.
import type { SipResponse } from '../../wire/sip/message.js';
import type { ClientOutcome } from './non-invite-client-transaction.js';
import { T1, type TimerHandle, type TimerHost } from './timers.js';

export type InviteClientState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** Timer B (and RFC 6026's Timer M): 64*T1. */
export const TIMER_B = 64 * T1;
export const TIMER_M = 64 * T1;
/** Timer D: at least 32 s on unreliable transports, zero on reliable ones. */
export const TIMER_D = 32_000;

export class InviteClientTransaction {
  state: InviteClientState = 'calling';
  private timerA?: TimerHandle;
  private timerB?: TimerHandle;
  private ending?: TimerHandle;
  private interval = T1;
  private ack?: Buffer;

  constructor(
    readonly id: string,
    private readonly request: Buffer,
    private readonly reliable: boolean,
    private readonly timers: TimerHost,
    private readonly send: (bytes: Buffer) => void,
    private readonly ackFor: (response: SipResponse) => Buffer,
    private readonly report: (outcome: ClientOutcome) => void,
    private readonly onTerminated: () => void,
  ) {}

  start(): void {
    this.send(this.request);
    // RFC 3261 17.1.1.2: "If an unreliable transport is being used, the client transaction MUST start timer A with a value of T1."
    if (!this.reliable) this.timerA = this.timers.set(this.interval, () => this.onTimerA());
    this.timerB = this.timers.set(TIMER_B, () => this.onTimerB());
  }

  private onTimerA(): void {
    if (this.state !== 'calling') return;
    this.send(this.request);
    // "...the client transaction MUST reset the timer with a value of 2*T1" (and doubling on, with no T2 cap for INVITE).
    this.interval *= 2;
    this.timerA = this.timers.set(this.interval, () => this.onTimerA());
  }

  private onTimerB(): void {
    if (this.state !== 'calling') return;
    // "If the client transaction is still in the Calling state when timer B fires, [it] SHOULD inform the TU that a timeout has occurred."
    this.report({ kind: 'timeout' });
    this.terminate();
  }

  receive(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        this.clear('timerA');
        if (status < 200) {
          this.state = 'proceeding';
          // Timer B guards only the Calling state: once something answered, the TU decides (CANCEL).
          this.clear('timerB');
          this.report({ kind: 'provisional', response });
        } else if (status < 300) {
          // RFC 6026 7.2: a 2xx moves to Accepted, where further 2xx go straight to the TU, until Timer M.
          this.clear('timerB');
          this.state = 'accepted';
          this.report({ kind: 'final', response });
          this.ending = this.timers.set(TIMER_M, () => this.terminate());
        } else {
          this.clear('timerB');
          this.state = 'completed';
          this.ack = this.ackFor(response);
          this.send(this.ack);
          this.report({ kind: 'final', response });
          // Timer D absorbs retransmitted finals: >= 32 s on unreliable transports, zero on reliable ones.
          if (this.reliable) this.terminate();
          else this.ending = this.timers.set(TIMER_D, () => this.terminate());
        }
        return;
      case 'accepted':
        // RFC 6026 7.2: a retransmitted 2xx (or another fork's) is passed to the TU, which ACKs it.
        if (status >= 200 && status < 300) this.report({ kind: 'final', response });
        return;
      case 'completed':
        // RFC 3261 17.1.1.2: a retransmitted final response gets the same ACK again, not the TU.
        if (status >= 300 && this.ack) this.send(this.ack);
        return;
      case 'terminated':
        return;
    }
  }

  /** RFC 3261 17.1.4: a transport failure is reported to the TU and ends the transaction. */
  transportError(error: Error): void {
    if (this.state !== 'calling' && this.state !== 'proceeding') return;
    this.report({ kind: 'transport-error', error });
    this.terminate();
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.clear('timerA');
    this.clear('timerB');
    if (this.ending) this.timers.clear(this.ending);
    this.state = 'terminated';
    this.onTerminated();
  }

  private clear(name: 'timerA' | 'timerB'): void {
    const handle = this[name];
    if (handle) this.timers.clear(handle);
    this[name] = undefined;
  }
}
