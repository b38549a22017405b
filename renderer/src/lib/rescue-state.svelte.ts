// "Help rescue sites" as this node does it: what it gives, whether it is advertised, the sites
// it helps and what it served; kept current by `rescue.changed` events (each carries the whole
// view, once a second while rescuing). An engine without the rescue commands leaves the rest of
// the app working and the Rescue screen says why it is empty.
import type { ConsistentLoad, ControlClient, ControlEvent, RescueSettings, RescueView } from './control-types.js';
import { describeError } from './errors.js';

export class RescueState {
  view = $state<RescueView | undefined>();
  /** Why the rescue view could not be loaded, as a sentence. */
  unavailable = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('rescue.status', {}),
        (view) => (this.view = view),
      );
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'rescue.changed') {
      this.view = event.data;
      this.unavailable = undefined;
    }
  }

  /**
   * Switches helping on or off, or sets what to give. Throws the engine's refusal
   * (INVALID_ARGUMENT with what is wrong, in its own words).
   */
  async configure(settings: Partial<RescueSettings>): Promise<void> {
    this.view = await this.client.invoke('rescue.configure', settings);
    this.unavailable = undefined;
  }
}
