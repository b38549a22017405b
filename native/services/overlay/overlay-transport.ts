// The overlay's operations over the SIP stack: each one a REGISTER with P2P-Op, answered by a
// 200 with a JSON body (wire/overlay/messages.ts), with a deadline shorter than Timer F.
import { OverlayRequestError, type OverlayTransport } from '../../proto/overlay/chord-node.js';
import { decodeOverlayResponse, encodeOverlayRequest, type NodeRef, type OpRequest, type OpResponse, type OverlayOp } from '../../wire/overlay/messages.js';
import type { SipStack } from '../sip/index.js';

export function sipOverlayTransport(stack: SipStack, self: () => NodeRef, overlay: string): OverlayTransport {
  return {
    async request<O extends OverlayOp>(to: { host: string; port: number; id?: string }, op: O, body: OpRequest<O>, timeoutMs: number): Promise<OpResponse<O>> {
      const parts = encodeOverlayRequest(op, body, self(), to, overlay);
      const outcome = await stack.request({
        method: 'REGISTER',
        requestUri: parts.requestUri,
        to: parts.to,
        from: parts.from,
        contact: parts.contact,
        headers: parts.headers,
        body: parts.body,
        contentType: parts.contentType,
        timeoutMs,
        compact: true,
      });
      switch (outcome.kind) {
        case 'timeout':
          throw new OverlayRequestError('timeout', `${op} to ${to.host}:${to.port} timed out`);
        case 'transport-error':
        case 'unresolvable':
          throw new OverlayRequestError('unreachable', `${op} to ${to.host}:${to.port}: ${outcome.error.message}`);
        case 'final': {
          const decoded = decodeOverlayResponse(op, outcome.response);
          if (typeof decoded === 'string') throw new OverlayRequestError('rejected', `${op} to ${to.host}:${to.port}: ${decoded}`);
          return decoded;
        }
      }
    },
  };
}
