// Overlay operations (native/wire/overlay/messages.ts): a REGISTER's P2P-Op, P2P-Overlay,
// Content-Type and JSON body as a peer sends them, and every operation's response body.
import { decodeOverlayRequest, decodeOverlayResponse, OVERLAY_CONTENT_TYPE, OVERLAY_OPS, parseNodeUri, type OverlayOp } from '../../../native/wire/overlay/messages.js';
import { encodeBody, type SipRequest, type SipResponse } from '../../../native/wire/sip/message.js';

// The first line picks the operation and Contact URI; the rest is the body, as a peer chose it.
export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const cut = text.indexOf('\n');
  const [opText, contactUri = ''] = (cut < 0 ? '' : text.slice(0, cut)).split(' ', 2);
  const body = cut < 0 ? text : text.slice(cut + 1);
  const request = {
    method: 'REGISTER',
    uri: 'sip:192.0.2.1:5060',
    version: '2.0',
    headers: {
      'p2p-op': opText,
      'p2p-overlay': 'peerdial.example',
      'content-type': OVERLAY_CONTENT_TYPE,
      contact: [{ uri: contactUri, params: {} }],
    },
    content: encodeBody(body),
  } as unknown as SipRequest;
  decodeOverlayRequest(request);
  parseNodeUri(contactUri);
  const op = (OVERLAY_OPS as readonly string[]).includes(opText) ? (opText as OverlayOp) : OVERLAY_OPS[data.length % OVERLAY_OPS.length];
  const response = { status: 200, reason: 'OK', version: '2.0', headers: {}, content: encodeBody(body) } as unknown as SipResponse;
  decodeOverlayResponse(op, response);
}
