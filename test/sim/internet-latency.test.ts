// The Internet latency model: deterministic from its seed, shaped like the published RTT
// distributions it was fitted to, metric (so proximity means something), and what SimNetwork
// delivers and reports as rtt().
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InternetLatencyModel, rttQuantiles } from './internet-latency.js';
import { joinInWaves } from './ring.js';
import { seededRandom, SimNetwork } from './sim-network.js';
import { measureStretch } from './stretch.js';

const addresses = Array.from({ length: 1_000 }, (_, i) => `sim:${i + 1}`);

describe('the Internet latency model', () => {
  it('places a node from the seed and its address alone, whatever order nodes are asked about', () => {
    const a = new InternetLatencyModel({ seed: 9 });
    const b = new InternetLatencyModel({ seed: 9 });
    const forward = addresses.slice(0, 50).map((x) => a.rtt(x, 'sim:999'));
    const backward = addresses.slice(0, 50).reverse().map((x) => b.rtt(x, 'sim:999')).reverse();
    assert.deepEqual(forward, backward);
    assert.notEqual(new InternetLatencyModel({ seed: 10 }).rtt('sim:1', 'sim:2'), a.rtt('sim:1', 'sim:2'));
  });

  it('gives round trips shaped like the King data set: median 60-90 ms, a tail to several hundred', () => {
    for (const seed of [1, 2, 3]) {
      const q = rttQuantiles(new InternetLatencyModel({ seed }), addresses, 50_000, seededRandom(seed));
      assert.ok(q.p50Ms >= 60 && q.p50Ms <= 90, `seed ${seed}: median ${q.p50Ms} ms`);
      assert.ok(q.p90Ms >= 130 && q.p90Ms <= 250, `seed ${seed}: p90 ${q.p90Ms} ms`);
      assert.ok(q.p99Ms >= 300 && q.p99Ms <= 600, `seed ${seed}: p99 ${q.p99Ms} ms`);
      assert.ok(q.p10Ms >= 10, `seed ${seed}: p10 ${q.p10Ms} ms`);
    }
  });

  it('is symmetric and keeps the triangle inequality', () => {
    const model = new InternetLatencyModel({ seed: 4 });
    const random = seededRandom(4);
    const pick = () => addresses[Math.floor(random() * addresses.length)];
    for (let i = 0; i < 2_000; i++) {
      const [a, b, c] = [pick(), pick(), pick()];
      assert.equal(model.rtt(a, b), model.rtt(b, a));
      assert.ok(model.rtt(a, c) <= model.rtt(a, b) + model.rtt(b, c) + 1e-9);
    }
  });

  it('is what SimNetwork delivers: a request and its answer take rtt(a, b)', async () => {
    const net = new SimNetwork({ random: seededRandom(5), latencyModel: new InternetLatencyModel({ seed: 5 }) });
    const a = net.addNode();
    const b = net.addNode();
    a.create();
    const startedAt = net.scheduler.now;
    await net.scheduler.until(a.handleRemote(b.self, 'ping', {}));
    assert.ok(Math.abs(net.scheduler.now - startedAt - net.rtt(a.self, b.self)) < 1e-6);
    a.stop();
  });
});

describe('lookup stretch', () => {
  it('measures lookup time plus the final exchange over the direct round trip', async () => {
    const random = seededRandom(6);
    const net = new SimNetwork({ random, latencyModel: new InternetLatencyModel({ seed: 6 }) });
    await joinInWaves(net, 100, random);
    await net.scheduler.runFor(10_000);
    const result = await measureStretch(net, 200, random);
    assert.equal(result.failed, 0);
    assert.equal(result.lookups + result.local, 200);
    for (const s of result.samples) {
      assert.ok(s.stretch >= 1);
      // Without jitter every hop's round trip is exact, so 0 hops means no time at all.
      if (s.hops === 0) assert.equal(s.lookupMs, 0);
    }
    assert.ok(result.p50 >= 1 && result.p50 <= result.p99);
    for (const n of net.live()) n.stop();
  });
});
