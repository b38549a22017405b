// The requests a call sends inside its dialog (RFC 3261 12.2.1.1), and the words a user reads
// for how a request went. Shared by call placement and the in-dialog actions.
import { nextLocalSeq, type Dialog } from '../../proto/sip/dialog.js';
import { decodeBody, type SipRequest } from '../../wire/sip/message.js';
import type { OutgoingRequest, RequestOutcome } from '../sip/index.js';

/** A request in `dialog`: the next CSeq, the remote target and the route set. */
export function inDialogRequest(dialog: Dialog, method: string, contact: string | undefined): OutgoingRequest {
  return {
    method,
    to: dialog.remoteUri,
    from: dialog.localUri,
    requestUri: dialog.remoteTarget,
    contact,
    dialog: { callId: dialog.callId, localTag: dialog.localTag, remoteTag: dialog.remoteTag, cseq: nextLocalSeq(dialog), routeSet: dialog.routeSet },
    ...(dialog.flow ? { flow: dialog.flow } : {}),
    timeoutMs: 8_000,
  };
}

/** RFC 3261 13.2.2.4: the ACK for a 2xx carries the INVITE's CSeq number. */
export function ackFor(dialog: Dialog, cseq: number): OutgoingRequest {
  return {
    method: 'ACK',
    to: dialog.remoteUri,
    from: dialog.localUri,
    requestUri: dialog.remoteTarget,
    dialog: { callId: dialog.callId, localTag: dialog.localTag, remoteTag: dialog.remoteTag, cseq, routeSet: dialog.routeSet },
    ...(dialog.flow ? { flow: dialog.flow } : {}),
  };
}

/** The SDP of a request, when it has one (an offer-less INVITE has none). */
export function sdpOf(request: SipRequest): string | undefined {
  const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const body = decodeBody(request.content);
  return type === 'application/sdp' && body.trim() ? body : undefined;
}

export function describeOutcome(outcome: RequestOutcome): string {
  switch (outcome.kind) {
    case 'final':
      return `${outcome.response.status} ${outcome.response.reason}`;
    case 'timeout':
      return 'no answer from their device';
    case 'transport-error':
      return outcome.error.message;
    case 'unresolvable':
      return outcome.error.message;
  }
}
