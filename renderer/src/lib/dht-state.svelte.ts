// The BitTorrent mainline DHT as this node uses it, kept current by `dht.changed` events.
import type { ConsistentLoad, ControlClient, ControlEvent, DhtView } from './control-types.js';
import { describeError } from './errors.js';

export class DhtState {
  view = $state<DhtView | undefined>();
  /** Why the view could not be loaded, or the last command failed, as a sentence. */
  problem = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('dht.status', {}),
        (view) => (this.view = view),
      );
      this.problem = undefined;
    } catch (error) {
      this.problem = describeError(error);
    }
  }

  apply(event: ControlEvent): void {
    if (event.type === 'dht.changed') this.view = event.data;
  }

  async setEnabled(enabled: boolean): Promise<void> {
    await this.run(async () => (this.view = await this.client.invoke('dht.configure', { enabled })));
  }

  async lookup(): Promise<void> {
    await this.run(async () => (this.view = await this.client.invoke('dht.lookup', {})));
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
