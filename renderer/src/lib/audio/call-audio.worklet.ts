// The AudioWorklet side of a call, in the audio rendering thread. Built by Vite as its own
// module (imported with `?worker&url` in call-audio.ts), loaded from our own origin, so the
// CSP's `script-src 'self'` covers it.
//   peerdial-capture:  microphone -> 48 kHz mono (the engine's rate) -> 20 ms Int16 frames, posted (transferred) to the page.
//   peerdial-playback: 20 ms Int16 frames from the page -> device rate -> playout FIFO -> speaker.
import { ENGINE_SAMPLE_RATE, FRAME_SAMPLES } from './frame-format.js';
import { FrameSlicer } from './frame-slicer.js';
import { int16ToFloat } from './pcm.js';
import { PlayoutFifo } from './playout-fifo.js';
import { StreamResampler } from './resampler.js';

// The AudioWorkletGlobalScope's own names (TypeScript's DOM library does not describe that scope).
declare const sampleRate: number;
declare const AudioWorkletProcessor: new () => { readonly port: MessagePort };
declare function registerProcessor(
  name: string,
  processor: new () => { readonly port: MessagePort; process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean },
): void;

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly resampler = new StreamResampler(sampleRate, ENGINE_SAMPLE_RATE);
  private readonly slicer = new FrameSlicer();
  private running = true;

  constructor() {
    super();
    this.port.onmessage = (event: MessageEvent) => {
      if (event.data === 'stop') this.running = false;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!this.running) return false;
    if (!channels || channels.length === 0) return true;
    // Mono: the first channel (a microphone rarely gives more than one that matters).
    for (const frame of this.slicer.push(this.resampler.process(channels[0]))) {
      this.port.postMessage(frame.buffer, [frame.buffer]);
    }
    return true;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly resampler = new StreamResampler(ENGINE_SAMPLE_RATE, sampleRate);
  private readonly fifo = new PlayoutFifo(sampleRate);
  private running = true;

  constructor() {
    super();
    this.port.onmessage = (event: MessageEvent) => {
      if (event.data === 'stop') {
        this.running = false;
        return;
      }
      if (event.data instanceof ArrayBuffer && event.data.byteLength === FRAME_SAMPLES * 2) {
        this.fifo.push(this.resampler.process(int16ToFloat(new Int16Array(event.data))));
      }
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (!this.running) return false;
    const channels = outputs[0];
    if (!channels || channels.length === 0) return true;
    this.fifo.pull(channels[0]);
    for (let c = 1; c < channels.length; c++) channels[c].set(channels[0]);
    return true;
  }
}

registerProcessor('peerdial-capture', CaptureProcessor);
registerProcessor('peerdial-playback', PlaybackProcessor);
