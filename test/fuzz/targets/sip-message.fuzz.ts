// SIP messages as they arrive on UDP/TCP (native/wire/sip/message.ts) and the header parsers
// that read them: digest credentials, SIP URIs, message-summary bodies.
import { readCredentials } from '../../../native/wire/sip/digest.js';
import { decodeBody, parseSipMessage, serializeSipMessage } from '../../../native/wire/sip/message.js';
import { parseMessageSummary } from '../../../native/wire/sip/message-summary.js';
import { parseSipUri } from '../../../native/wire/sip/uri.js';
import { holds } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  const outcome = parseSipMessage(data);
  if (outcome.kind === 'garbage') return;
  const message = outcome.kind === 'bad-request' ? outcome.request : outcome.message;
  for (const name of ['authorization', 'proxy-authorization']) {
    // As the phone registrar reads them: each parsed credentials header offered.
    const all: unknown = message.headers[name];
    for (const h of Array.isArray(all) ? all : []) if (h && typeof h === 'object') readCredentials(h as Record<string, unknown>);
  }
  if ('uri' in message && typeof message.uri === 'string') parseSipUri(message.uri);
  parseMessageSummary(decodeBody(message.content));
  if (outcome.kind === 'bad-request') return;
  // A message we accept, written out by us, is one we accept again as the same kind.
  const again = parseSipMessage(serializeSipMessage(outcome.message));
  holds(again.kind === outcome.kind, `a ${outcome.kind} became ${again.kind} after serialising: ${again.kind === 'garbage' || again.kind === 'bad-request' ? again.reason : ''}`);
}
