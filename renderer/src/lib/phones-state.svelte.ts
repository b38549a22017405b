// The user's SIP phones as the engine has them, kept current by `phones.changed` events (each
// carries the whole list). The credentials of a phone just added are kept here until the user
// closes them: the password is shown this once.
import type { ConsistentLoad, ControlClient, ControlEvent, NewPhone, PhoneView } from './control-types.js';
import { describeError } from './errors.js';

export class PhonesState {
  list = $state<PhoneView[]>([]);
  /** The phone just added, with its password (shown once). */
  added = $state<NewPhone | undefined>();
  unavailable = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('phones.list', {}),
        (list) => (this.list = list),
      );
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'phones.changed') this.list = event.data;
  }

  /** Throws the engine's refusal (a bad name, no identity yet) in its own words. */
  async add(name: string): Promise<void> {
    this.added = await this.client.invoke('phones.add', { name });
    this.list = await this.client.invoke('phones.list', {});
  }

  async remove(id: string): Promise<void> {
    this.list = await this.client.invoke('phones.remove', { id });
    if (this.added?.phone.id === id) this.added = undefined;
  }
}
