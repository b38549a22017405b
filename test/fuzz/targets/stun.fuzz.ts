// STUN and TURN datagrams (native/wire/stun): the message and every attribute decoder,
// MESSAGE-INTEGRITY checking, ChannelData framing.
import { ATTR, attribute, decodeAddress, decodeChangeRequest, decodeErrorCode, decodeXorAddress, parseStun, serializeStun, stunLengthOnStream, unknownRequiredAttributes } from '../../../native/wire/stun/message.js';
import { decodePriority, decodeTieBreaker } from '../../../native/wire/stun/ice.js';
import { shortTermKey, verifyIntegrity } from '../../../native/wire/stun/integrity.js';
import { decodeChannelNumber, decodeRequestedTransport, decodeUint32, parseChannelData, channelDataLengthOnStream } from '../../../native/wire/stun/turn.js';
import { sameAfterRoundTrip } from '../support/contract.js';

const key = shortTermKey('fuzz-password');

export function fuzz(data: Buffer): void {
  stunLengthOnStream(data);
  channelDataLengthOnStream(data);
  parseChannelData(data);
  verifyIntegrity(data, key);
  const parsed = parseStun(data);
  if (!parsed.ok) return;
  const m = parsed.message;
  for (const a of m.attributes) {
    decodeAddress(a.value);
    decodeXorAddress(a.value, m.transactionId);
    decodeChangeRequest(a.value);
    decodeErrorCode(a.value);
    decodePriority(a.value);
    decodeTieBreaker(a.value);
    decodeUint32(a.value);
    decodeChannelNumber(a.value);
    decodeRequestedTransport(a.value);
  }
  unknownRequiredAttributes(m, [ATTR.USERNAME]);
  // A FINGERPRINT is over the bytes before it: written out again as a plain attribute it would no longer match.
  if (attribute(m, ATTR.FINGERPRINT)) return;
  const again = parseStun(serializeStun(m));
  sameAfterRoundTrip('STUN message', m, again.ok ? again.message : again);
}
