// This node: its identity and status (SIP contact, services, online).
import type { ConsistentLoad, ControlClient, ControlEvent, IdentityView, NodeStatus } from './control-types.js';

export class NodeState {
  identity = $state<IdentityView | null>(null);
  status = $state<NodeStatus | undefined>();

  constructor(private readonly client: ControlClient) {}

  async load(consistent: ConsistentLoad): Promise<void> {
    await Promise.all([
      consistent(
        () => this.client.invoke('identity.get', {}),
        (identity) => (this.identity = identity),
      ),
      this.refreshStatus(consistent),
    ]);
  }

  refreshStatus(consistent: ConsistentLoad): Promise<void> {
    return consistent(
      () => this.client.invoke('node.status', {}),
      (status) => (this.status = status),
    );
  }

  async createIdentity(displayName: string, userName: string): Promise<void> {
    this.identity = await this.client.invoke('identity.create', { displayName, userName });
  }

  /** An identity moved from another computer: its encrypted backup file's text and passphrase. */
  async importIdentity(backup: string, passphrase: string): Promise<void> {
    this.identity = await this.client.invoke('identity.import', { backup, passphrase });
  }

  /** The encrypted backup of this identity, as a file name and its text. */
  exportIdentity(passphrase: string): Promise<{ fileName: string; backup: string }> {
    return this.client.invoke('identity.export', { passphrase });
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    switch (event.type) {
      case 'identity.created':
        this.identity = event.data;
        break;
      case 'node.status':
        this.status = event.data;
        break;
      case 'service.state': {
        const services = this.status?.services;
        if (!services) break;
        const i = services.findIndex((s) => s.name === event.data.name);
        if (i >= 0) services[i] = event.data;
        else services.push(event.data);
        break;
      }
    }
  }
}
