import { parseSipMessage, serializeSipMessage } from '../../../native/wire/sip/message.js';

export function fuzz(data: Buffer): void {
  const outcome = parseSipMessage(data);
  if (outcome.kind === 'request' || outcome.kind === 'response') {
    const again = parseSipMessage(serializeSipMessage(outcome.message));
    if (again.kind !== outcome.kind) throw new Error(`round trip: ${outcome.kind} became ${again.kind}`);
  }
}
