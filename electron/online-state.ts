// Online or offline, for the tray: online while the engine runs and every one of its services
// is running. Fed by node.status (on start and after a reset) and service.state events.
import type { NodeStatus, ServiceState, StreamItem } from '../native/control/api.js';

export class OnlineState {
  private readonly services = new Map<string, ServiceState>();
  private engineRunning = false;
  private last = false;

  constructor(private readonly onChange: (online: boolean) => void) {}

  get online(): boolean {
    return this.last;
  }

  fromStatus(status: NodeStatus): void {
    this.engineRunning = true;
    this.services.clear();
    for (const service of status.services) this.services.set(service.name, service.state);
    this.update();
  }

  /** Returns 'reload' when the stream was reset and the caller should fetch node.status again. */
  apply(item: StreamItem): 'reload' | undefined {
    switch (item.type) {
      case 'reset':
        return 'reload';
      case 'node.status':
        this.fromStatus(item.data);
        return undefined;
      case 'service.state':
        this.services.set(item.data.name, item.data.state);
        this.update();
        return undefined;
      default:
        return undefined;
    }
  }

  engineStopped(): void {
    this.engineRunning = false;
    this.services.clear();
    this.update();
  }

  private update(): void {
    const online = this.engineRunning && this.services.size > 0 && [...this.services.values()].every((state) => state === 'running');
    if (online === this.last) return;
    this.last = online;
    this.onChange(online);
  }
}
