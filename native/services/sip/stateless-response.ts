// A stateless proxy's responses (RFC 3261 16.11, 18.2.2): when the top Via is one this node added
// with its branch prefix, it comes off and the response goes to the next Via, at the address and
// port the request really came from (received, rport: RFC 3581).
import { serializeSipMessage, type SipResponse } from '../../wire/sip/message.js';
import type { SipStack } from './sip-stack.js';

/** True (and the response sent on) when our Via with `branchPrefix` tops it. */
export function forwardResponseStatelessly(stack: SipStack, response: SipResponse, branchPrefix: string): boolean {
  const top = response.headers.via?.[0];
  if (!top || !String(top.params.branch ?? '').startsWith(branchPrefix) || !stack.isOwnAddress(top.host, top.port)) return false;
  response.headers.via.shift();
  const next = response.headers.via[0];
  if (!next) return true;
  const protocol = String(next.protocol).toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  const address = String(next.params.received ?? next.host);
  const port = Number(next.params.rport || next.port || 5060);
  void stack.sendRaw(serializeSipMessage(response), { protocol, address, port }).catch(() => undefined);
  return true;
}
