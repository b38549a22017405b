// What lies between this node and the internet, as the engine found it; kept current by
// `nat.changed` events (each carries the whole view).
import type { ConsistentLoad, ControlClient, ControlEvent, NatView } from './control-types.js';
import { describeError } from './errors.js';

export class NatState {
  view = $state<NatView | undefined>();
  unavailable = $state<string | undefined>();
  /** Why the last "Check again" failed, as a sentence. */
  checkError = $state<string | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('nat.status', {}),
        (view) => (this.view = view),
      );
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = describeError(error);
    }
  }

  apply(event: ControlEvent): void {
    if (event.type === 'nat.changed') this.view = event.data;
  }

  /** "Ask my router to open a port" on or off. */
  async setPortMapping(on: boolean): Promise<void> {
    this.checkError = undefined;
    try {
      this.view = await this.client.invoke('nat.configure', { portMapping: on });
    } catch (error) {
      this.checkError = describeError(error);
    }
  }

  async check(): Promise<void> {
    this.checkError = undefined;
    try {
      this.view = await this.client.invoke('nat.check', {});
    } catch (error) {
      this.checkError = describeError(error);
    }
  }
}
