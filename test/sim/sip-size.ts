// What an overlay exchange costs on the wire, from the real encoders: the REGISTER the SIP stack
// builds for an overlay operation (SipStack.buildRequest with `compact`: compact header names,
// no User-Agent) and the 200 the overlay service answers with, for nodes on public IPv4
// addresses. The simulator adds each message's JSON body to these; test/sim/sip-size.test.ts
// checks the request against the bytes a real SipStack sends.
import { encodeOverlayRequest, OVERLAY_CONTENT_TYPE, OVERLAY_OPS, type NodeRef, type OverlayOp } from '../../native/wire/overlay/messages.js';
import { encodeBody, generateBranch, generateCallId, makeResponse, randomTag, serializeSipMessage, type SipRequest } from '../../native/wire/sip/message.js';

const A: NodeRef = { id: 'a'.repeat(40), host: '198.51.100.123', port: 5060 };
const B: NodeRef = { id: 'b'.repeat(40), host: '203.0.113.45', port: 5060 };

/** The overlay REGISTER for `op` with `body`, as the stack sends it from `from` to `to`. */
export function overlayRequest(op: OverlayOp, body: string, from: NodeRef = A, to: NodeRef = B, overlay = 'peerdial'): SipRequest {
  const parts = encodeOverlayRequest(op, {} as never, from, to, overlay);
  return {
    method: 'REGISTER',
    uri: parts.requestUri,
    version: '2.0',
    headers: {
      via: [{ version: '2.0', protocol: 'UDP', host: from.host, port: from.port, params: { branch: generateBranch(), rport: null } }],
      'max-forwards': 70,
      to: { uri: parts.to, params: {} },
      from: { uri: parts.from, params: { tag: randomTag() } },
      'call-id': generateCallId(from.host),
      cseq: { seq: 1, method: 'REGISTER' },
      contact: [{ uri: parts.contact, params: {} }],
      ...parts.headers,
      'content-type': OVERLAY_CONTENT_TYPE,
    } as unknown as SipRequest['headers'],
    content: encodeBody(body),
  };
}

/** Bytes of the request and of its 200 beyond their JSON bodies, by operation. */
export function overlayOverheads(): Map<OverlayOp, { request: number; response: number }> {
  const out = new Map<OverlayOp, { request: number; response: number }>();
  for (const op of OVERLAY_OPS) {
    const request = overlayRequest(op, '{}');
    const requestBytes = serializeSipMessage(request, { compact: true }).length - 2;
    // As received: the server's transport adds received and rport to the top Via (RFC 3581).
    request.headers.via[0].params = { ...request.headers.via[0].params, rport: String(A.port), received: A.host };
    const response = makeResponse(request, 200, { toTag: randomTag(), headers: { 'Content-Type': OVERLAY_CONTENT_TYPE, 'P2P-Op': op }, body: '{}' });
    out.set(op, { request: requestBytes, response: serializeSipMessage(response, { compact: true }).length - 2 });
  }
  return out;
}
