import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LossConcealer } from '../../../native/proto/media/loss-concealment.js';

const energy = (frame: Int16Array) => frame.reduce((sum, s) => sum + s * s, 0);

describe('loss concealment', () => {
  it('repeats-the-last-frame-with-fading-gain-then-falls-silent-after-60-ms', () => {
    const plc = new LossConcealer();
    const voice = Int16Array.from({ length: 160 }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 200 * i) / 8000)));
    plc.received(voice);
    const first = plc.conceal(160);
    const second = plc.conceal(160);
    const third = plc.conceal(160);
    const fourth = plc.conceal(160);
    assert.equal(first[0], voice[0]);
    assert.ok(Math.abs(first[40] - voice[40] * (1 - 40 / 480)) <= 1);
    assert.ok(energy(first) > energy(second) && energy(second) > energy(third) && energy(third) > 0);
    assert.equal(energy(fourth), 0);
  });

  it('starts-afresh-after-a-received-frame', () => {
    const plc = new LossConcealer();
    const frame = new Int16Array(160).fill(1000);
    plc.received(frame);
    plc.conceal(160);
    plc.conceal(160);
    assert.ok(plc.concealing);
    plc.received(frame);
    assert.equal(plc.concealing, false);
    assert.equal(plc.conceal(160)[0], 1000);
  });

  it('conceals-with-silence-when-nothing-was-heard-yet', () => {
    assert.equal(energy(new LossConcealer().conceal(160)), 0);
  });
});
