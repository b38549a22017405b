import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadMonitor, type LoadSample } from '../../../native/proto/rescue/load-monitor.js';

const CAPACITY = 10_000_000;

function sample(partial: Partial<LoadSample>): LoadSample {
  return { intervalMs: 1000, requests: 0, egressBytes: 0, cpu: 0, ...partial };
}

describe('load monitor', () => {
  it('reads zero before any sample', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY });
    assert.equal(m.current.load, 0);
  });

  it('converges on a steady load and reports the rates', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY });
    for (let i = 0; i < 10; i++) m.add(sample({ intervalMs: 500, requests: 50, egressBytes: 2_000_000, cpu: 0.09 }));
    const f = m.current;
    assert.ok(Math.abs(f.egressLoad - 0.4) < 1e-9);
    assert.ok(Math.abs(f.cpuLoad - 0.1) < 1e-9);
    assert.ok(Math.abs(f.load - 0.4) < 1e-9);
    assert.ok(Math.abs(f.requestsPerSecond - 100) < 1e-9);
    assert.ok(Math.abs(f.egressBytesPerSecond - 4_000_000) < 1e-6);
  });

  it('follows a step to at least 90% of it within 4 samples with alpha 0.5', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY, alpha: 0.5 });
    for (let i = 0; i < 5; i++) m.add(sample({ egressBytes: 1_000_000 }));
    const before = m.current.load;
    const after = 1.5;
    let load = before;
    for (let i = 0; i < 4; i++) load = m.add(sample({ egressBytes: after * CAPACITY })).load;
    assert.ok(load - before >= 0.9 * (after - before), `load ${load}`);
    assert.ok(load < after, 'but it is smoothed, not jumped');
  });

  it('reads past capacity from the demand when egress stops at the link\'s rate', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY });
    // The link carries its capacity and no more; the requests taken in need 1.6 times that.
    let f = m.add(sample({ egressBytes: CAPACITY, demandBytes: 1.6 * CAPACITY }));
    for (let i = 0; i < 6; i++) f = m.add(sample({ egressBytes: CAPACITY, demandBytes: 1.6 * CAPACITY }));
    assert.ok(Math.abs(f.egressLoad - 1) < 1e-9);
    assert.ok(Math.abs(f.demandLoad - 1.6) < 1e-9);
    assert.ok(Math.abs(f.load - 1.6) < 1e-9, `load ${f.load}: how far past capacity, which egress alone cannot show`);
    // No demand figure (an interval with nothing taken in) leaves egress as the measure.
    const plain = new LoadMonitor({ capacityBytesPerSecond: CAPACITY }).add(sample({ egressBytes: 0.5 * CAPACITY }));
    assert.equal(plain.load, 0.5);
  });

  it('takes the largest component as the load', () => {
    const egress = new LoadMonitor({ capacityBytesPerSecond: CAPACITY });
    assert.ok(Math.abs(egress.add(sample({ egressBytes: 8_000_000, cpu: 0.45, upstreamLatencyMs: 200 })).load - 0.8) < 1e-9);
    const cpu = new LoadMonitor({ capacityBytesPerSecond: CAPACITY, cpuHigh: 0.5 });
    assert.ok(Math.abs(cpu.add(sample({ egressBytes: 1_000_000, cpu: 0.6, upstreamLatencyMs: 200 })).load - 1.2) < 1e-9);
    const latency = new LoadMonitor({ capacityBytesPerSecond: CAPACITY, latencyHighMs: 500 });
    const f = latency.add(sample({ egressBytes: 1_000_000, cpu: 0.1, upstreamLatencyMs: 1000 }));
    assert.ok(Math.abs(f.load - 2) < 1e-9);
    assert.ok(Math.abs(f.latencyLoad - 2) < 1e-9);
  });

  it('counts an interval with no upstream request as no latency load', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY, alpha: 1 });
    m.add(sample({ upstreamLatencyMs: 2000 }));
    assert.equal(m.add(sample({})).latencyLoad, 0);
  });

  it('ignores a sample with no interval and treats junk numbers as zero', () => {
    const m = new LoadMonitor({ capacityBytesPerSecond: CAPACITY });
    m.add(sample({ egressBytes: 5_000_000 }));
    const before = m.current;
    assert.equal(m.add(sample({ intervalMs: 0, egressBytes: 1e12 })), before);
    const f = m.add(sample({ egressBytes: Number.NaN, cpu: Number.POSITIVE_INFINITY, upstreamLatencyMs: -5 }));
    assert.ok(Number.isFinite(f.load));
  });
});
