// "Check microphone" in Settings: the chosen microphone, with the same echo cancellation, noise
// suppression and gain control calls use (voice-processing.ts), feeding a level meter until the user stops it.
import { meterLevel } from './audio/level.js';
import { microphoneConstraints } from './voice-processing.js';

export class MicrophoneCheck {
  level = $state(0);
  running = $state(false);
  problem = $state<string | undefined>();
  private stream?: MediaStream;
  private context?: AudioContext;
  private frame = 0;

  async start(microphone: string | undefined, echoCancellation = true): Promise<void> {
    if (this.running) return;
    this.problem = undefined;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: microphoneConstraints(microphone, echoCancellation) });
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(stream).connect(analyser);
      [this.stream, this.context, this.running] = [stream, context, true];
      const block = new Float32Array(analyser.fftSize);
      const read = () => {
        if (!this.running) return;
        analyser.getFloatTimeDomainData(block);
        this.level = meterLevel(block);
        this.frame = requestAnimationFrame(read);
      };
      read();
    } catch (error) {
      const name = (error as { name?: string })?.name;
      this.problem = name === 'NotAllowedError' ? 'Peerdial may not use the microphone.' : name === 'NotFoundError' || name === 'OverconstrainedError' ? 'The chosen microphone is not connected.' : 'The microphone could not be opened.';
    }
  }

  stop(): void {
    this.running = false;
    cancelAnimationFrame(this.frame);
    this.stream?.getTracks().forEach((track) => track.stop());
    void this.context?.close().catch(() => undefined);
    [this.stream, this.context, this.level] = [undefined, undefined, 0];
  }
}
