// The user's audio devices as the engine sees them: microphone frames pushed by the UI, and
// speaker frames handed to whichever UI listens. Only the call in focus (answered, not held)
// is connected to them; `--play`/`--record` replace or add to them on a headless node.
import { DEVICE_SAMPLE_RATE, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import { FrameQueue } from '../../proto/media/frame-queue.js';
import { RateConverter } from '../../proto/media/resampler.js';

/** 3 frames (60 ms) of microphone backlog at most: more is latency nobody wants in a call. */
const MICROPHONE_BACKLOG_FRAMES = 3;

/** Shaped as the control API's AudioEndpoint, which the adapters take. */
export class UserAudio {
  readonly microphone = new FrameQueue(MICROPHONE_BACKLOG_FRAMES);
  private readonly speakers = new Set<(frame: Int16Array) => void>();

  /** A frame at the devices' rate (the control API's AUDIO_SAMPLE_RATE). */
  pushMicrophone(frame: Int16Array): void {
    this.microphone.push(frame, DEVICE_SAMPLE_RATE);
  }

  onSpeaker(listener: (frame: Int16Array) => void): () => void {
    this.speakers.add(listener);
    return () => this.speakers.delete(listener);
  }

  /** What the call in focus plays into, at the devices' rate: every listening UI, and the recording if there is one. */
  speakerSink(recorder?: AudioSink): AudioSink {
    const converter = new RateConverter();
    return {
      write: (frame, sampleRate) => {
        if (this.speakers.size === 0 && !recorder) return;
        const device = converter.convert(frame, sampleRate, DEVICE_SAMPLE_RATE);
        for (const listener of this.speakers) listener(device);
        recorder?.write(device, DEVICE_SAMPLE_RATE);
      },
    };
  }
}

/** The echo test's loop: what it hears it sends back, one queue long. */
export function echoLoop(): { source: AudioSource; sink: AudioSink } {
  const queue = new FrameQueue(MICROPHONE_BACKLOG_FRAMES);
  return { source: queue, sink: { write: (frame, sampleRate) => queue.push(frame, sampleRate) } };
}
