// RFC 3261 17.1.2: the non-INVITE client transaction, sans IO. It sends through `send` and
// keeps time through `timers`; what the transaction user learns arrives through `report`.
import type { SipResponse } from '../../wire/sip/message.js';
import { T1, T2, TIMER_F, TIMER_K, type TimerHandle, type TimerHost } from './timers.js';

export type ClientOutcome =
  | { kind: 'provisional'; response: SipResponse }
  | { kind: 'final'; response: SipResponse }
  | { kind: 'timeout' }
  | { kind: 'transport-error'; error: Error };

export type ClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class NonInviteClientTransaction {
  state: ClientState = 'trying';
  private timerE?: TimerHandle;
  private timerF?: TimerHandle;
  private timerK?: TimerHandle;
  private interval = T1;

  constructor(
    readonly id: string,
    private readonly request: Buffer,
    private readonly reliable: boolean,
    private readonly timers: TimerHost,
    private readonly send: (bytes: Buffer) => void,
    private readonly report: (outcome: ClientOutcome) => void,
    private readonly onTerminated: () => void,
  ) {}

  start(): void {
    this.send(this.request);
    // RFC 3261 17.1.2.2: "If an unreliable transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
    if (!this.reliable) this.timerE = this.timers.set(this.interval, () => this.onTimerE());
    this.timerF = this.timers.set(TIMER_F, () => this.onTimerF());
  }

  private onTimerE(): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.send(this.request);
    // "...the timer is reset with a value of MIN(2*T1, T2)" in Trying; in Proceeding it fires every T2.
    this.interval = this.state === 'proceeding' ? T2 : Math.min(2 * this.interval, T2);
    this.timerE = this.timers.set(this.interval, () => this.onTimerE());
  }

  private onTimerF(): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    // RFC 3261 17.1.2.2: Timer F fires: inform the TU of a timeout and terminate.
    this.report({ kind: 'timeout' });
    this.terminate();
  }

  receive(response: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // retransmitted finals are absorbed
    if (response.status < 200) {
      if (this.state === 'trying') {
        this.state = 'proceeding';
        if (this.timerE) {
          this.timers.clear(this.timerE);
          this.interval = T2;
          this.timerE = this.timers.set(T2, () => this.onTimerE());
        }
      }
      this.report({ kind: 'provisional', response });
      return;
    }
    this.clearRetransmitTimers();
    this.state = 'completed';
    this.report({ kind: 'final', response });
    // Timer K absorbs retransmitted responses: T4 on unreliable transports, zero on reliable ones.
    if (this.reliable) this.terminate();
    else this.timerK = this.timers.set(TIMER_K, () => this.terminate());
  }

  /** RFC 3261 17.1.4: a transport failure is reported to the TU and ends the transaction. */
  transportError(error: Error): void {
    if (this.state === 'terminated' || this.state === 'completed') return;
    this.report({ kind: 'transport-error', error });
    this.terminate();
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.clearRetransmitTimers();
    if (this.timerK) this.timers.clear(this.timerK);
    this.state = 'terminated';
    this.onTerminated();
  }

  private clearRetransmitTimers(): void {
    if (this.timerE) this.timers.clear(this.timerE);
    if (this.timerF) this.timers.clear(this.timerF);
    this.timerE = this.timerF = undefined;
  }
}
