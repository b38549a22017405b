import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeReceipt, MAX_RECEIPT_IDS, parseReceipt } from '../../../native/wire/im/receipt.js';

describe('receipt bodies', () => {
  it('round-trip delivered and read receipts', () => {
    for (const kind of ['delivered', 'read'] as const) {
      const receipt = { kind, callIds: ['a1@127.0.0.1', 'b2@127.0.0.1'] };
      assert.deepEqual(parseReceipt(encodeReceipt(receipt)), receipt);
    }
    assert.equal(encodeReceipt({ kind: 'read', callIds: ['x'] }), '{"read":["x"]}');
  });

  it('refuse bodies that are not receipts', () => {
    for (const body of ['', 'read', '[]', '{}', '{"read":[]}', '{"seen":["x"]}', '{"read":[1]}', '{"read":["x"],"delivered":["y"]}', JSON.stringify({ read: Array(MAX_RECEIPT_IDS + 1).fill('x') })]) {
      assert.equal(parseReceipt(body), undefined, body.slice(0, 40));
    }
  });
});
