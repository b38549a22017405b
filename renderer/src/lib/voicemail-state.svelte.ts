// Voice messages as this page shows them: the one being left (tone, recording, sending), the one
// playing, and Settings → Voicemail with how many wait unheard. Kept current by the
// voicemail.recording and voicemail.playback events; a voice message arriving or heard changes
// the unheard count, so message events refresh the settings view.
import type { ConsistentLoad, ControlClient, ControlEvent, PlaybackView, RecordingView, VoicemailSettings, VoicemailView } from './control-types.js';
import { describeError } from './errors.js';

/** How long "Voice message sent" stays on screen. */
export const SENT_SHOWN_MS = 5_000;

export class VoicemailState {
  recording = $state<RecordingView | undefined>();
  playback = $state<PlaybackView | undefined>();
  settings = $state<VoicemailView | undefined>();
  /** The last refusal of a voicemail command, as a sentence. */
  problem = $state<string | undefined>();
  /** The user's own greeting is playing (the engine sends no events for it: its length says how long). */
  previewing = $state(false);

  constructor(private readonly client: ControlClient) {}

  /** The microphone or speaker is in use for a voice message: the page's audio must run. */
  get active(): boolean {
    const r = this.recording?.state;
    return r === 'greeting' || r === 'recording' || this.playback?.playing === true || this.previewing;
  }

  async load(consistent: ConsistentLoad): Promise<void> {
    try {
      await consistent(
        () => this.client.invoke('voicemail.settings', {}),
        (view) => (this.settings = view),
      );
    } catch (error) {
      this.problem = describeError(error);
    }
  }

  /** Pure state change; safe to apply the same event twice. */
  apply(event: ControlEvent): void {
    if (event.type === 'voicemail.recording') this.showRecording(event.data);
    else if (event.type === 'voicemail.playback') this.playback = event.data.playing ? event.data : undefined;
    else if ((event.type === 'message.added' || event.type === 'message.updated') && event.data.voice && event.data.direction === 'in') void this.refreshCounts();
  }

  async record(to: string): Promise<boolean> {
    return this.run(async () => this.showRecording(await this.client.invoke('voicemail.record', { to })));
  }

  async recordGreeting(): Promise<boolean> {
    return this.run(async () => this.showRecording(await this.client.invoke('voicemail.recordGreeting', {})));
  }

  async playGreeting(): Promise<boolean> {
    return this.run(async () => {
      // The page's audio must run before the engine's frames come.
      this.previewing = true;
      try {
        await this.client.invoke('voicemail.playGreeting', {});
      } catch (error) {
        this.previewing = false;
        throw error;
      }
      setTimeout(() => (this.previewing = false), (this.settings?.greeting?.durationMs ?? 0) + 500);
    });
  }

  async clearGreeting(): Promise<boolean> {
    return this.run(async () => {
      this.settings = await this.client.invoke('voicemail.clearGreeting', {});
    });
  }

  async finish(): Promise<boolean> {
    const id = this.recording?.id;
    return id ? this.run(async () => this.showRecording(await this.client.invoke('voicemail.finish', { id }))) : false;
  }

  async cancel(): Promise<boolean> {
    const id = this.recording?.id;
    return id ? this.run(async () => this.showRecording(await this.client.invoke('voicemail.cancel', { id }))) : false;
  }

  async play(messageId: number): Promise<boolean> {
    return this.run(async () => {
      const view = await this.client.invoke('voicemail.play', { messageId });
      this.playback = view.playing ? view : undefined;
    });
  }

  async stop(): Promise<boolean> {
    return this.run(async () => {
      await this.client.invoke('voicemail.stop', {});
      this.playback = undefined;
    });
  }

  /** Throws the engine's refusal (e.g. a ring time out of range), in its words. */
  async configure(change: Partial<VoicemailSettings>): Promise<void> {
    this.settings = await this.client.invoke('voicemail.configure', change);
  }

  dismissProblem(): void {
    this.problem = undefined;
  }

  private showRecording(view: RecordingView): void {
    if (this.recording && this.recording.id === view.id && isFinal(this.recording.state) && !isFinal(view.state)) return;
    this.recording = view;
    if (view.kind === 'greeting' && view.state === 'sent') void this.refreshCounts();
    if (view.state === 'sent' || view.state === 'cancelled') {
      setTimeout(() => {
        if (this.recording?.id === view.id && this.recording.state === view.state) this.recording = undefined;
      }, view.state === 'sent' ? SENT_SHOWN_MS : 0);
    }
  }

  private async refreshCounts(): Promise<void> {
    try {
      this.settings = await this.client.invoke('voicemail.settings', {});
    } catch {
      // the next event or load tries again
    }
  }

  private async run(command: () => Promise<void>): Promise<boolean> {
    try {
      await command();
      this.problem = undefined;
      return true;
    } catch (error) {
      this.problem = describeError(error);
      return false;
    }
  }
}

function isFinal(state: RecordingView['state']): boolean {
  return state === 'sent' || state === 'failed' || state === 'cancelled';
}
