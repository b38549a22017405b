// The timers of RFC 4028 for each call that agreed them: the refresher sends a re-INVITE every
// half interval; the other side ends the call when no refresh came in time. Any re-INVITE that
// succeeds, in either direction, counts as a refresh (RFC 4028 10).
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { expireAfterMs, refreshAfterMs, type AgreedSessionTimer } from '../../proto/sip/session-timer.js';
import type { Call } from './call.js';

export interface SessionTimerHost {
  timers: TimerHost;
  /** Sends the refreshing re-INVITE; resolves true once it was answered with a 2xx. */
  refresh(call: Call): Promise<boolean>;
  /** No refresh in time, or a refresh that failed: the peer is gone. */
  expired(call: Call, why: string): void;
}

/** What a call keeps of its session timer. */
export interface CallSessionTimer {
  intervalS: number;
  /** Whether this side sends the refreshes. */
  refresherIsUs: boolean;
  handle?: TimerHandle;
}

export class SessionTimers {
  constructor(private readonly host: SessionTimerHost) {}

  /** The timer agreed at the call's start; `ourRole` is our role in the INVITE that set it up. */
  start(call: Call, agreed: AgreedSessionTimer, ourRole: 'uac' | 'uas'): void {
    this.stop(call);
    call.sessionTimer = { intervalS: agreed.intervalS, refresherIsUs: agreed.refresher === ourRole };
    this.arm(call);
  }

  /** A re-INVITE went through: the interval starts again. */
  refreshed(call: Call): void {
    if (call.sessionTimer && call.state !== 'ended') this.arm(call);
  }

  stop(call: Call): void {
    if (call.sessionTimer?.handle) this.host.timers.clear(call.sessionTimer.handle);
  }

  private arm(call: Call): void {
    const timer = call.sessionTimer!;
    if (timer.handle) this.host.timers.clear(timer.handle);
    if (timer.refresherIsUs) {
      timer.handle = this.host.timers.set(refreshAfterMs(timer.intervalS), () => void this.refresh(call));
    } else {
      timer.handle = this.host.timers.set(expireAfterMs(timer.intervalS), () => {
        if (call.state === 'active') this.host.expired(call, `no session refresh from the other side within ${timer.intervalS} s`);
      });
    }
  }

  private async refresh(call: Call): Promise<void> {
    if (call.state !== 'active') return;
    const ok = await this.host.refresh(call).catch(() => false);
    if (call.state !== 'active') return;
    if (ok) this.arm(call);
    else this.host.expired(call, 'the session refresh went unanswered');
  }
}
