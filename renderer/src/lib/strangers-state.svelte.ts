// Strangers: message requests waiting for the user, the people they blocked, and the settings
// for strangers' calls and offline messages; kept current by requests.changed, strangers.settings
// and buddy events (a block is a buddy row in state 'blocked').
import type { BlockedView, ConsistentLoad, ControlClient, ControlEvent, MessageRequestView, StrangerSettings } from './control-types.js';
import { describeError } from './errors.js';

export class StrangersState {
  requests = $state<MessageRequestView[]>([]);
  blocked = $state<BlockedView[]>([]);
  settings = $state<StrangerSettings | undefined>();
  /** Why the last command failed, as a sentence. */
  problem = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    await Promise.all([
      consistent(
        () => this.client.invoke('requests.list', {}),
        (list) => (this.requests = list),
      ),
      consistent(
        () => this.client.invoke('strangers.settings', {}),
        (settings) => (this.settings = settings),
      ),
      this.loadBlocked(),
    ]);
  }

  apply(event: ControlEvent): void {
    if (event.type === 'requests.changed') this.requests = event.data;
    else if (event.type === 'strangers.settings') this.settings = event.data;
    else if (event.type === 'buddy.changed' || event.type === 'buddy.removed') void this.loadBlocked();
  }

  accept(peer: string): Promise<void> {
    return this.run(() => this.client.invoke('requests.accept', { peer }));
  }

  delete(peer: string): Promise<void> {
    return this.run(() => this.client.invoke('requests.delete', { peer }));
  }

  block(aor: string): Promise<void> {
    return this.run(() => this.client.invoke('block.add', { aor }));
  }

  unblock(aor: string): Promise<void> {
    return this.run(() => this.client.invoke('block.remove', { aor }));
  }

  configure(change: Partial<StrangerSettings>): Promise<void> {
    return this.run(async () => (this.settings = await this.client.invoke('strangers.configure', change)));
  }

  dismissProblem(): void {
    this.problem = undefined;
  }

  private async loadBlocked(): Promise<void> {
    try {
      this.blocked = await this.client.invoke('block.list', {});
    } catch (error) {
      this.problem = describeError(error);
    }
  }

  private async run(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
      this.problem = undefined;
    } catch (error) {
      this.problem = describeError(error);
    }
  }
}
