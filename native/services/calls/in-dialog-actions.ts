// What a user does to a call in progress, and what the peer asks of it, inside its dialog:
// hold and resume by re-INVITE (RFC 3264 8.4), the peer's re-INVITEs, DTMF (RFC 4733), blind
// transfer by REFER both ways (RFC 3515), BYE, and the NOTIFYs that arrive for any event.
// Placing, answering and ending calls stay in call-service.ts, which this talks to as its host.
import type { Logger } from '../../log.js';
import { acceptRemoteSeq, incomingDialogKey, refreshTarget } from '../../proto/sip/dialog.js';
import { answer, createOffer, readAnswer, type LocalMedia } from '../../wire/sdp/audio-offer-answer.js';
import { offeredIceUfrag, withIce } from '../../wire/sdp/ice-attributes.js';
import { sends } from '../../wire/sdp/direction.js';
import { decodeBody } from '../../wire/sip/message.js';
import { parseSipUri } from '../../wire/sip/uri.js';
import { UserError } from '../errors.js';
import type { IncomingRequest, OutgoingRequest, SipStack } from '../sip/index.js';
import { NOT_SECURED_REASON, type Call } from './call.js';
import type { MediaKey } from '../../wire/sdp/media-key.js';
import { ackFor, describeOutcome, sdpOf } from './dialog-requests.js';
import { formatSessionExpires, TIMER_OPTION } from '../../proto/sip/session-timer.js';

