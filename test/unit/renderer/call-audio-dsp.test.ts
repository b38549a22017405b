import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUDIO_FRAME_BYTES, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE } from '../../../native/control/api.js';
import { ENGINE_SAMPLE_RATE, FRAME_BYTES, FRAME_SAMPLES } from '../../../renderer/src/lib/audio/frame-format.js';
import { FrameSlicer } from '../../../renderer/src/lib/audio/frame-slicer.js';
import { floatToInt16, int16ToFloat } from '../../../renderer/src/lib/audio/pcm.js';
import { PlayoutFifo } from '../../../renderer/src/lib/audio/playout-fifo.js';
import { StreamResampler } from '../../../renderer/src/lib/audio/resampler.js';

const sine = (frequency: number, rate: number, samples: number, amplitude = 0.5, phase = 0) =>
  Float32Array.from({ length: samples }, (_, n) => amplitude * Math.sin((2 * Math.PI * frequency * (n + phase)) / rate));

/** Runs a signal through the resampler in render-quantum blocks, as the worklet does. */
function resampleInBlocks(resampler: StreamResampler, signal: Float32Array, block = 128): Float32Array {
  const parts: number[] = [];
  for (let at = 0; at < signal.length; at += block) parts.push(...resampler.process(signal.subarray(at, at + block)));
  return Float32Array.from(parts);
}

const rms = (x: Float32Array) => Math.sqrt(x.reduce((sum, v) => sum + v * v, 0) / x.length);

/** Amplitude of `frequency` in `x` (a single-bin DFT), so a test can tell which tone is there. */
function toneAmplitude(x: Float32Array, frequency: number, rate: number): number {
  let re = 0;
  let im = 0;
  for (let n = 0; n < x.length; n++) {
    re += x[n] * Math.cos((2 * Math.PI * frequency * n) / rate);
    im -= x[n] * Math.sin((2 * Math.PI * frequency * n) / rate);
  }
  return (2 * Math.hypot(re, im)) / x.length;
}

describe('call audio: frame format', () => {
  it('matches the control API: 20 ms of 16-bit mono at 48 kHz', () => {
    assert.equal(ENGINE_SAMPLE_RATE, AUDIO_SAMPLE_RATE);
    assert.equal(FRAME_SAMPLES, AUDIO_FRAME_SAMPLES);
    assert.equal(FRAME_BYTES, AUDIO_FRAME_BYTES);
  });

  it('clips an overdriven signal instead of wrapping it around', () => {
    assert.deepEqual([...floatToInt16(Float32Array.from([1.5, -1.5, 0, 0.5]))], [32767, -32768, 0, 16384]);
    assert.deepEqual([...int16ToFloat(Int16Array.from([-32768, 0, 16384]))], [-1, 0, 0.5]);
  });
});

describe('call audio: resampling', () => {
  it('turns 48 kHz speech-band audio into 8 kHz at the same pitch and loudness, one sixth the samples', () => {
    const input = sine(440, 48_000, 48_000);
    const out = resampleInBlocks(new StreamResampler(48_000, 8_000), input);
    assert.ok(Math.abs(out.length - 8_000) <= 1, `got ${out.length} samples`);
    const settled = out.subarray(800);
    assert.ok(Math.abs(toneAmplitude(settled, 440, 8_000) - 0.5) < 0.03, `440 Hz at ${toneAmplitude(settled, 440, 8_000)}`);
  });

  it('keeps a tone above 4 kHz from folding back into the voice band when going down to 8 kHz', () => {
    // Without a filter, 6 kHz sampled at 8 kHz would sound as a 2 kHz tone at full strength.
    const out = resampleInBlocks(new StreamResampler(48_000, 8_000), sine(6_000, 48_000, 48_000));
    const alias = toneAmplitude(out.subarray(800), 2_000, 8_000);
    assert.ok(alias < 0.5 / 30, `2 kHz alias at ${alias}, want 30 dB below the input`);
  });

  it('brings 8 kHz up to 44.1 kHz without clicks at block edges', () => {
    const resampler = new StreamResampler(8_000, 44_100);
    const out = resampleInBlocks(resampler, sine(300, 8_000, 8_000), FRAME_SAMPLES);
    assert.ok(Math.abs(out.length - 44_100) <= 1, `got ${out.length} samples`);
    // A 300 Hz sine of amplitude 0.5 moves at most 2*pi*300*0.5/44100 (~0.021) per sample; a
    // discontinuity at a frame edge would show as a far larger step.
    let largestStep = 0;
    for (let i = 1; i < out.length; i++) largestStep = Math.max(largestStep, Math.abs(out[i] - out[i - 1]));
    assert.ok(largestStep < 0.03, `largest step ${largestStep}`);
    assert.ok(Math.abs(rms(out.subarray(1000)) - 0.5 / Math.SQRT2) < 0.01);
  });
});

