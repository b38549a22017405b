// Buddies, their presence and requests, and the user's own presence, kept in step with
// buddy.changed, buddy.removed and presence.changed events. An engine without buddies (an older
// build) leaves the rest of the app working: the load failure is kept as a sentence.
import type { BuddyView, ConsistentLoad, ControlClient, ControlEvent, OwnPresenceView } from './control-types.js';
import { describeError } from './errors.js';

export type OwnStatus = OwnPresenceView['status'];

export class BuddiesState {
  buddies = $state<BuddyView[]>([]);
  own = $state<OwnPresenceView | undefined>();
  /** Why the buddy list could not be loaded, as a sentence. */
  unavailable = $state<string | undefined>();
  /** The last refusal of a buddy or presence command, as a sentence. */
  problem = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    const failures: string[] = [];
    await Promise.all([
      consistent(
        () => this.client.invoke('buddy.list', {}),
        (list) => (this.buddies = list),
      ).catch((error) => failures.push(describeError(error))),
      consistent(
        () => this.client.invoke('presence.get', {}),
        (own) => (this.own = own),
      ).catch((error) => failures.push(describeError(error))),
    ]);
    this.unavailable = failures[0];
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    switch (event.type) {
      case 'buddy.changed':
        this.put(event.data);
        break;
      case 'buddy.removed':
        this.buddies = this.buddies.filter((b) => b.aor !== event.data.aor);
        break;
      case 'presence.changed':
        this.own = event.data;
        break;
    }
  }

  /** Sends a buddy request; returns the engine's refusal as a sentence, or undefined. */
  async add(aor: string, note: string): Promise<string | undefined> {
    try {
      const trimmed = note.trim();
      this.put(await this.client.invoke('buddy.add', { aor: aor.trim(), ...(trimmed ? { note: trimmed } : {}) }));
      return undefined;
    } catch (error) {
      return describeError(error);
    }
  }

  accept(aor: string): Promise<boolean> {
    return this.run(() => this.client.invoke('buddy.accept', { aor }));
  }
  decline(aor: string): Promise<boolean> {
    return this.run(() => this.client.invoke('buddy.decline', { aor }));
  }
  block(aor: string): Promise<boolean> {
    return this.run(() => this.client.invoke('buddy.block', { aor }));
  }
  trustKey(aor: string): Promise<boolean> {
    return this.run(() => this.client.invoke('buddy.trustKey', { aor }));
  }
  verify(aor: string, verified: boolean): Promise<boolean> {
    return this.run(() => this.client.invoke('buddy.verify', { aor, verified }));
  }

  async remove(aor: string): Promise<boolean> {
    try {
      await this.client.invoke('buddy.remove', { aor });
      this.buddies = this.buddies.filter((b) => b.aor !== aor);
      this.problem = undefined;
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }

  setStatus(status: OwnStatus): Promise<boolean> {
    return this.runPresence(() => this.client.invoke('presence.set', { status }));
  }
  setNote(note: string): Promise<boolean> {
    return this.runPresence(() => this.client.invoke('presence.set', { note: note.trim() }));
  }
  setAwayAfterMinutes(minutes: number): Promise<boolean> {
    return this.runPresence(() => this.client.invoke('presence.set', { awayAfterMinutes: minutes }));
  }

  /** Idle or back, from the UI's idle tracker; nothing to show the user if it fails. */
  async activity(idle: boolean): Promise<void> {
    try {
      this.own = await this.client.invoke('presence.activity', { idle });
    } catch {
      // The next input or idle period reports again.
    }
  }

  /** The user saw the conversation: the sender's messages turn "read". Best effort. */
  async markRead(peer: string): Promise<void> {
    try {
      await this.client.invoke('im.markRead', { peer });
    } catch {
      // A peer the engine cannot tell (e.g. an older engine) just keeps its messages "delivered".
    }
  }

  async typing(peer: string, active: boolean): Promise<void> {
    try {
      await this.client.invoke('im.typing', { peer, active });
    } catch {
      // An indicator that does not show is harmless; the message itself still goes.
    }
  }

  dismissProblem(): void {
    this.problem = undefined;
  }

  private put(buddy: BuddyView): void {
    const i = this.buddies.findIndex((b) => b.aor === buddy.aor);
    if (i >= 0) this.buddies[i] = buddy;
    else this.buddies.push(buddy);
  }

  private async run(command: () => Promise<BuddyView>): Promise<boolean> {
    try {
      this.put(await command());
      this.problem = undefined;
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }

  private async runPresence(command: () => Promise<OwnPresenceView>): Promise<boolean> {
    try {
      this.own = await command();
      this.problem = undefined;
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }
}
