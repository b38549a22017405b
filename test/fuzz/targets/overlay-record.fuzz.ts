// Overlay records as a peer stores or returns them (native/wire/overlay/record.ts): the shape
// check on JSON from the network, then what a store does with one that passes.
import { canonicalJson, parseRecord, recordBytes, recordSlotId, verifyRecord } from '../../../native/wire/overlay/record.js';
import { holds, jsonOf } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  const input = jsonOf(data.toString('utf8'));
  const record = parseRecord(input);
  if (typeof record === 'string') return;
  verifyRecord(record);
  recordBytes(record);
  recordSlotId(record);
  // A record we relay (JSON.stringify) must parse again with the same canonical bytes, so that
  // its signature still verifies. Compared as canonical JSON, not as values: an unknown field
  // holding 1e400 (Infinity) or -0 is written as null or 0, and canonicalJson writes it so too.
  const again = parseRecord(jsonOf(JSON.stringify(record)));
  holds(typeof again !== 'string' && canonicalJson(again) === canonicalJson(record), `record does not round-trip: ${typeof again === 'string' ? again : canonicalJson(again)}`);
}
