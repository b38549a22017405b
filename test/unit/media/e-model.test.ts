import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delayImpairment, estimateMos, lossImpairment, mosFromR } from '../../../native/proto/media/e-model.js';

describe('E-model MOS estimate (ITU-T G.107, simplified)', () => {
  it('maps R to MOS as G.107 Annex B does', () => {
    assert.equal(mosFromR(0), 1);
    assert.equal(mosFromR(100), 4.5);
    assert.ok(Math.abs(mosFromR(93.2) - 4.41) < 0.01);
    assert.ok(Math.abs(mosFromR(50) - 2.58) < 0.01);
  });

  it('grows the delay impairment faster past 177.3 ms one way', () => {
    assert.ok(Math.abs(delayImpairment(100) - 2.4) < 1e-9);
    assert.ok(delayImpairment(300) - delayImpairment(200) > 10 * (delayImpairment(150) - delayImpairment(140)));
  });

  it('G.711 with concealment: 1% random loss costs about 3.6 points of R, 5% about 15', () => {
    assert.ok(Math.abs(lossImpairment('PCMU', 0.01) - 3.63) < 0.05);
    assert.ok(Math.abs(lossImpairment('PCMA', 0.05) - 15.8) < 0.1);
  });

  it('a clean loopback call rates excellent; loss and delay bring it down', () => {
    const clean = estimateMos({ codec: 'PCMU', lossFraction: 0, jitterMs: 0.5, rttMs: 1 });
    assert.ok(clean >= 4.3, `clean: ${clean}`);
    const lossy = estimateMos({ codec: 'PCMU', lossFraction: 0.08, jitterMs: 20, rttMs: 150 });
    assert.ok(lossy < 3.6, `lossy: ${lossy}`);
    const far = estimateMos({ codec: 'PCMU', lossFraction: 0, jitterMs: 5, rttMs: 600 });
    assert.ok(far < clean && far < 4.0, `far: ${far}`);
  });
});
