// Signed configuration offers from another node on the LAN (native/wire/lan/config-offer.ts).
import { checkOfferedConfig, encodeConfigOffer, readConfigOffer } from '../../../native/wire/lan/config-offer.js';
import { jsonOf, sameAfterRoundTrip } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const reading = readConfigOffer(text);
  if (reading.kind === 'valid') sameAfterRoundTrip('config offer', reading, readConfigOffer(encodeConfigOffer(reading.offer)));
  checkOfferedConfig(jsonOf(text));
}
