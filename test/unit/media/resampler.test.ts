// Rate conversion between a call's codec rate and the devices' 48 kHz: pitch and level kept,
// 20 ms in gives 20 ms out, nothing above the lower rate's band folds back into it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resample, StreamResampler } from '../../../native/proto/media/resampler.js';

function tone(hz: number, rate: number, seconds: number, amplitude = 10_000): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)));
}

/** Amplitude of the `hz` component (single-bin DFT). */
function amplitudeAt(samples: Int16Array, hz: number, rate: number): number {
  let re = 0;
  let im = 0;
  for (let i = 0; i < samples.length; i++) {
    re += samples[i] * Math.cos((2 * Math.PI * hz * i) / rate);
    im += samples[i] * Math.sin((2 * Math.PI * hz * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / samples.length;
}

function inFrames(resampler: StreamResampler, signal: Int16Array, frame: number): { out: Int16Array; sizes: Set<number> } {
  const parts: Int16Array[] = [];
  for (let i = 0; i < signal.length; i += frame) parts.push(resampler.process(signal.subarray(i, i + frame)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return { out, sizes: new Set(parts.map((p) => p.length)) };
}

describe('resampler', () => {
  for (const [from, to, hz] of [
    [8000, 48000, 1000],
    [48000, 8000, 1000],
    [16000, 48000, 5000],
    [48000, 16000, 5000],
  ]) {
    it(`turns-20ms-at-${from}-into-20ms-at-${to}-keeping-a-${hz}-hz-tone`, () => {
      const { out, sizes } = inFrames(new StreamResampler(from, to), tone(hz, from, 1), from / 50);
      assert.deepEqual([...sizes], [to / 50]);
      const settled = out.subarray(to / 50);
      const level = amplitudeAt(settled, hz, to);
      assert.ok(Math.abs(level - 10_000) < 300, `${hz} Hz at ${level.toFixed(0)}`);
    });
  }

  it('keeps-a-6-khz-tone-out-of-an-8-khz-call', () => {
    // Sampled at 8 kHz without a filter, 6 kHz would sound as 2 kHz at full strength.
    const out = new StreamResampler(48000, 8000).process(tone(6000, 48000, 1));
    const alias = amplitudeAt(out.subarray(160), 2000, 8000);
    assert.ok(alias < 10_000 / 100, `2 kHz alias at ${alias.toFixed(0)}, want 40 dB down`);
  });

  it('converts-a-whole-signal-in-place-in-time', () => {
    const up = resample(tone(440, 8000, 0.5), 8000, 48000);
    assert.equal(up.length, 24000);
    const direct = tone(440, 48000, 0.5);
    let error = 0;
    for (let i = 480; i < 23_000; i++) error += Math.abs(up[i] - direct[i]);
    assert.ok(error / 22_520 < 50, `mean error ${(error / 22_520).toFixed(1)}: the filter's delay is taken out`);
  });

  it('refuses-a-rate-that-is-not-a-positive-whole-number', () => {
    assert.throws(() => new StreamResampler(0, 8000), RangeError);
    assert.throws(() => new StreamResampler(8000, 44100.5), RangeError);
  });
});
