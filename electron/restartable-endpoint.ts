// The one ControlEndpoint the window talks to, while the engine process behind it may be
// restarted after a crash. Subscriptions outlive a restart: each is re-made on the new engine
// from the last event it saw, and since the epoch changed, the window gets a `reset` and reloads.
// The speaker follows the same way: a window listening for audio hears the new engine's calls.
import { ControlError, type AudioEndpoint, type CommandName, type ControlEndpoint, type ParamsOf, type ResultOf, type StreamItem } from '../native/control/api.js';
import type { EventCursor } from './engine-channel.js';

interface Follower {
  listener: (item: StreamItem) => void;
  cursor?: EventCursor;
  stop?: () => void;
}

export class RestartableEndpoint implements ControlEndpoint, AudioEndpoint {
  private current?: ControlEndpoint & AudioEndpoint;
  private readonly followers = new Set<Follower>();
  private readonly speakerListeners = new Set<(frame: Int16Array) => void>();
  private stopSpeaker?: () => void;

  /** Puts a freshly started engine behind this endpoint. */
  attach(endpoint: ControlEndpoint & AudioEndpoint): void {
    this.detach();
    this.current = endpoint;
    for (const follower of this.followers) this.follow(follower);
    if (this.speakerListeners.size > 0) this.followSpeaker();
  }

  /** The engine is gone; calls fail with UNAVAILABLE until the next attach. */
  detach(): void {
    this.current = undefined;
    this.stopSpeaker?.();
    this.stopSpeaker = undefined;
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

  /** Dropped while no engine runs: there is no call to hear it. */
  pushMicrophone(frame: Int16Array): void {
    this.current?.pushMicrophone(frame);
  }

  onSpeaker(listener: (frame: Int16Array) => void): () => void {
    this.speakerListeners.add(listener);
    if (this.speakerListeners.size === 1 && this.current) this.followSpeaker();
    return () => {
      if (!this.speakerListeners.delete(listener) || this.speakerListeners.size > 0) return;
      this.stopSpeaker?.();
      this.stopSpeaker = undefined;
    };
  }

  private followSpeaker(): void {
    this.stopSpeaker?.();
    this.stopSpeaker = this.current!.onSpeaker((frame) => {
      for (const listener of this.speakerListeners) listener(frame);
    });
  }

  private follow(follower: Follower): void {
    follower.stop = this.current!.subscribe(follower.cursor, (item) => {
      follower.cursor = { epoch: item.epoch, seq: item.seq };
      follower.listener(item);
    });
  }
}
