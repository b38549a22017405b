// Presence bodies from buddies (native/wire/presence): PIDF documents in NOTIFY/PUBLISH,
// buddy requests and answers in MESSAGE, Contact header values.
import { parseBuddyMessage, encodeBuddyMessage } from '../../../native/wire/presence/buddy-message.js';
import { firstContactUri } from '../../../native/wire/presence/contact-header.js';
import { buildPidf, parsePidf } from '../../../native/wire/presence/pidf.js';
import { jsonOf, sameAfterRoundTrip } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const doc = parsePidf(text);
  // We always write a timestamp: a document without one cannot come back the same.
  if (doc?.at !== undefined) sameAfterRoundTrip('PIDF document', doc, parsePidf(buildPidf({ ...doc, at: doc.at })));
  const buddy = parseBuddyMessage(text);
  if (typeof buddy !== 'string') sameAfterRoundTrip('buddy message', buddy, parseBuddyMessage(encodeBuddyMessage(buddy)));
  firstContactUri(jsonOf(text));
  firstContactUri(text);
}
