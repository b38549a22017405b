// "Relay calls for others" and the relays for this node's own calls, as the engine has them;
// kept current by `relay.changed` events (each carries the whole view). An engine without the
// relay commands leaves the rest of the Network screen working and the card says why it is empty.
import type { ConsistentLoad, ControlClient, ControlEvent, RelaySettings, RelayView } from './control-types.js';
import { describeError } from './errors.js';

export class RelayState {
  view = $state<RelayView | undefined>();
  /** Why the relay view could not be loaded, as a sentence. */
  unavailable = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('relay.status', {}),
        (view) => (this.view = view),
      );
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'relay.changed') {
      this.view = event.data;
      this.unavailable = undefined;
    }
  }

  /**
   * Switches relaying for others on or off, or sets its caps. Throws the engine's refusal
   * (INVALID_ARGUMENT with the limits, in its own words).
   */
  async configure(change: Partial<RelaySettings>): Promise<void> {
    this.view = await this.client.invoke('relay.configure', change);
    this.unavailable = undefined;
  }
}
