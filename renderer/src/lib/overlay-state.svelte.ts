// This node's place in the overlay: routing state, stored records and registration, kept
// current by `overlay.changed` events (each carries the whole status, so applying one is enough).
import type { ConsistentLoad, ControlClient, ControlEvent, LookupView, OverlayStatus } from './control-types.js';

export class OverlayState {
  status = $state<OverlayStatus | undefined>();

  constructor(private readonly client: ControlClient) {}

  load(consistent: ConsistentLoad): Promise<void> {
    return consistent(
      () => this.client.invoke('overlay.status', {}),
      (status) => (this.status = status),
    );
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'overlay.changed') this.status = event.data;
  }

  /** Throws the engine's refusal (INVALID_ARGUMENT for a malformed HOST:PORT). */
  async addBootstrap(address: string): Promise<void> {
    this.status = await this.client.invoke('overlay.addBootstrap', { address: address.trim() });
  }

  lookup(aor: string): Promise<LookupView> {
    return this.client.invoke('overlay.lookup', { aor: aor.trim() });
  }
}
