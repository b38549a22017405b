// RFC 3261 17.2.1 with RFC 6026 7.1: the INVITE server transaction, sans IO. It retransmits a
// non-2xx final response until the ACK arrives (Timers G and H) and absorbs retransmitted
// INVITEs; a 2xx is retransmitted by the dialog (the UAS core), not here.
import { T1, T2, T4, type TimerHandle, type TimerHost } from './timers.js';

export type InviteServerState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export const TIMER_H = 64 * T1;
export const TIMER_L = 64 * T1;

export class InviteServerTransaction {
  state: InviteServerState = 'proceeding';
  private lastResponse?: Buffer;
  private timerG?: TimerHandle;
  private timerH?: TimerHandle;
  private ending?: TimerHandle;
  private interval = T1;

  constructor(
    readonly id: string,
    private readonly reliable: boolean,
    private readonly timers: TimerHost,
    private readonly send: (bytes: Buffer) => void,
    /** Timer H fired: the ACK for our error response never came (RFC 3261 17.2.1). */
    private readonly onAckTimeout: () => void,
    private readonly onTerminated: () => void,
  ) {}

  /** A retransmission of the INVITE arrived. */
  receiveRetransmission(): void {
    // RFC 3261 17.2.1: in Proceeding, the most recent provisional response is sent again; in
    // Completed, the final response. RFC 6026 7.1: in Accepted, it is absorbed.
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.send(this.lastResponse);
  }

  /** The ACK for a non-2xx final response arrived. */
  receiveAck(): void {
    if (this.state !== 'completed') return;
    this.clear();
    this.state = 'confirmed';
    // Timer I absorbs ACK retransmissions: T4 on unreliable transports, zero on reliable ones.
    if (this.reliable) this.terminate();
    else this.ending = this.timers.set(T4, () => this.terminate());
  }

  respond(bytes: Buffer, status: number): boolean {
    if (this.state !== 'proceeding') return false;
    this.lastResponse = bytes;
    this.send(bytes);
    if (status < 200) return true;
    if (status < 300) {
      // RFC 6026 7.1: Accepted until Timer L, so retransmitted INVITEs do not reach the TU as new ones.
      this.state = 'accepted';
      this.ending = this.timers.set(TIMER_L, () => this.terminate());
      return true;
    }
    this.state = 'completed';
    if (!this.reliable) this.timerG = this.timers.set(this.interval, () => this.onTimerG());
    this.timerH = this.timers.set(TIMER_H, () => {
      if (this.state !== 'completed') return;
      this.onAckTimeout();
      this.terminate();
    });
    return true;
  }

  private onTimerG(): void {
    if (this.state !== 'completed' || !this.lastResponse) return;
    this.send(this.lastResponse);
    // "...reset with a value of MIN(2*T1, T2)", doubling up to T2.
    this.interval = Math.min(2 * this.interval, T2);
    this.timerG = this.timers.set(this.interval, () => this.onTimerG());
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.clear();
    if (this.ending) this.timers.clear(this.ending);
    this.state = 'terminated';
    this.lastResponse = undefined;
    this.onTerminated();
  }

  private clear(): void {
    if (this.timerG) this.timers.clear(this.timerG);
    if (this.timerH) this.timers.clear(this.timerH);
    this.timerG = this.timerH = undefined;
  }
}
