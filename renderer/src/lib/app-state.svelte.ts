// The one place the renderer follows the engine: it subscribes to the event stream first,
// reloads everything on each `reset` (first connect, or a restarted engine), and applies
// events to the state modules. A load that was in flight while events arrived re-applies
// them after its answer lands, so an older answer never hides a newer event.
import { BuddiesState } from './buddies-state.svelte.js';
import { CallMedia } from './call-media.js';
import { CallsState } from './calls-state.svelte.js';
import { ChatState } from './chat-state.svelte.js';
import type { ControlClient, ControlEvent, StreamItem } from './control-types.js';
import { DevicesState } from './devices-state.svelte.js';
import { DhtState } from './dht-state.svelte.js';
import { describeError } from './errors.js';
import { LanState } from './lan-state.svelte.js';
import { NatState } from './nat-state.svelte.js';
import { NodeState } from './node-state.svelte.js';
import { OverlayState } from './overlay-state.svelte.js';
import { RelayState } from './relay-state.svelte.js';
import { PhonesState } from './phones-state.svelte.js';
import { RescueState } from './rescue-state.svelte.js';
import { VoicemailState } from './voicemail-state.svelte.js';
import { StrangersState } from './strangers-state.svelte.js';

const JOURNAL_LIMIT = 500;

export class AppState {
  readonly node: NodeState;
  readonly chat: ChatState;
  readonly overlay: OverlayState;
  readonly calls: CallsState;
  readonly buddies: BuddiesState;
  readonly devices: DevicesState;
  readonly lan: LanState;
  readonly nat: NatState;
  readonly relay: RelayState;
  readonly phones: PhonesState;
  readonly rescue: RescueState;
  readonly voicemail: VoicemailState;
  readonly dht: DhtState;
  readonly strangers: StrangersState;
  /** Tones and call audio; App.svelte feeds it the call list as it changes. */
  readonly media: CallMedia;
  /** Why call audio is not fully working (e.g. no microphone), as a sentence. */
  audioProblem = $state<string | undefined>();
  /** The transport to the engine is up (always true over the Electron bridge). */
  connected = $state(false);
  /** The first full load finished. */
  ready = $state(false);
  loadError = $state<string | undefined>();

  private journal: ControlEvent[] = [];
  /** How many events came before journal[0]. */
  private journalOffset = 0;

  constructor(private readonly client: ControlClient) {
    this.node = new NodeState(client);
    this.overlay = new OverlayState(client);
    this.chat = new ChatState(client, this.consistent, () => this.overlay.status?.overlay);
    this.calls = new CallsState(client);
    this.buddies = new BuddiesState(client);
    this.devices = new DevicesState();
    this.lan = new LanState(client);
    this.nat = new NatState(client);
    this.relay = new RelayState(client);
    this.phones = new PhonesState(client);
    this.rescue = new RescueState(client);
    this.voicemail = new VoicemailState(client);
    this.dht = new DhtState(client);
    this.strangers = new StrangersState(client);
    this.media = new CallMedia(
      client,
      () => this.devices.forCall(),
      (problem) => (this.audioProblem = problem),
    );
    if (client.onConnection) {
      client.onConnection((up) => {
        this.connected = up;
        // A load cut off by a dropped connection is retried once it is back.
        if (up && this.loadError) void this.reload();
      });
    } else {
      this.connected = true;
    }
    client.subscribe(undefined, (item) => this.receive(item));
  }

  private receive(item: StreamItem): void {
    if (item.type === 'reset') {
      this.journalOffset += this.journal.length;
      this.journal = [];
      void this.reload();
      return;
    }
    this.journal.push(item);
    if (this.journal.length > JOURNAL_LIMIT) {
      this.journal.shift();
      this.journalOffset++;
    }
    this.apply(item);
    // Follow-up loads for what an event does not carry; never during a replay.
    if (item.type === 'identity.created' || item.type === 'service.state') void this.node.refreshStatus(this.consistent);
  }

  private apply(event: ControlEvent): void {
    this.node.apply(event);
    this.chat.apply(event);
    this.overlay.apply(event);
    this.calls.apply(event);
    this.buddies.apply(event);
    this.lan.apply(event);
    this.nat.apply(event);
    this.relay.apply(event);
    this.phones.apply(event);
    this.rescue.apply(event);
    this.voicemail.apply(event);
    this.dht.apply(event);
    this.strangers.apply(event);
  }

  private async reload(): Promise<void> {
    try {
      await Promise.all([this.node.load(this.consistent), this.chat.load(), this.overlay.load(this.consistent), this.calls.load(this.consistent), this.buddies.load(this.consistent), this.lan.load(this.consistent), this.nat.load(this.consistent), this.relay.load(this.consistent), this.phones.load(this.consistent), this.rescue.load(this.consistent), this.voicemail.load(this.consistent), this.dht.load(this.consistent), this.strangers.load(this.consistent)]);
      this.loadError = undefined;
      this.ready = true;
    } catch (error) {
      this.loadError = describeError(error);
    }
  }

  private readonly consistent = async <T>(load: () => Promise<T>, commit: (value: T) => void): Promise<void> => {
    const seenBefore = this.journalOffset + this.journal.length;
    const value = await load();
    commit(value);
    const from = seenBefore - this.journalOffset;
    if (from < 0) {
      // More events came than the journal keeps: the answer may be stale in ways we cannot replay.
      void this.reload();
      return;
    }
    for (const event of this.journal.slice(from)) this.apply(event);
  };
}
