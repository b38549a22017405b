import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeBatches } from '../../../native/proto/overlay/chord-node.js';
import type { OverlayRecord } from '../../../native/wire/overlay/record.js';

function record(i: number, padding: number): OverlayRecord {
  return { type: 'binding', key: 'a'.repeat(40), owner: 'o', slot: String(i), seq: 1, expires: 0, value: { user: 'u', overlay: 'x', contact: 'sip:u@h' + 'p'.repeat(padding) }, sig: 's' } as OverlayRecord;
}

describe('store batches', () => {
  it('keeps every store request well inside one SIP message, however large the records', () => {
    const big = Array.from({ length: 10 }, (_, i) => record(i, 20_000));
    const batches = storeBatches(big);
    assert.equal(batches.flat().length, 10, 'no record is lost');
    for (const b of batches) assert.ok(Buffer.byteLength(JSON.stringify(b)) < 60_000, `a batch of ${Buffer.byteLength(JSON.stringify(b))} bytes`);
  });

  it('still sends small records 200 at a time', () => {
    const small = Array.from({ length: 450 }, (_, i) => record(i, 0));
    assert.deepEqual(storeBatches(small).map((b) => b.length), [200, 200, 50]);
  });
});