describe('call audio: framing the microphone', () => {
  it('cuts 48 kHz samples arriving in uneven blocks into 960-sample frames, carrying the rest over', () => {
    const slicer = new FrameSlicer();
    const ramp = Float32Array.from({ length: 3000 }, (_, i) => i / 4000);
    const frames = [...slicer.push(ramp.subarray(0, 128)), ...slicer.push(ramp.subarray(128, 2100)), ...slicer.push(ramp.subarray(2100))];
    assert.equal(frames.length, 3); // 2880 of 3000 samples; 120 wait for the next block
    assert.ok(frames.every((f) => f.length === FRAME_SAMPLES));
    assert.equal(frames[1][0], floatToInt16(Float32Array.of(ramp[960]))[0]);
    assert.equal(frames[2][959], floatToInt16(Float32Array.of(ramp[2879]))[0]);
    const next = slicer.push(new Float32Array(840));
    assert.equal(next.length, 1);
    assert.equal(next[0][0], floatToInt16(Float32Array.of(ramp[2880]))[0]);
  });
});

describe('call audio: the speaker playout buffer', () => {
  const RATE = 48_000;
  const pull = (fifo: PlayoutFifo) => {
    const out = new Float32Array(128);
    fifo.pull(out);
    return out;
  };

  it('stays silent until about 60 ms are buffered, then plays the samples in order', () => {
    const fifo = new PlayoutFifo(RATE, 60);
    fifo.push(new Float32Array(960).fill(0.25)); // 20 ms
    assert.ok(pull(fifo).every((v) => v === 0));
    fifo.push(new Float32Array(1920).fill(0.25)); // now 60 ms
    assert.ok(pull(fifo).every((v) => v === 0.25));
    assert.equal(fifo.buffered, 2880 - 128);
  });

  it('plays silence on underrun, counts it, and waits to refill before playing again', () => {
    const fifo = new PlayoutFifo(RATE, 60);
    fifo.push(new Float32Array(2980).fill(0.5));
    for (let i = 0; i < 23; i++) pull(fifo);
    assert.equal(fifo.stats.underruns, 0);
    // 23 pulls took 2944 samples: the next one has 36 left, then silence.
    const short = pull(fifo);
    assert.equal(fifo.stats.underruns, 1);
    assert.ok(short.subarray(0, 36).every((v) => v === 0.5));
    assert.ok(short.subarray(36).every((v) => v === 0));
    fifo.push(new Float32Array(960).fill(0.5));
    assert.ok(pull(fifo).every((v) => v === 0), 'refills to the target before playing again');
  });

  it('drops the oldest audio when more than 200 ms piles up, so the delay returns to the target', () => {
    const fifo = new PlayoutFifo(RATE, 60, 200);
    for (let frame = 0; frame < 11; frame++) fifo.push(new Float32Array(960).fill(frame)); // 220 ms in one burst
    assert.equal(fifo.buffered, 2880, 'back to 60 ms');
    assert.equal(fifo.stats.droppedSamples, 8 * 960);
    // What is left is the newest audio: frames 8, 9 and 10.
    assert.equal(pull(fifo)[0], 8);
  });
});
