// Tells the engine when the user is typing to a peer (RFC 3994 isComposing): "active" on the
// first keystroke and again while typing goes on (a refresh, so the peer's indicator does not
// time out), "idle" after TYPING_IDLE_MS without a keystroke or when the message is sent.
import type { Timers } from './timers.js';

export const TYPING_IDLE_MS = 5_000;
/** RFC 3994 3.2: an active state is refreshed while composing continues (the peer times it out otherwise). */
export const TYPING_REFRESH_MS = 60_000;

export class TypingNotifier {
  private active = false;
  private lastActiveSent = 0;
  private idleTimer: unknown;

  constructor(
    private readonly timers: Timers,
    private readonly send: (active: boolean) => void,
  ) {}

  /** A keystroke that changed the text. */
  typed(): void {
    const now = this.timers.now();
    if (!this.active || now - this.lastActiveSent >= TYPING_REFRESH_MS) {
      this.active = true;
      this.lastActiveSent = now;
      this.send(true);
    }
    if (this.idleTimer !== undefined) this.timers.clear(this.idleTimer);
    this.idleTimer = this.timers.set(TYPING_IDLE_MS, () => {
      this.idleTimer = undefined;
      this.stopped();
    });
  }

  /** Sent, emptied, or the conversation closed: the peer's indicator goes away. */
  stopped(): void {
    if (this.idleTimer !== undefined) this.timers.clear(this.idleTimer);
    this.idleTimer = undefined;
    if (!this.active) return;
    this.active = false;
    this.send(false);
  }
}
