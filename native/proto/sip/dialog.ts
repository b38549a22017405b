// RFC 3261 12: the state of a dialog, sans IO. An INVITE's dialog is built from the request
// and its 2xx; every later request in it takes its Call-ID, tags, next CSeq, remote target
// and route set from here.
import type { SipRequest, SipResponse } from '../../wire/sip/message.js';
import { isLocalOnlyAddress } from '../../wire/sip/address-scope.js';
import { formatSipUri, parseSipUri, type SipUri } from '../../wire/sip/uri.js';

/** Where a dialog's messages really came from: a transport, an address and a port. */
export interface DialogFlow {
  protocol: 'udp' | 'tcp' | 'tls';
  address: string;
  port: number;
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From/To URIs of our requests in this dialog (RFC 3261 12.2.1.1). */
  localUri: string;
  remoteUri: string;
  localSeq: number;
  /** The highest CSeq seen from the peer; undefined until it sends a request (RFC 3261 12.1.1). */
  remoteSeq: number | undefined;
  /** The peer's Contact: where in-dialog requests go. */
  remoteTarget: string;
  /** Record-Route URIs in the order our requests carry them as Route. */
  routeSet: string[];
  /**
   * Set when the remote target is a private address other than the one the peer's messages come
   * from (a phone behind a NAT that writes its LAN address in Contact): requests without a route
   * set go here, the NAT's mapping, and keep the target as their Request-URI.
   */
  flow?: DialogFlow;
}

type NameAddrList = Array<{ uri: string | SipUri; params: Record<string, unknown> }> | undefined;

/** The URIs of a name-addr list; the codec leaves some as text and parses others (Route's). */
function uris(list: unknown): string[] {
  return ((list as NameAddrList) ?? []).map((entry) => (typeof entry.uri === 'string' ? entry.uri : formatSipUri(entry.uri)));
}

function contactOf(message: SipRequest | SipResponse): string | undefined {
  return uris(message.headers.contact)[0];
}

/** The dialog a UAS makes when it answers an INVITE (RFC 3261 12.1.1). */
export function dialogAsUas(invite: SipRequest, localTag: string): Dialog | undefined {
  const remoteTarget = contactOf(invite);
  const remoteTag = invite.headers.from.params.tag as string | undefined;
  if (!remoteTarget || !remoteTag) return undefined;
  return {
    callId: invite.headers['call-id'],
    localTag,
    remoteTag,
    localUri: invite.headers.to.uri,
    remoteUri: invite.headers.from.uri,
    localSeq: Math.floor(Math.random() * 10_000) + 1,
    remoteSeq: invite.headers.cseq.seq,
    remoteTarget,
    routeSet: uris(invite.headers['record-route']),
  };
}

/** The dialog a UAC makes from a 2xx (or 1xx with a tag) to its INVITE (RFC 3261 12.1.2). */
export function dialogAsUac(invite: SipRequest, response: SipResponse): Dialog | undefined {
  const remoteTarget = contactOf(response);
  const remoteTag = response.headers.to.params.tag as string | undefined;
  if (!remoteTarget || !remoteTag) return undefined;
  return {
    callId: invite.headers['call-id'],
    localTag: invite.headers.from.params.tag as string,
    remoteTag,
    localUri: invite.headers.from.uri,
    remoteUri: invite.headers.to.uri,
    localSeq: invite.headers.cseq.seq,
    remoteSeq: undefined,
    remoteTarget,
    // "...the route set MUST be set to the list of URIs in the Record-Route header field from the response, taken in reverse order"
    routeSet: uris(response.headers['record-route']).reverse(),
  };
}

/** The key both sides' messages of one dialog share, from our point of view. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

/** The dialog key of a request that arrived inside a dialog (its To tag is ours). */
export function incomingDialogKey(request: SipRequest): string | undefined {
  const local = request.headers.to.params.tag as string | undefined;
  const remote = request.headers.from.params.tag as string | undefined;
  if (!local || !remote) return undefined;
  return dialogKey(request.headers['call-id'], local, remote);
}

/**
 * RFC 3261 12.2.2: a request whose CSeq is lower than the last one seen is out of order and
 * gets 500; otherwise the remote sequence moves on. (An ACK or CANCEL repeats the INVITE's.)
 */
export function acceptRemoteSeq(dialog: Dialog, request: SipRequest): boolean {
  const seq = request.headers.cseq.seq;
  if (request.method === 'ACK' || request.method === 'CANCEL') return true;
  if (dialog.remoteSeq !== undefined && seq <= dialog.remoteSeq) return false;
  dialog.remoteSeq = seq;
  return true;
}

/** The next CSeq number for a request we send in the dialog. */
export function nextLocalSeq(dialog: Dialog): number {
  dialog.localSeq += 1;
  return dialog.localSeq;
}

/** A new remote target from a target refresh (re-INVITE or its 2xx; RFC 3261 12.2). */
export function refreshTarget(dialog: Dialog, message: SipRequest | SipResponse): void {
  const target = contactOf(message);
  if (!target) return;
  dialog.remoteTarget = target;
  // A peer that now names a reachable address is reached there.
  const host = parseSipUri(target)?.host;
  if (dialog.flow && (!host || !isLocalOnlyAddress(host))) delete dialog.flow;
}

/**
 * The flow in-dialog requests must take when the peer's Contact is a private address and its
 * messages come from elsewhere (RFC 3261 leaves NATs out; this is what RFC 5626 flows and
 * every SBC's "fix NATed contact" do). Undefined when the Contact can be used as it is.
 */
export function flowBehindNat(remoteTarget: string, source: DialogFlow): DialogFlow | undefined {
  const host = parseSipUri(remoteTarget)?.host;
  if (!host || !isLocalOnlyAddress(host) || host.replace(/^\[(.*)\]$/, '$1') === source.address) return undefined;
  return { protocol: source.protocol, address: source.address, port: source.port };
}
