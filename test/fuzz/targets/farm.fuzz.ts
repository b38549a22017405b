// Messages between the servers of a farm (native/wire/farm/farm-message.ts).
import { encodeFarmMessage, openFarmSync, readFarmMessage } from '../../../native/wire/farm/farm-message.js';
import { sameAfterRoundTrip } from '../support/contract.js';

const syncKey = Buffer.alloc(32, 7);

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const message = readFarmMessage(text);
  if (typeof message !== 'string') sameAfterRoundTrip('farm message', message, readFarmMessage(encodeFarmMessage(message)));
  openFarmSync(text, syncKey, 'farm', 'node');
}
