// RFC 3261 17.2.2: the non-INVITE server transaction, sans IO. It keeps only the bytes of its
// last response, which is all a retransmitted request needs.
import { TIMER_J, type TimerHandle, type TimerHost } from './timers.js';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class NonInviteServerTransaction {
  state: ServerState = 'trying';
  private lastResponse?: Buffer;
  private timerJ?: TimerHandle;

  constructor(
    readonly id: string,
    private readonly reliable: boolean,
    private readonly timers: TimerHost,
    private readonly send: (bytes: Buffer) => void,
    private readonly onTerminated: () => void,
  ) {}

  /** A retransmission of the request arrived. */
  receiveRetransmission(): void {
    // RFC 3261 17.2.2: in Trying, retransmissions are discarded; in Proceeding and Completed
    // the last response is passed to the transport again.
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.send(this.lastResponse);
  }

  respond(bytes: Buffer, status: number): boolean {
    if (this.state === 'completed' || this.state === 'terminated') return false;
    this.lastResponse = bytes;
    this.send(bytes);
    if (status < 200) {
      this.state = 'proceeding';
      return true;
    }
    this.state = 'completed';
    // Timer J: 64*T1 on unreliable transports (absorbs retransmissions), zero on reliable ones.
    if (this.reliable) this.terminate();
    else this.timerJ = this.timers.set(TIMER_J, () => this.terminate());
    return true;
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    if (this.timerJ) this.timers.clear(this.timerJ);
    this.state = 'terminated';
    this.lastResponse = undefined;
    this.onTerminated();
  }
}
