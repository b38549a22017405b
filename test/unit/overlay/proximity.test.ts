import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inFingerInterval, nearestCandidate, RttEstimates } from '../../../native/proto/overlay/proximity.js';
import { idFromHex, idToHex, RING_SIZE } from '../../../native/wire/overlay/node-id.js';

const at = (fraction: number) => ({ id: idToHex(BigInt(Math.floor(fraction * 1e6)) * (RING_SIZE / 1_000_000n)), host: '127.0.0.1', port: Math.round(fraction * 1e4) });

describe('proximity neighbour selection', () => {
  it('smooths RTT samples and forgets a node', () => {
    const rtts = new RttEstimates();
    rtts.sample('a', 100);
    assert.equal(rtts.get('a'), 100);
    rtts.sample('a', 20);
    assert.equal(rtts.get('a'), 80);
    rtts.sample('a', Number.NaN);
    assert.equal(rtts.get('a'), 80);
    rtts.forget('a');
    assert.equal(rtts.get('a'), undefined);
  });

  it('tells whether a node lies in a finger interval, across zero too', () => {
    const start = idFromHex(at(0.9).id)!;
    const end = idFromHex(at(0.1).id)!;
    assert.ok(inFingerInterval(at(0.9), start, end));
    assert.ok(inFingerInterval(at(0.95), start, end));
    assert.ok(inFingerInterval(at(0.05), start, end));
    assert.ok(!inFingerInterval(at(0.1), start, end));
    assert.ok(!inFingerInterval(at(0.5), start, end));
  });

  it('prefers the nearest measured candidate, and the first when none is measured', () => {
    const rtts = new RttEstimates();
    const [a, b, c] = [at(0.2), at(0.21), at(0.22)];
    assert.equal(nearestCandidate([a, b, c], rtts)?.id, a.id);
    rtts.sample(c.id, 40);
    rtts.sample(b.id, 90);
    assert.equal(nearestCandidate([a, b, c], rtts)?.id, c.id);
    assert.equal(nearestCandidate([], rtts), undefined);
  });
});
