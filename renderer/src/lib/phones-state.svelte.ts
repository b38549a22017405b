// The user's SIP phones as the engine has them, kept current by `phones.changed` events (each
// carries the whole list), and farm mode, kept current by `node.status` (its `routing.farm`).
// The credentials of a phone just added are kept here until the user closes them: the password
// is shown this once.
import type { ConsistentLoad, ControlClient, ControlEvent, FarmView, NewPhone, PhoneView } from './control-types.js';
import { describeError } from './errors.js';

export class PhonesState {
  list = $state<PhoneView[]>([]);
  /** The phone just added, with its password (shown once). */
  added = $state<NewPhone | undefined>();
  unavailable = $state<string | undefined>();
  farm = $state<FarmView | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('phones.list', {}),
        (list) => (this.list = list),
      );
      this.farm = await this.client.invoke('farm.status', {});
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'phones.changed') this.list = event.data;
    if (event.type === 'node.status') this.farm = event.data.routing.farm;
  }

  /** Throws the engine's refusal (a bad name, no identity yet) in its own words. `user`: a farm user (farm mode). */
  async add(name: string, user?: string): Promise<void> {
    this.added = await this.client.invoke('phones.add', { name, ...(user ? { user } : {}) });
    this.list = await this.client.invoke('phones.list', {});
  }

  async remove(id: string): Promise<void> {
    this.list = await this.client.invoke('phones.remove', { id });
    if (this.added?.phone.id === id) this.added = undefined;
  }

  async setFarm(enabled: boolean): Promise<void> {
    this.farm = await this.client.invoke('farm.configure', { enabled });
    this.list = await this.client.invoke('phones.list', {});
  }

  /** Lets other servers join the farm through this one for `minutes` (0 closes it). */
  async admit(minutes: number): Promise<void> {
    this.farm = await this.client.invoke('farm.admit', { minutes });
  }
}
