// Calls not yet ended, the call history, and calls that just ended (shown with their plain
// end message for a few seconds), kept in step with call.changed and call.history events.
import type { CallHistoryEntry, CallSecurityView, CallView, ConsistentLoad, ControlClient, ControlEvent } from './control-types.js';
import { describeError } from './errors.js';

const HISTORY_LIMIT = 200;
/** How long "Busy", "Declined", "Call ended" stays on screen. */
export const ENDED_SHOWN_MS = 6_000;

export class CallsState {
  calls = $state<CallView[]>([]);
  history = $state<CallHistoryEntry[]>([]);
  /** Calls that ended in the last few seconds, newest last. */
  ended = $state<CallView[]>([]);
  /** The last refusal of a call command, as a sentence. */
  problem = $state<string | undefined>();
  /** Settings → Calls, and how many calls were encrypted, in the clear, or refused. */
  security = $state<CallSecurityView | undefined>();

  private readonly dismissed = new Set<string>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    await Promise.all([
      consistent(
        () => this.client.invoke('call.list', {}),
        (calls) => (this.calls = calls.filter((call) => call.state !== 'ended')),
      ),
      consistent(
        () => this.client.invoke('call.history', { limit: HISTORY_LIMIT }),
        (history) => (this.history = history),
      ),
      consistent(
        () => this.client.invoke('call.security', {}),
        (security) => (this.security = security),
      ),
    ]);
  }

  /** "Allow unencrypted calls with phones"; false when the engine refused (the problem says why). */
  async setAllowUnencryptedPhones(allowed: boolean): Promise<boolean> {
    try {
      this.security = await this.client.invoke('call.setSecurity', { allowUnencryptedPhones: allowed });
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'call.changed') this.applyCall(event.data);
    else if (event.type === 'call.history') this.applyHistory(event.data);
  }

  dial(to: string): Promise<boolean> {
    return this.run(() => this.client.invoke('call.dial', { to: to.trim() }));
  }
  answer(id: string): Promise<boolean> {
    return this.run(() => this.client.invoke('call.answer', { id }));
  }
  /** `toVoicemail`: the caller is offered to leave a voice message instead. */
  decline(id: string, toVoicemail = false): Promise<boolean> {
    return this.run(() => this.client.invoke('call.decline', toVoicemail ? { id, toVoicemail } : { id }));
  }

  /** The user left (or will not leave) the voice message an ended call offered: it goes from the screen. */
  dismissEnded(id: string): void {
    this.ended = this.ended.filter((c) => c.id !== id);
  }
  hangup(id: string): Promise<boolean> {
    return this.run(() => this.client.invoke('call.hangup', { id }));
  }
  setMuted(id: string, muted: boolean): Promise<boolean> {
    return this.run(() => this.client.invoke('call.mute', { id, muted }));
  }
  setHold(id: string, hold: boolean): Promise<boolean> {
    return this.run(() => this.client.invoke('call.hold', { id, hold }));
  }
  sendDtmf(id: string, digits: string): Promise<boolean> {
    return this.run(() => this.client.invoke('call.dtmf', { id, digits }));
  }
  transfer(id: string, to: string): Promise<boolean> {
    return this.run(() => this.client.invoke('call.transfer', { id, to: to.trim() }));
  }

  /** Call waiting: every call we are talking in goes on hold, then the new one is answered. */
  async holdAndAnswer(id: string): Promise<boolean> {
    for (const call of this.calls) {
      if (call.id === id || call.state !== 'active' || call.hold === 'local' || call.hold === 'both') continue;
      if (!(await this.setHold(call.id, true))) return false;
    }
    return this.answer(id);
  }

  dismissProblem(): void {
    this.problem = undefined;
  }

  private async run(command: () => Promise<CallView>): Promise<boolean> {
    try {
      this.applyCall(await command());
      this.problem = undefined;
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }

  private applyCall(call: CallView): void {
    const i = this.calls.findIndex((c) => c.id === call.id);
    if (call.state !== 'ended') {
      if (i >= 0) this.calls[i] = call;
      else if (!this.dismissed.has(call.id)) this.calls.push(call);
      return;
    }
    if (i >= 0) this.calls.splice(i, 1);
    // A later view of an ended call (the callee takes voice messages) replaces the one shown.
    const shown = this.ended.findIndex((c) => c.id === call.id);
    if (shown >= 0) {
      this.ended[shown] = call;
      return;
    }
    if (this.dismissed.has(call.id)) return;
    this.dismissed.add(call.id);
    this.ended.push(call);
    setTimeout(() => {
      // An offer to leave a voice message stays until the user answers it.
      this.ended = this.ended.filter((c) => c.id !== call.id || c.voicemail);
    }, ENDED_SHOWN_MS);
  }

  private applyHistory(entry: CallHistoryEntry): void {
    if (this.history.some((e) => e.id === entry.id)) return;
    // Repeated missed calls from one caller: the new entry carries the count, the one it folded in goes.
    if (entry.replaces !== undefined) this.history = this.history.filter((e) => e.id !== entry.replaces);
    const after = this.history.findIndex((e) => e.id < entry.id);
    if (after < 0) this.history.push(entry);
    else this.history.splice(after, 0, entry);
    if (this.history.length > HISTORY_LIMIT) this.history.pop();
  }
}
