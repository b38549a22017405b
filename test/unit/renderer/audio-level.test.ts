import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meterLevel, rmsDbfs } from '../../../renderer/src/lib/audio/level.js';

const sine = (amplitude: number) => Float32Array.from({ length: 2048 }, (_, i) => amplitude * Math.sin((2 * Math.PI * 440 * i) / 48000));

describe('input level meter', () => {
  it('reads a full-scale sine at -3 dBFS and half scale 6 dB lower', () => {
    assert.ok(Math.abs(rmsDbfs(sine(1)) + 3.01) < 0.05);
    assert.ok(Math.abs(rmsDbfs(sine(0.5)) + 9.03) < 0.05);
  });

  it('shows silence as empty, a voice in the middle, and never more than full', () => {
    assert.equal(meterLevel(new Float32Array(2048)), 0);
    assert.equal(meterLevel(sine(0.0005)), 0, 'below -60 dBFS');
    const voice = meterLevel(sine(0.05));
    assert.ok(voice > 0.4 && voice < 0.7, `voice at ${voice}`);
    assert.ok(meterLevel(Float32Array.from({ length: 64 }, () => 1)) === 1);
  });
});
