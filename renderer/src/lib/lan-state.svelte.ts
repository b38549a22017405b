// The LAN as this node sees it: peers found and how, configuration offers and the user's
// decisions about them, and what this node shares; kept current by `lan.changed` events (each
// carries the whole view). An engine without the LAN commands leaves the rest of the app working.
import type { ConsistentLoad, ControlClient, ControlEvent, LanView, SharedConfig } from './control-types.js';
import { describeError } from './errors.js';

export class LanState {
  view = $state<LanView | undefined>();
  /** Why the LAN view could not be loaded, as a sentence. */
  unavailable = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('lan.status', {}),
        (view) => (this.view = view),
      );
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'lan.changed') this.view = event.data;
  }

  /** Throws the engine's refusal (INVALID_ARGUMENT with what is wrong in the settings). */
  async share(config: SharedConfig | null): Promise<void> {
    this.view = await this.client.invoke('lan.share', { config });
  }

  async accept(signerFingerprint: string): Promise<void> {
    this.view = await this.client.invoke('lan.acceptOffer', { signerFingerprint });
  }

  async stopFollowing(signerFingerprint: string): Promise<void> {
    this.view = await this.client.invoke('lan.stopFollowing', { signerFingerprint });
  }
}
