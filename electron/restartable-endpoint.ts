// The one ControlEndpoint the window talks to, while the engine process behind it may be
// restarted after a crash. Subscriptions outlive a restart: each is re-made on the new engine
// from the last event it saw, and since the epoch changed, the window gets a `reset` and reloads.
import { ControlError, type CommandName, type ControlEndpoint, type ParamsOf, type ResultOf, type StreamItem } from '../native/control/api.js';
import type { EventCursor } from './engine-channel.js';

interface Follower {
  listener: (item: StreamItem) => void;
  cursor?: EventCursor;
  stop?: () => void;
}

export class RestartableEndpoint implements ControlEndpoint {
  private current?: ControlEndpoint;
  private readonly followers = new Set<Follower>();

  /** Puts a freshly started engine behind this endpoint. */
  attach(endpoint: ControlEndpoint): void {
    this.detach();
    this.current = endpoint;
    for (const follower of this.followers) this.follow(follower);
  }

  /** The engine is gone; calls fail with UNAVAILABLE until the next attach. */
  detach(): void {
    this.current = undefined;
    for (const follower of this.followers) {
      follower.stop?.();
      follower.stop = undefined;
    }
  }

  invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>> {
    if (!this.current) return Promise.reject(new ControlError('UNAVAILABLE', 'The Peerdial engine is not running; it is being restarted.'));
    return this.current.invoke(name, params);
  }

  subscribe(since: EventCursor | undefined, listener: (item: StreamItem) => void): () => void {
    const follower: Follower = { listener, cursor: since };
    this.followers.add(follower);
    if (this.current) this.follow(follower);
    return () => {
      follower.stop?.();
      this.followers.delete(follower);
    };
  }

  private follow(follower: Follower): void {
    follower.stop = this.current!.subscribe(follower.cursor, (item) => {
      follower.cursor = { epoch: item.epoch, seq: item.seq };
      follower.listener(item);
    });
  }
}
