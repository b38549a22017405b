// Overlay records as a peer stores or returns them (native/wire/overlay/record.ts): the shape
// check on JSON from the network, then what a store does with one that passes.
import { canonicalJson, parseRecord, recordBytes, recordSlotId, verifyRecord } from '../../../native/wire/overlay/record.js';
import { jsonOf, sameAfterRoundTrip } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  const input = jsonOf(data.toString('utf8'));
  const record = parseRecord(input);
  if (typeof record === 'string') return;
  verifyRecord(record);
  recordBytes(record);
  recordSlotId(record);
  canonicalJson(record);
  sameAfterRoundTrip('record', record, parseRecord(jsonOf(JSON.stringify(record))));
}