const DTMF_KEYS = /^[0-9*#A-D]+$/i;

/** What the in-dialog actions need of the service that owns the calls. */
export interface InDialogHost {
  readonly stack: SipStack;
  readonly log: Logger;
  now(): number;
  /** The call of a dialog, ended ones included while they linger. */
  callOfDialog(key: string): Call | undefined;
  ownUri(): string | undefined;
  /** A request in the call's dialog, with this user's display name. */
  inDialog(call: Call, method: string, extra?: Partial<OutgoingRequest>): OutgoingRequest;
  changed(call: Call): void;
  /** Gives the user's microphone and speaker to the call that should have them now. */
  refocus(): void;
  end(call: Call, reason: NonNullable<Call['endReason']>, detail?: string): void;
  sendBye(call: Call): void;
  /** Places a new call, as the user's dial does (for a REFER the peer sent). */
  dial(target: string): Promise<Call>;
  /** NOTIFYs of `Event: presence` go to the presence service (one handler per method in the stack). */
  presenceNotify?(incoming: IncomingRequest): void;
  /** NOTIFYs of `Event: peerdial-config` go to the LAN offer service. */
  configNotify?(incoming: IncomingRequest): void;
  /** An offer or answer in an encrypted call dropped or changed the key agreed at its start (counted as a downgrade). */
  keyChanged(call: Call, detail: string): void;
  /** A re-INVITE went through, either way: the session timer starts again (RFC 4028 10). */
  sessionRefreshed(call: Call): void;
}

/** The Session-Expires of a re-INVITE or its 2xx in a call with a session timer; `ourRole` in that transaction. */
function sessionExpiresHeaders(call: Call, ourRole: 'uac' | 'uas'): Record<string, string> {
  const timer = call.sessionTimer;
  if (!timer) return {};
  const refresher = timer.refresherIsUs ? ourRole : ourRole === 'uac' ? 'uas' : 'uac';
  return { 'session-expires': formatSessionExpires({ seconds: timer.intervalS, refresher }), ...(ourRole === 'uac' ? { supported: TIMER_OPTION } : {}) };
}

/** True when an encrypted call's later SDP still carries the other side's key as agreed (no rekeying yet). */
function keepsAgreedKey(call: Call, seen: MediaKey | undefined): boolean {
  const agreed = call.agreedPeerKey;
  if (!agreed) return true;
  return seen !== undefined && seen.ephemeral === agreed.ephemeral && seen.signature === agreed.signature;
}

export class InDialogActions {
  constructor(private readonly host: InDialogHost) {}

  /** The peer's re-INVITE, BYE, REFER and NOTIFY reach these handlers (INVITE with a To tag is a re-INVITE). */
  handleRequests(): void {
    const { stack } = this.host;
    stack.handle('BYE', (incoming) => this.onBye(incoming));
    stack.handle('REFER', (incoming) => this.onRefer(incoming));
    stack.handle('NOTIFY', (incoming) => this.onNotify(incoming));
  }

  async hold(call: Call, hold: boolean): Promise<void> {
    if (call.state !== 'active') throw new UserError('INVALID_STATE', 'Only a call in progress can be put on hold.');
    await this.setHold(call, hold);
  }

  dtmf(call: Call, digits: string): void {
    if (call.state !== 'active') throw new UserError('INVALID_STATE', 'Keys can be sent once the call is answered.');
    if (!DTMF_KEYS.test(digits)) throw new UserError('INVALID_ARGUMENT', 'Only the keys 0-9, *, # and A-D can be sent.');
    call.media.sendDtmf(digits.toUpperCase()).catch((error: unknown) => this.host.log.info('DTMF not sent', { error: String(error) }));
  }

  /** RFC 3515 blind transfer: the peer is asked to call `referTo`; once it accepts, this call ends. */
  async transfer(call: Call, referTo: string, targetName: string): Promise<void> {
    const outcome = await this.host.stack.request(
      this.host.inDialog(call, 'REFER', { headers: { 'refer-to': { uri: referTo, params: {} }, 'referred-by': `<${this.host.ownUri()}>` }, timeoutMs: 8_000 }),
    );
    if (outcome.kind !== 'final' || outcome.response.status >= 300) {
      throw new UserError('UNAVAILABLE', `${call.peerName ?? call.peer} could not take the transfer (${describeOutcome(outcome)}).`);
    }
    this.host.sendBye(call);
    this.host.end(call, 'transferred', targetName);
  }

  /** RFC 3264 8.4: hold is a re-INVITE offering sendonly; resume offers sendrecv again. */
  async setHold(call: Call, hold: boolean): Promise<void> {
    if (call.localHold === hold) return;
    const local: LocalMedia = { ...call.local, direction: hold ? 'sendonly' : 'sendrecv', sessionVersion: (call.local.sessionVersion ?? 0) + 1 };
    if (!(await this.offerChange(call, local))) return;
    call.localHold = hold;
    if (!hold) call.focusedAt = this.host.now();
    this.host.refocus();
    this.host.changed(call);
  }

  /**
   * The media path died (a relay went away, the network changed): new candidates and a new
   * ufrag and password in a re-INVITE (RFC 8445 9, RFC 8839 4.4.1.1.1), so ICE finds another path.
   */
  async restartIce(call: Call): Promise<void> {
    if (call.state !== 'active') return;
    const ice = await call.media.restartIce('controlling');
    if (!ice || call.state !== 'active') return;
    this.host.log.info('media path lost: restarting ICE', { call: call.id });
    const local: LocalMedia = { ...withIce(call.local, ice), sessionVersion: (call.local.sessionVersion ?? 0) + 1 };
    if (await this.offerChange(call, local)) this.host.changed(call);
  }

  /**
   * RFC 4028 10: the session refresh, a re-INVITE with our offer unchanged. False when it showed
   * the peer gone (the call has ended); a change under way, or a refusal, refreshes well enough.
   */
  async refreshSession(call: Call): Promise<boolean> {
    if (call.state !== 'active' || call.reinviting) return call.state === 'active';
    try {
      return await this.offerChange(call, { ...call.local });
    } catch {
      return call.state === 'active';
    }
  }

  /** A re-INVITE with a changed offer; true once the answer is in place. */
  private async offerChange(call: Call, local: LocalMedia): Promise<boolean> {
    if (call.reinviting) throw new UserError('INVALID_STATE', 'The call is still changing; try again in a moment.');
    call.reinviting = true;
    try {
      const request = this.host.inDialog(call, 'INVITE', { body: createOffer(local), contentType: 'application/sdp', headers: sessionExpiresHeaders(call, 'uac') });
      const cseq = request.dialog!.cseq;
      const invite = await this.host.stack.invite(request, (response) => {
        if (response.status >= 200 && call.dialog) void this.host.stack.sendAck(ackFor(call.dialog, cseq));
      });
      if ('kind' in invite) throw new UserError('UNAVAILABLE', `Could not reach ${call.peer} (${describeOutcome(invite)}).`);
      const outcome = await invite.outcome;
      if (outcome.kind !== 'final') {
        this.host.sendBye(call);
        this.host.end(call, 'connection-lost', describeOutcome(outcome));
        return false;
      }
      const status = outcome.response.status;
      if (status === 481 || status === 408) {
        this.host.end(call, 'connection-lost', `${status} ${outcome.response.reason}`);
        return false;
      }
      if (status >= 300) throw new UserError('UNAVAILABLE', `${call.peerName ?? call.peer} refused the change (${status} ${outcome.response.reason}).`);
      const negotiated = readAnswer(decodeBody(outcome.response.content), local);
      if (!negotiated.ok || !keepsAgreedKey(call, negotiated.peerMediaKey)) {
        if (call.agreedPeerKey) {
          // The session's keys can no longer be trusted to be the two ends' only: it ends here.
          this.host.keyChanged(call, negotiated.ok ? 'the answer changed the end-to-end key' : negotiated.reason);
          this.host.sendBye(call);
          this.host.end(call, 'not-secured', 'an answer in the call dropped or changed the end-to-end key');
          return false;
        }
        throw new UserError('UNAVAILABLE', `The answer to the change was not usable: ${(negotiated as { reason: string }).reason}`);
      }
      refreshTarget(call.dialog!, outcome.response);
      call.local = local;
      call.negotiated = negotiated;
      call.media.configure(negotiated);
      call.remoteHold = !sends(negotiated.direction);
      this.host.sessionRefreshed(call);
      return true;
    } finally {
      call.reinviting = false;
    }
  }

  async onReinvite(incoming: IncomingRequest): Promise<void> {
    const call = this.inDialogCall(incoming);
    if (!call) return;
    if (call.reinviting) return incoming.respond(491);
    const offer = sdpOf(incoming.request);
    if (offer === undefined) {
      // An offer-less re-INVITE asks for our offer; we keep the session as it is (RFC 3264 8).
      incoming.respond(488, { headers: { warning: `399 ${this.host.stack.host} "re-INVITE without an offer is not supported"` } });
      return;
    }
    let local: LocalMedia = { ...call.local, direction: call.localHold ? ('sendonly' as const) : ('sendrecv' as const) };
    local.sessionVersion = (call.local.sessionVersion ?? 0) + 1;
    // RFC 8445 9: a new ufrag in the offer is an ICE restart; we gather anew and answer with ours.
    if (call.media.isIceRestart(offeredIceUfrag(offer))) {
      const ice = await call.media.restartIce('controlled');
      if (ice) local = withIce(local, ice);
    }
    const result = answer(offer, local);
    if (!result.ok) {
      if (call.agreedPeerKey) this.host.keyChanged(call, result.reason);
      incoming.respond(488, { ...(call.agreedPeerKey ? { reason: NOT_SECURED_REASON } : {}), headers: { warning: `305 ${this.host.stack.host} "${result.reason}"` } });
      return;
    }
    if (!keepsAgreedKey(call, result.peerMediaKey)) {
      this.host.keyChanged(call, 'a new offer changed the end-to-end key');
      incoming.respond(488, { reason: NOT_SECURED_REASON, headers: { warning: `399 ${this.host.stack.host} "Call could not be secured: the new offer changed the end-to-end key"` } });
      return;
    }
    call.local = local;
    refreshTarget(call.dialog!, incoming.request);
    incoming.onAck = (ack) => {
      if (!ack && call.state === 'active') {
        this.host.sendBye(call);
        this.host.end(call, 'connection-lost', 'no ACK for our answer');
      }
    };
    incoming.respond(200, { headers: { contact: [{ uri: this.host.ownUri(), params: {} }], 'content-type': 'application/sdp', ...sessionExpiresHeaders(call, 'uas') }, body: result.sdp });
    this.host.sessionRefreshed(call);
    call.negotiated = result;
    call.media.configure(result);
    call.remoteHold = !sends(result.direction);
    this.host.changed(call);
  }

  private onBye(incoming: IncomingRequest): void {
    const key = incomingDialogKey(incoming.request);
    const call = key ? this.host.callOfDialog(key) : undefined;
    if (call?.state === 'ended') return incoming.respond(200); // a BYE crossing ours
    if (!this.inDialogCall(incoming) || !call) return;
    incoming.respond(200);
    this.host.end(call, 'remote-hangup');
  }

  /** RFC 3515: the peer asks us to call someone else; we report how it goes by NOTIFY. */
  private async onRefer(incoming: IncomingRequest): Promise<void> {
    const call = this.inDialogCall(incoming);
    if (!call) return;
    const referTo = incoming.request.headers['refer-to'] as { uri?: string } | Array<{ uri?: string }> | string | undefined;
    const target = typeof referTo === 'string' ? referTo.replace(/^.*<(.*)>.*$/, '$1') : Array.isArray(referTo) ? referTo[0]?.uri : referTo?.uri;
    if (!target || !parseSipUri(target)) return incoming.respond(400, { reason: 'Bad Request (Refer-To is not a SIP URI)' });
    incoming.respond(202);
    this.notifyRefer(call, 100, 'Trying', false);
    try {
      const next = await this.host.dial(target);
      next.settled.push((status) => this.notifyRefer(call, status, status < 300 ? 'OK' : 'Failed', true));
    } catch (error) {
      this.notifyRefer(call, 503, 'Service Unavailable', true);
      this.host.log.info('transfer target not called', { error: String(error) });
    }
  }

  private notifyRefer(call: Call, status: number, reason: string, final: boolean): void {
    if (!call.dialog) return;
    void this.host.stack.request(
      this.host.inDialog(call, 'NOTIFY', {
        body: `SIP/2.0 ${status} ${reason}\r\n`,
        contentType: 'message/sipfrag;version=2.0',
        headers: { event: 'refer', 'subscription-state': final ? 'terminated;reason=noresource' : 'active;expires=60' },
        timeoutMs: 8_000,
      }),
    );
  }

  private onNotify(incoming: IncomingRequest): void {
    const event = String(incoming.request.headers.event ?? '').split(';')[0].trim().toLowerCase();
    if (event === 'presence' && this.host.presenceNotify) return this.host.presenceNotify(incoming);
    if (event === 'peerdial-config' && this.host.configNotify) return this.host.configNotify(incoming);
    if (event !== 'refer') return incoming.respond(489, { reason: 'Bad Event' });
    if (!this.inDialogCall(incoming)) return;
    incoming.respond(200);
  }

  private inDialogCall(incoming: IncomingRequest): Call | undefined {
    const key = incomingDialogKey(incoming.request);
    const call = key ? this.host.callOfDialog(key) : undefined;
    if (!call || (call.state === 'ended' && incoming.request.method !== 'NOTIFY')) {
      incoming.respond(481, { reason: 'Call/Transaction Does Not Exist' });
      return undefined;
    }
    if (!acceptRemoteSeq(call.dialog!, incoming.request)) {
      incoming.respond(500, { reason: 'Server Internal Error (CSeq out of order)' });
      return undefined;
    }
    return call;
  }
}
