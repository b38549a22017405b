// Sound for calls on this page: the tone that fits the calls now (ring, ringback, call waiting)
// and the microphone and speaker while a call is connected. update() is called with every change
// of the call list and starts or stops only what changed.
import { CallAudio, type CallAudioDevices } from './audio/call-audio.js';
import { CallTone } from './audio/call-tones.js';
import type { AudioChannel } from './control-client.js';
import { toneFor, wantsCallAudio } from './call-roles.js';
import type { CallView } from './control-types.js';

export class CallMedia {
  private tone?: CallTone;
  private audio?: CallAudio;

  constructor(
    private readonly channel: AudioChannel,
    private readonly devices: () => CallAudioDevices,
    private readonly onProblem: (problem: string | undefined) => void,
  ) {}

  /** `voicemail`: a voice message is being left or played, which needs the microphone and speaker as a call does. */
  update(calls: readonly CallView[], voicemail = false): void {
    const tone = toneFor(calls);
    if (tone !== this.tone?.name) {
      this.tone?.stop();
      this.tone = undefined;
      if (tone) {
        this.tone = new CallTone(tone, this.devices().speaker);
        this.tone.start();
      }
    }

    const wantAudio = wantsCallAudio(calls) || voicemail;
    if (wantAudio && !this.audio) {
      const audio = new CallAudio(this.channel);
      this.audio = audio;
      // A start that finishes after its call ended (stop() closed the audio under it) reports nothing.
      const report = (problem: string | undefined) => {
        if (this.audio === audio) this.onProblem(problem);
      };
      audio.start(this.devices()).then(report, (error: unknown) =>
        report(`Call audio could not start: ${error instanceof Error ? error.message : String(error)}`),
      );
    } else if (!wantAudio && this.audio) {
      void this.audio.stop();
      this.audio = undefined;
      this.onProblem(undefined);
    }
  }

  stop(): void {
    this.update([]);
  }
}
