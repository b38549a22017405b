// A call's audio on the page: the chosen microphone through the capture worklet to the engine,
// and the engine's speaker frames through the playback worklet to the chosen speaker.
import type { AudioChannel } from '../control-client.js';
import { microphoneConstraints } from '../voice-processing.js';
import workletUrl from './call-audio.worklet.ts?worker&url';

export interface CallAudioDevices {
  /** deviceId from enumerateDevices, or undefined for the system default. */
  microphone?: string;
  speaker?: string;
  /** false when the user turned echo cancellation off (Settings → Audio devices); on otherwise. */
  echoCancellation?: boolean;
}

/** What the audio could not do, in words a person understands. */
export type CallAudioProblem = string;

type SinkSettable = { setSinkId?(id: string): Promise<void> };

export class CallAudio {
  private context?: AudioContext;
  private stream?: MediaStream;
  private capture?: AudioWorkletNode;
  private playback?: AudioWorkletNode;
  private stopListening?: () => void;
  private stopped = false;

  constructor(private readonly channel: AudioChannel) {}

  /** Starts both directions; resolves with a problem sentence when the microphone is unavailable (the speaker still plays). */
  async start(devices: CallAudioDevices): Promise<CallAudioProblem | undefined> {
    const context = new AudioContext({ latencyHint: 'interactive' });
    this.context = context;
    await context.audioWorklet.addModule(workletUrl);
    if (this.stopped) return undefined;
    if (devices.speaker) await (context as unknown as SinkSettable).setSinkId?.(devices.speaker).catch(() => undefined);

    const playback = new AudioWorkletNode(context, 'peerdial-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    playback.connect(context.destination);
    this.playback = playback;
    // Frames go on to the worklet by transfer: the page keeps no copy.
    this.stopListening = this.channel.onAudio((frame) => playback.port.postMessage(frame, [frame]));

    let problem: CallAudioProblem | undefined;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: microphoneConstraints(devices.microphone, devices.echoCancellation ?? true) });
      if (this.stopped) {
        stream.getTracks().forEach((track) => track.stop());
        return undefined;
      }
      this.stream = stream;
      const capture = new AudioWorkletNode(context, 'peerdial-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
      capture.port.onmessage = (event: MessageEvent<ArrayBuffer>) => this.channel.sendAudio(event.data);
      context.createMediaStreamSource(stream).connect(capture);
      this.capture = capture;
    } catch (error) {
      problem = microphoneProblem(error);
    }
    if (context.state === 'suspended') await context.resume().catch(() => undefined);
    return problem;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    this.capture?.port.postMessage('stop');
    this.playback?.port.postMessage('stop');
    this.stream?.getTracks().forEach((track) => track.stop());
    await this.context?.close().catch(() => undefined);
  }
}

function microphoneProblem(error: unknown): CallAudioProblem {
  const name = (error as { name?: string })?.name;
  if (name === 'NotAllowedError') return 'Peerdial may not use the microphone: the other side will not hear you.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'The chosen microphone is not connected: the other side will not hear you.';
  return `The microphone could not be opened (${error instanceof Error ? error.message : String(error)}): the other side will not hear you.`;
}
