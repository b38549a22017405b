// Calls: placing and answering them (INVITE dialogs, RFC 3261 13-15), ending them, and the media
// session of each. The user's devices go to the one call in focus; the history is written as
// calls start and end. What happens inside a call's dialog (hold, DTMF, transfer, the peer's
// re-INVITE, BYE, REFER and NOTIFY) is in-dialog-actions.ts.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { CallHistoryEntry, CallView } from './call-view.js';
import type { Logger } from '../../log.js';
import type { AudioSink, AudioSource } from '../../proto/media/audio-io.js';
import { dialogAsUac, dialogAsUas, dialogKey, flowBehindNat } from '../../proto/sip/dialog.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { CallRepository } from '../../storage/repositories/call-repository.js';
import { answer, createOffer, readAnswer, type AudioCodecName, type NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import { sends } from '../../wire/sdp/direction.js';
import { offersIce, withIce } from '../../wire/sdp/ice-attributes.js';
import { decodeBody, generateCallId, type SipResponse } from '../../wire/sip/message.js';
import { addressInOverlay, conversationKey, isTlsUri, overlayAorOf, parseSipUri, sipUri } from '../../wire/sip/uri.js';
import { newCrypto, SDES_SUITES, sdesCallKeys } from '../../wire/sdp/sdes.js';
import { checkPhoneAttestation } from '../../wire/sip/phone-attestation.js';
import { callView, encryptionOf, endMessageFor, historyEntry, NOT_SECURED_REASON, outcomeFor, reasonForStatus, type Call } from './call.js';
import { OFFERED_CODECS } from './voice-codecs.js';
import { echoLoop, type UserAudio } from './call-audio.js';
import { UserError } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import type { AorResolver } from '../im/index.js';
import type { MediaSession } from './media-session.js';
import { isCertificateMismatch, type IncomingRequest, type OutgoingRequest, type RequestOutcome, type SipStack } from '../sip/index.js';
import { ackFor, describeOutcome, inDialogRequest, sdpOf } from './dialog-requests.js';
import { InDialogActions } from './in-dialog-actions.js';
import { CallSecurity, type AnswerSecurity, type CallSecurityDeps } from './call-security.js';
import { SessionTimers } from './session-timers.js';
import { DEFAULT_SESSION_EXPIRES_S, formatSessionExpires, MIN_SESSION_EXPIRES_S, TIMER_OPTION, uacSessionTimer, uasSessionTimer } from '../../proto/sip/session-timer.js';
import type { CallSecurityView } from './call-view.js';

export const ECHO_USER = 'echo';
/** How long a phone rings before the call counts as unanswered. */
const DEFAULT_RING_TIMEOUT_MS = 60_000;
/** An ended call's dialog is remembered this long, to answer late NOTIFYs and retransmitted BYEs. */
const LINGER_MS = 32_000;
const QUALITY_REFRESH_MS = 1_000;

export interface CallServiceDeps {
  stack: SipStack;
  identity: IdentityService;
  overlay?: AorResolver;
  calls: CallRepository;
  openMedia(): Promise<MediaSession>;
  audio: UserAudio;
  timers: TimerHost;
  log: Logger;
  onChange(view: CallView): void;
  onHistory(entry: CallHistoryEntry): void;
  /** Answer incoming calls after the first ring (headless nodes, tests). */
  autoAnswer?: boolean;
  /** The codecs offered and taken, most preferred first (--codecs); all we have when not given. */
  codecs?: AudioCodecName[];
  /** A fresh microphone for each answered call (the --play WAV); the UI's microphone otherwise. */
  playSource?: () => AudioSource;
  /** Also hears everything the call in focus hears (the --record WAV). */
  recorder?: AudioSink & { settle?(): Promise<void> };
  ringTimeoutMs?: number;
  /** Calls at once, hidden echo calls included; past it, 486 Busy Here. */
  maxCalls?: number;
  now?: () => number;
  /** NOTIFYs of `Event: presence` go to the presence service (one handler per method in the stack). */
  presenceNotify?(incoming: IncomingRequest): void;
  /** NOTIFYs of `Event: peerdial-config` go to the LAN offer service. */
  configNotify?(incoming: IncomingRequest): void;
  /** False for benchmarks only: calls between users go plain (CallSecurityDeps.encryptUserCalls). */
  encryptUserCalls?: boolean;
  /** The key pinned for a buddy: their calls must be signed by it. */
  pinnedKey?: CallSecurityDeps['pinnedKey'];
  /** Settings → Calls: whether calls with phones that cannot encrypt go ahead in the clear (default on). */
  unencryptedPhones?: { allowed: boolean; save(allowed: boolean): Promise<void> };
  /** RFC 4028 session timers: the interval we ask for and the least we take (1800 and 90 s; tests shorten them). */
  sessionExpiresS?: number;
  minSessionExpiresS?: number;
  /** The user's voicemail settings: an unanswered incoming call goes to voicemail after the ring time. */
  voicemail?: () => { enabled: boolean; ringSeconds: number };
  /** How a call from `peer` is taken: ring, ask (a call request, silent), or reject (strangers-service.ts). Ring when not given. */
  callerPolicy?(peer: string): 'ring' | 'ask' | 'reject';
}

/** The reason phrase of our 480 when a call goes to voicemail (declined to it, or rung out). */
export const VOICEMAIL_REASON = 'Temporarily Unavailable (voicemail)';
/** How a caller's call ended when a voice message may be left instead. */
const VOICEMAIL_REASONS = new Set(['no-answer', 'unreachable', 'busy']);

export class CallService {
  private readonly calls = new Map<string, Call>();
  /** History rows of calls that ended, still being written (history() waits for them). */
  private readonly historyWrites = new Set<Promise<void>>();
  private readonly byDialog = new Map<string, Call>();
  private readonly now: () => number;
  private qualityTimer?: ReturnType<TimerHost['set']>;
  private stopping = false;
  /** Calls declined by the caller policy (blocked callers, or strangers under "reject"). */
  rejectedCalls = 0;
  private readonly actions: InDialogActions;
  private readonly security: CallSecurity;
  private readonly sessionTimers: SessionTimers;
  private allowUnencryptedPhones: boolean;
  private readonly sessionExpiresS: number;
  private readonly minSessionExpiresS: number;

  constructor(private readonly deps: CallServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.allowUnencryptedPhones = deps.unencryptedPhones?.allowed ?? true;
    this.sessionExpiresS = deps.sessionExpiresS ?? DEFAULT_SESSION_EXPIRES_S;
    this.minSessionExpiresS = deps.minSessionExpiresS ?? MIN_SESSION_EXPIRES_S;
    this.security = new CallSecurity({
      identity: deps.identity,
      pinnedKey: deps.pinnedKey,
      lookup: deps.overlay ? (aor) => deps.overlay!.lookupAor(aor) : undefined,
      allowPlainPhones: () => this.allowUnencryptedPhones,
      encryptUserCalls: deps.encryptUserCalls,
    });
    this.sessionTimers = new SessionTimers({
      timers: deps.timers,
      refresh: (call) => this.actions.refreshSession(call),
      expired: (call, why) => {
        this.deps.log.info('session timer expired', { call: call.id, why });
        this.sendBye(call);
        this.end(call, 'connection-lost', why);
      },
    });
    this.actions = new InDialogActions({
      stack: deps.stack,
      log: deps.log,
      now: () => this.now(),
      callOfDialog: (key) => this.byDialog.get(key),
      ownUri: () => this.ownUri(),
      inDialog: (call, method, extra) => this.inDialog(call, method, extra),
      changed: (call) => this.changed(call),
      refocus: () => this.refocus(),
      end: (call, reason, detail) => this.end(call, reason, detail),
      sendBye: (call) => this.sendBye(call),
      dial: async (target) => this.calls.get((await this.dial(target)).id)!,
      presenceNotify: deps.presenceNotify,
      configNotify: deps.configNotify,
      sessionRefreshed: (call) => this.sessionTimers.refreshed(call),
      keyChanged: (call, detail) => {
        this.security.refused.downgrade++;
        this.deps.log.warn('refused a change to an encrypted call', { call: call.id, detail });
      },
    });
  }

  /** Settings → Calls, and what encryption did so far. */
  securityView(): CallSecurityView {
    return {
      allowUnencryptedPhones: this.allowUnencryptedPhones,
      encryptedCalls: this.security.encryptedCalls,
      phoneEncryptedCalls: this.security.phoneEncryptedCalls,
      unencryptedCalls: this.security.plainCalls,
      refused: { ...this.security.refused },
    };
  }

  async setAllowUnencryptedPhones(allowed: boolean): Promise<CallSecurityView> {
    this.allowUnencryptedPhones = allowed;
    await this.deps.unencryptedPhones?.save(allowed);
    return this.securityView();
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.deps.calls.closeUnfinished('Peerdial stopped during the call');
    const { stack } = this.deps;
    stack.handle('INVITE', (incoming) => this.onInvite(incoming));
    this.actions.handleRequests();
    this.scheduleQuality();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.qualityTimer) this.deps.timers.clear(this.qualityTimer);
    const live = [...this.calls.values()].filter((c) => c.state !== 'ended');
    await Promise.all(live.map((c) => this.hangupCall(c, 'hangup', 'Peerdial was closed')));
  }

  list(): CallView[] {
    return [...this.calls.values()].filter((c) => !c.hidden && c.state !== 'ended').map(callView);
  }

  /**
   * The newest calls. A call reported ended has its row written a moment later: those writes are
   * waited for, so the history asked for after an end always has it.
   */
  async history(limit: number): Promise<CallHistoryEntry[]> {
    await Promise.allSettled([...this.historyWrites]);
    return (await this.deps.calls.recent(limit)).map(historyEntry);
  }

  // ---- commands ----

  async dial(to: string): Promise<CallView> {
    const identity = this.deps.identity.current;
    const ownUri = this.ownUri();
    if (!identity || !ownUri) throw new UserError('NO_IDENTITY', 'Create your identity before making calls.');
    const target = this.resolveDialString(to);
    const media = await this.deps.openMedia();
    const call = this.newCall({ direction: 'out', peer: target.peer, peerName: target.peerName, media, sipCallId: generateCallId(this.deps.stack.host) });
    call.historyId = await this.deps.calls.start({ direction: 'out', peer: call.peer, peerName: call.peerName, sipCallId: call.sipCallId, at: call.startedAt });
    this.changed(call);
    call.timers.push(this.deps.timers.set(this.deps.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS, () => this.ringTimedOut(call)));
    void this.sendInvite(call, target, identity.displayName).catch((error: unknown) => {
      this.deps.log.warn('call setup failed', { error: String(error) });
      this.end(call, 'failed', String((error as Error)?.message ?? error));
    });
    return callView(call);
  }

  async answer(id: string): Promise<CallView> {
    const call = this.find(id);
    if (call.direction !== 'in' || call.state !== 'incoming' || !call.incoming) throw new UserError('INVALID_STATE', 'This call is not ringing.');
    // Call waiting: the call that had the user's attention goes on hold.
    for (const other of this.calls.values()) {
      if (other !== call && !other.hidden && other.state === 'active' && !other.localHold) void this.actions.setHold(other, true).catch(() => undefined);
    }
    this.acceptIncoming(call);
    return callView(call);
  }

  /** Declines a ringing call; with `toVoicemail` the caller is told to leave a message instead (480, not 603). */
  async decline(id: string, toVoicemail = false): Promise<CallView> {
    const call = this.find(id);
    if (call.state !== 'incoming' || !call.incoming) throw new UserError('INVALID_STATE', 'This call is not ringing.');
    if (toVoicemail) {
      call.incoming.respond(480, { reason: VOICEMAIL_REASON });
      this.end(call, 'declined', 'sent to voicemail');
    } else {
      call.incoming.respond(603);
      this.end(call, 'declined');
    }
    return callView(call);
  }

  async hangup(id: string): Promise<CallView> {
    const call = this.find(id);
    if (call.state === 'ended') return callView(call);
    await this.hangupCall(call, call.state === 'incoming' ? 'declined' : call.answeredAt ? 'hangup' : 'cancelled');
    return callView(call);
  }

  async mute(id: string, muted: boolean): Promise<CallView> {
    const call = this.live(id);
    call.muted = muted;
    call.media.muted = muted;
    this.changed(call);
    return callView(call);
  }

  async hold(id: string, hold: boolean): Promise<CallView> {
    const call = this.live(id);
    await this.actions.hold(call, hold);
    return callView(call);
  }

  async dtmf(id: string, digits: string): Promise<CallView> {
    const call = this.live(id);
    this.actions.dtmf(call, digits);
    return callView(call);
  }

  /** RFC 3515 blind transfer: the peer is asked to call `to`; once it accepts, this call ends. */
  async transfer(id: string, to: string): Promise<CallView> {
    const call = this.live(id);
    if (call.state !== 'active' || !call.dialog) throw new UserError('INVALID_STATE', 'Only a call in progress can be transferred.');
    const target = this.resolveDialString(to);
    let referTo = target.requestUri ?? target.peer;
    // A peer outside the overlay cannot look an AOR up: give it a device's contact.
    if (target.viaOverlay) referTo = (await this.lookupContacts(target.peer))[0];
    await this.actions.transfer(call, referTo, target.peerName ?? target.peer);
    return callView(call);
  }

  // ---- outgoing calls ----

  private resolveDialString(text: string): { peer: string; peerName?: string; requestUri?: string; viaOverlay: boolean } {
    const trimmed = text.trim();
    if (trimmed.toLowerCase() === ECHO_USER) {
      const uri = sipUri(ECHO_USER, this.deps.stack.host, this.deps.stack.port);
      return { peer: uri, peerName: 'Echo test', requestUri: uri, viaOverlay: false };
    }
    const overlay = this.deps.overlay;
    // A bare user name means that user in our overlay (the rule every command follows).
    const peer = addressInOverlay(trimmed, overlay?.overlay);
    const uri = parseSipUri(peer);
    if (!uri || !uri.user) throw new UserError('INVALID_URI', `"${text}" is not a SIP address like sip:bob@192.0.2.10 or a name in your overlay.`);
    return { peer, viaOverlay: overlay?.isOverlayUri(uri) ?? false };
  }

  private async lookupContacts(aor: string): Promise<string[]> {
    return (await this.lookupUser(aor)).contacts;
  }

  private async lookupUser(aor: string): Promise<{ contacts: string[]; owner?: string; x25519?: string }> {
    const found = await this.deps.overlay!.lookupAor(aor);
    if (!found.contacts.length) throw new UserError('LOOKUP_FAILED', `${aor} has no device online.`);
    return found;
  }

  private async sendInvite(call: Call, target: { peer: string; requestUri?: string; viaOverlay: boolean }, displayName: string): Promise<void> {
    let requestUri = target.requestUri;
    let found: { contacts: string[]; owner?: string; x25519?: string } | undefined;
    if (target.viaOverlay) {
      try {
        found = await this.lookupUser(target.peer);
        requestUri = found.contacts[0];
      } catch (error) {
        this.end(call, 'unreachable', (error as Error).message);
        return;
      }
    }
    if (hasEnded(call)) return;
    const ownAor = target.viaOverlay ? this.deps.overlay?.ownAor() : undefined;
    const from = ownAor ?? this.ownUri()!;
    // A Peerdial user gets an offer with our signed key; anyone else plain audio, if the user allows it.
    call.offeredSecurity = ownAor && found ? this.security.offer(call.sipCallId, ownAor, target.peer, found) : undefined;
    if (call.offeredSecurity) call.local = { ...call.local, mediaKey: call.offeredSecurity.key };
    else if (!call.hidden && !found && isTlsUri(requestUri ?? target.peer)) {
      // A phone dialled over TLS is offered SRTP keyed by SDES (RFC 4568), in both suites we speak.
      call.local = { ...call.local, sdes: SDES_SUITES.map((suite, i) => newCrypto(i + 1, suite)) };
      call.sdes = { overTls: true };
    } else if (!call.hidden && !found && !call.offeredPlainAfterDtls && call.media.dtlsFingerprint) {
      // Any other phone is offered DTLS-SRTP (RFC 5763): its keys never cross the signalling. One
      // that cannot do it refuses (488) and is offered plain audio, where the user allows that.
      call.local = { ...call.local, dtls: { setup: 'actpass', fingerprint: call.media.dtlsFingerprint } };
      call.dtls = true;
    } else if (!call.hidden && !this.allowUnencryptedPhones) {
      this.security.refused['plain-not-allowed']++;
      this.end(call, 'not-secured', 'they cannot encrypt, and calls in the clear are turned off in Settings');
      return;
    }
    // RFC 8445: the offerer gathers its candidates first and controls the checks.
    const ice = await call.media.gatherIce('controlling');
    if (hasEnded(call)) return;
    if (ice) call.local = withIce(call.local, ice);
    call.inviteSentAt = performance.now();
    const invite = await this.deps.stack.invite(
      {
        method: 'INVITE',
        to: target.peer,
        from,
        fromName: displayName,
        requestUri,
        contact: this.ownUri(),
        callId: call.sipCallId,
        body: createOffer(call.local),
        contentType: 'application/sdp',
        // RFC 4028 7.1: we support session timers and ask for our interval (Min-SE only when not the default 90 s: bytes count, 18.1.1).
        headers: { supported: TIMER_OPTION, 'session-expires': String(this.sessionExpiresS), ...(this.minSessionExpiresS !== MIN_SESSION_EXPIRES_S ? { 'min-se': String(this.minSessionExpiresS) } : {}) },
      },
      (response) => this.onInviteResponse(call, response),
    );
    if ('kind' in invite) {
      if (!this.endIfImpostor(call, invite)) this.end(call, 'unreachable', describeOutcome(invite));
      return;
    }
    call.invite = invite;
    call.inviteFlow = invite.remote;
    if (hasEnded(call)) invite.cancel();
    const outcome = await invite.outcome;
    call.invite = undefined;
    if (outcome.kind === 'final' && outcome.response.status < 300) return;
    const status = outcome.kind === 'final' ? outcome.response.status : 408;
    if (outcome.kind === 'final' && call.dtls && !call.dialog && call.state !== 'ended' && (status === 488 || status === 606)) {
      // The phone does not take DTLS-SRTP (RFC 3261 13.3.1.3): plain audio, if the user allows calls in the clear.
      call.dtls = false;
      call.local = { ...call.local, dtls: undefined };
      if (this.allowUnencryptedPhones) {
        call.offeredPlainAfterDtls = true;
        return this.sendInvite(call, target, displayName);
      }
      this.security.refused['plain-not-allowed']++;
      for (const tell of call.settled.splice(0)) tell(status);
      this.end(call, 'not-secured', 'they cannot encrypt, and calls in the clear are turned off in Settings');
      return;
    }
    for (const tell of call.settled.splice(0)) tell(status);
    if (call.state === 'ended' || this.endIfImpostor(call, outcome)) return;
    if (outcome.kind === 'final' && status === 488 && outcome.response.reason === NOT_SECURED_REASON) this.end(call, 'not-secured', warningText(outcome.response));
    else if (outcome.kind === 'final') this.end(call, reasonForStatus(status), `${status} ${outcome.response.reason}`);
    else this.end(call, outcome.kind === 'timeout' && call.state === 'ringing' ? 'no-answer' : 'unreachable', describeOutcome(outcome));
  }

  /** The callee's address answered with another TLS certificate than the callee published: not our callee. */
  private endIfImpostor(call: Call, outcome: RequestOutcome): boolean {
    if (!isCertificateMismatch(outcome)) return false;
    this.security.refused['wrong-certificate']++;
    this.end(call, 'not-secured', `${outcome.error.message}: someone may be in between`);
    return true;
  }

  private onInviteResponse(call: Call, response: SipResponse): void {
    if (response.status < 200) {
      if ((response.status === 180 || response.status === 183) && call.state === 'calling') {
        call.setup = { toRingingMs: elapsedSince(call.inviteSentAt) };
        call.state = 'ringing';
        this.changed(call);
      }
      if (response.status === 183) this.startEarlyMedia(call, response);
      return;
    }
    const request = call.invite?.request;
    const dialog = request && dialogAsUac(request, response);
    if (!dialog) {
      this.deps.log.info('2xx without Contact or To tag', { callId: call.sipCallId });
      return;
    }
    // A phone behind a NAT answers with its LAN address as Contact: the ACK and the rest go where the INVITE went.
    const flow = call.inviteFlow && flowBehindNat(dialog.remoteTarget, call.inviteFlow);
    if (flow) dialog.flow = flow;
    // RFC 3261 13.2.2.4: every 2xx gets an ACK, retransmissions and other forks' too.
    void this.deps.stack.sendAck(ackFor(dialog, dialog.localSeq));
    const fork = call.dialog && call.dialog.remoteTag !== dialog.remoteTag;
    if (call.dialog && !fork) return;
    if (fork || call.state === 'ended') {
      // Answered after we gave up, or by a second fork: end that session at once.
      void this.deps.stack.request(inDialogRequest(dialog, 'BYE', this.ownUri()));
      return;
    }
    call.dialog = dialog;
    call.setup = { ...call.setup, toAnswerMs: elapsedSince(call.inviteSentAt) };
    this.byDialog.set(dialogKey(dialog.callId, dialog.localTag, dialog.remoteTag), call);
    let negotiated = readAnswer(decodeBody(response.content), call.local);
    if (!negotiated.ok && negotiated.code === 'not-secured' && call.offeredSecurity && checkPhoneAttestation(response, call.offeredSecurity.peerIdentity, this.now()) === 'valid') {
      // The user picked up on one of their SIP phones, and their node says so: a plain call, if we allow those.
      if (!this.allowUnencryptedPhones) {
        this.sendBye(call);
        this.security.refused['plain-not-allowed']++;
        this.end(call, 'not-secured', 'they answered on a phone that cannot encrypt, and calls in the clear are turned off in Settings');
        return;
      }
      call.offeredSecurity = undefined;
      call.local = { ...call.local, mediaKey: undefined };
      negotiated = readAnswer(decodeBody(response.content), call.local);
    }
    if (!negotiated.ok && negotiated.code === 'not-secured' && call.dtls) {
      // A phone that answers our DTLS-SRTP offer with plain RTP (sipp and some others do): plain, if allowed.
      if (!this.allowUnencryptedPhones) {
        this.sendBye(call);
        this.security.refused['plain-not-allowed']++;
        this.end(call, 'not-secured', 'they answered without encryption, and calls in the clear are turned off in Settings');
        return;
      }
      call.dtls = false;
      call.local = { ...call.local, dtls: undefined };
      negotiated = readAnswer(decodeBody(response.content), call.local);
    }
    if (!negotiated.ok) {
      this.sendBye(call);
      if (negotiated.code === 'not-secured') this.security.refused.downgrade++;
      this.end(call, negotiated.code === 'not-secured' ? 'not-secured' : 'not-acceptable', negotiated.reason);
      return;
    }
    // RFC 5763 5: the answer settled our DTLS role; later offers in the dialog keep it.
    if (negotiated.dtls && call.local.dtls) call.local = { ...call.local, dtls: { ...call.local.dtls, setup: negotiated.dtls.setup } };
    if (negotiated.sdes && !call.media.encrypted) {
      call.local = { ...call.local, sdes: [negotiated.sdes.own] };
      call.media.secure(sdesCallKeys(negotiated.sdes.own, negotiated.sdes.peer));
    }
    if (call.offeredSecurity) {
      const secured = this.security.answered(call.offeredSecurity, negotiated.peerMediaKey);
      if (!secured.ok) {
        this.sendBye(call);
        this.end(call, 'not-secured', secured.reason);
        return;
      }
      call.media.secure(secured.keys);
      call.agreedPeerKey = negotiated.peerMediaKey;
    }
    for (const tell of call.settled.splice(0)) tell(response.status);
    call.media.signallingPeer = call.inviteFlow?.address;
    this.startMedia(call, negotiated);
    const timer = uacSessionTimer(response.headers as Record<string, unknown>, this.minSessionExpiresS);
    if (timer) this.sessionTimers.start(call, timer, 'uac');
  }

  private ringTimedOut(call: Call): void {
    if (call.answeredAt || call.state === 'ended') return;
    if (call.direction === 'in') {
      call.incoming?.respond(480, { reason: this.deps.voicemail?.().enabled ? VOICEMAIL_REASON : 'Temporarily Unavailable (no answer)' });
      this.end(call, 'no-answer');
    } else {
      call.invite?.cancel();
      this.end(call, 'no-answer');
    }
  }

  // ---- incoming calls ----

  private async onInvite(incoming: IncomingRequest): Promise<void> {
    const { request } = incoming;
    if (request.headers.to.params.tag !== undefined) return this.actions.onReinvite(incoming);
    const target = parseSipUri(request.uri);
    const echo = target?.user?.toLowerCase() === ECHO_USER;
    const identity = this.deps.identity.current;
    if (!echo && !identity) return incoming.respond(480, { reason: 'No user here yet' });
    if (!echo && target?.user && target.user.toLowerCase() !== identity!.userName) return incoming.respond(404);
    if (this.stopping || [...this.calls.values()].filter((c) => c.state !== 'ended').length >= (this.deps.maxCalls ?? 500)) {
      return incoming.respond(486);
    }
    const from = request.headers.from;
    const policy = echo ? 'ring' : (this.deps.callerPolicy?.(conversationKey(from.uri) ?? from.uri) ?? 'ring');
    if (policy === 'reject') {
      // RFC 3261 21.6.2: 603 Decline, the user's explicit refusal: what pressing Decline sends, so a
      // blocked caller cannot tell the block from a person declining. No media opened, no history row.
      this.rejectedCalls++;
      return incoming.respond(603);
    }
    const media = await this.deps.openMedia();
    const peerName = typeof from.name === 'string' ? from.name.replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1') || undefined : undefined;
    const call = this.newCall({ direction: 'in', peer: from.uri, peerName, media, sipCallId: request.headers['call-id'], hidden: echo });
    call.state = 'incoming';
    if (policy === 'ask') call.request = true;
    const dialog = dialogAsUas(request, incoming.toTag);
    if (!dialog) {
      await this.discard(call);
      return incoming.respond(400, { reason: 'Bad Request (no Contact or From tag)' });
    }
    // A phone behind a NAT calls with its LAN address as Contact: our requests go back where its INVITE came from.
    const flow = flowBehindNat(dialog.remoteTarget, incoming.remote);
    if (flow) dialog.flow = flow;
    const timer = uasSessionTimer(request.headers as Record<string, unknown>, this.sessionExpiresS, this.minSessionExpiresS);
    if (timer && 'tooSmall' in timer) {
      // RFC 4028 8.1: an interval below our minimum gets 422 with the least we take.
      await this.discard(call);
      return incoming.respond(422, { headers: { 'min-se': String(timer.tooSmall) } });
    }
    const offer = sdpOf(request);
    // The echo service answers as this node does: DTLS-SRTP when offered (our own dialer offers it), plain only where allowed.
    const secured = await this.securityOfOffer(request, offer, from.uri, incoming.remote.protocol === 'tls');
    if (secured.kind === 'refused') {
      await this.discard(call);
      this.deps.log.info('refused a call that could not be secured', { from: from.uri, why: secured.refusal, detail: secured.reason });
      return incoming.respond(488, { reason: NOT_SECURED_REASON, headers: { warning: `399 ${this.deps.stack.host} "Call could not be secured: ${secured.reason}"` } });
    }
    if (secured.kind === 'encrypted') {
      call.local = { ...call.local, mediaKey: secured.key };
      call.srtpKeys = secured.keys;
    } else if (secured.kind === 'sdes') {
      call.local = { ...call.local, sdes: [secured.own] };
      call.srtpKeys = secured.keys;
      call.sdes = { overTls: secured.overTls };
    } else if (secured.kind === 'dtls') {
      const fingerprint = media.dtlsFingerprint;
      if (!fingerprint) {
        await this.discard(call);
        return incoming.respond(488, { reason: NOT_SECURED_REASON, headers: { warning: `399 ${this.deps.stack.host} "Call could not be secured: this node has no certificate for DTLS-SRTP"` } });
      }
      call.local = { ...call.local, dtls: { setup: secured.setup, fingerprint } };
      call.dtls = true;
    }
    if (offer !== undefined) {
      media.signallingPeer = incoming.remote.address;
      // A phone without ICE sends where our answer's c= says: a relay, when our NAT lets nothing else in.
      if (offersIce(offer) || media.plainPeersNeedRelay()) {
        const ice = await media.gatherIce('controlled');
        if (ice) call.local = withIce(call.local, ice);
      }
      const result = answer(offer, call.local);
      if (!result.ok) {
        await this.discard(call);
        // RFC 3261 13.3.1.3: an offer we cannot take gets 488, with a Warning that says why.
        return incoming.respond(488, { headers: { warning: `305 ${this.deps.stack.host} "${result.reason}"` } });
      }
      call.pendingAnswer = result;
      call.agreedPeerKey = result.peerMediaKey;
    }
    call.dialog = dialog;
    call.incoming = incoming;
    this.byDialog.set(dialogKey(dialog.callId, dialog.localTag, dialog.remoteTag), call);
    incoming.onCancel = () => this.end(call, 'cancelled');
    if (echo) {
      const loop = echoLoop();
      call.playSource = loop.source;
      call.media.setSink(loop.sink);
      this.acceptIncoming(call);
      return;
    }
    incoming.respond(180, { headers: { contact: [{ uri: this.ownUri(), params: {} }] } });
    call.historyId = await this.deps.calls.start({ direction: 'in', peer: call.peer, peerName: call.peerName, sipCallId: call.sipCallId, at: call.startedAt });
    if (hasEnded(call)) {
      // Cancelled while the row was written.
      const stored = await this.deps.calls.finish(call.historyId, 'missed', call.endedAt ?? this.now(), call.endMessage);
      if (stored) this.deps.onHistory(historyEntry(stored));
      return;
    }
    this.changed(call);
    call.timers.push(this.deps.timers.set(this.incomingRingMs(), () => this.ringTimedOut(call)));
    if (this.deps.autoAnswer && !call.request) call.timers.push(this.deps.timers.set(200, () => call.state === 'incoming' && this.acceptIncoming(call)));
  }

  /** How long an incoming call rings: the voicemail ring time when voicemail is on (never longer than the ring timeout). */
  private incomingRingMs(): number {
    const timeout = this.deps.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS;
    const voicemail = this.deps.voicemail?.();
    return voicemail?.enabled ? Math.min(timeout, voicemail.ringSeconds * 1000) : timeout;
  }

  /** An outgoing call to a Peerdial user nobody answered: offer a voice message if their name claim allows one. */
  private offerVoicemail(call: Call, reason: string): void {
    const overlay = this.deps.overlay;
    const uri = parseSipUri(call.peer);
    if (call.direction !== 'out' || call.answeredAt || call.hidden || !overlay || !VOICEMAIL_REASONS.has(reason) || !uri?.user || !overlay.isOverlayUri(uri)) return;
    void overlay.lookupAor(call.peer).then(
      (found) => {
        if (!found.owner || !found.x25519 || found.voicemail === false) return;
        call.voicemail = true;
        this.changed(call);
      },
      () => undefined,
    );
  }

  private acceptIncoming(call: Call): void {
    const incoming = call.incoming!;
    call.incoming = undefined;
    const delayedOffer = call.pendingAnswer === undefined;
    // RFC 3261 13.2.1: with no offer in the INVITE, ours goes in the 2xx and the answer in the ACK.
    const body = call.pendingAnswer?.sdp ?? createOffer(call.local);
    call.awaitingAck = true;
    incoming.onAck = (ack) => {
      call.awaitingAck = false;
      if (call.byeAfterAck) {
        // Hung up before the ACK: the BYE held back until now (RFC 3261 15).
        this.sendBye(call);
        return;
      }
      if (!ack) {
        if (call.state === 'ended') return;
        this.sendBye(call);
        this.end(call, 'connection-lost', 'no ACK for our answer');
        return;
      }
      if (delayedOffer) {
        const negotiated = readAnswer(decodeBody(ack.content), call.local);
        if (!negotiated.ok) {
          this.sendBye(call);
          this.end(call, 'not-acceptable', negotiated.reason);
          return;
        }
        this.startMedia(call, negotiated);
      }
    };
    const timer = call.hidden ? undefined : uasSessionTimer(incoming.request.headers as Record<string, unknown>, this.sessionExpiresS, this.minSessionExpiresS);
    const agreedTimer = timer && !('tooSmall' in timer) ? timer : undefined;
    incoming.respond(200, {
      headers: {
        contact: [{ uri: this.ownUri() ?? sipUri(ECHO_USER, this.deps.stack.host, this.deps.stack.port), params: {} }],
        'content-type': 'application/sdp',
        // RFC 3261 12.1.1: the UAS copies Record-Route into its 2xx.
        ...(incoming.request.headers['record-route'] ? { 'record-route': incoming.request.headers['record-route'] } : {}),
        // RFC 4028 9: the interval and refresher agreed, and Require: timer to a caller that supports it.
        ...(agreedTimer ? { 'session-expires': formatSessionExpires({ seconds: agreedTimer.intervalS, refresher: agreedTimer.refresher }), ...(agreedTimer.require ? { require: TIMER_OPTION } : {}) } : {}),
      },
      body,
    });
    if (agreedTimer) this.sessionTimers.start(call, agreedTimer, 'uas');
    if (call.pendingAnswer) this.startMedia(call, call.pendingAnswer);
    else {
      call.answeredAt = this.now();
      call.state = 'active';
      this.changed(call);
    }
  }

  /**
   * RFC 3960: a phone's 183 with SDP answers our offer for early media (no PRACK: the 2xx must
   * carry the same answer). Its audio plays while the call rings; nothing from the microphone goes
   * out before the answer. Between Peerdial users there is none: their keys come with the 2xx.
   */
  private startEarlyMedia(call: Call, response: SipResponse): void {
    if (call.earlyMedia || call.offeredSecurity || call.state !== 'ringing') return;
    const sdp = decodeBody(response.content);
    if (!sdp) return;
    let early = readAnswer(sdp, call.local);
    if (!early.ok && early.code === 'not-secured' && call.dtls && this.allowUnencryptedPhones) {
      // A plain answer to our DTLS-SRTP offer, taken as the 2xx would take it.
      call.dtls = false;
      call.local = { ...call.local, dtls: undefined };
      early = readAnswer(sdp, call.local);
    }
    if (!early.ok) return;
    call.earlyMedia = early;
    if (early.dtls && call.local.dtls) call.local = { ...call.local, dtls: { ...call.local.dtls, setup: early.dtls.setup } };
    if (early.sdes) {
      call.local = { ...call.local, sdes: [early.sdes.own] };
      call.media.secure(sdesCallKeys(early.sdes.own, early.sdes.peer));
    }
    call.media.signallingPeer = call.inviteFlow?.address;
    call.media.configure(early);
    if (early.dtls) this.startDtls(call, early.dtls, early.rtcpMux === true);
    this.refocus();
    this.changed(call);
  }

  /** DTLS-SRTP with a phone: the handshake starts now; a failed one ends the call as not secured. */
  private startDtls(call: Call, dtls: NonNullable<NegotiatedAudio['dtls']>, rtcpMux: boolean): void {
    call.media.onSecurityFailed = (problem, reason) => {
      if (call.state === 'ended') return;
      this.security.refused[problem === 'wrong-certificate' ? 'wrong-certificate' : 'dtls-failed']++;
      this.deps.log.info('a call with a phone could not be secured', { call: call.id, problem, reason });
      this.sendBye(call);
      this.end(call, 'not-secured', reason);
    };
    call.media.onSecured = () => this.changed(call);
    call.media.startDtls(dtls.setup, dtls.peerFingerprint, rtcpMux);
  }

  private startMedia(call: Call, negotiated: NegotiatedAudio): void {
    call.negotiated = negotiated;
    if (call.srtpKeys && !call.media.encrypted) call.media.secure(call.srtpKeys);
    if (!call.hidden) this.security.counted(encryptionOf(call));
    call.media.configure(negotiated);
    if (negotiated.dtls) this.startDtls(call, negotiated.dtls, negotiated.rtcpMux === true);
    call.remoteHold = !sends(negotiated.direction);
    call.media.onDtmf = (digit) => {
      call.dtmfReceived += digit;
      this.changed(call);
    };
    call.media.onPathLost = () => {
      if (call.state !== 'active') return;
      if (call.reinviting) {
        // A hold or resume is under way: try again once it is done.
        call.timers.push(this.deps.timers.set(500, () => call.media.onPathLost?.()));
        return;
      }
      void this.actions.restartIce(call).catch((error: unknown) => this.deps.log.info('ICE restart failed', { error: String(error) }));
    };
    call.media.onPeerSilent = () => {
      if (call.state !== 'active') return;
      this.sendBye(call);
      this.end(call, 'connection-lost', 'no audio or reports from the other side');
    };
    if (!call.answeredAt) {
      call.answeredAt = this.now();
      if (call.historyId !== undefined) void this.deps.calls.answered(call.historyId, call.answeredAt);
    }
    call.focusedAt = this.now();
    if (!call.hidden && this.deps.playSource && !call.playSource) call.playSource = this.deps.playSource();
    call.state = 'active';
    this.refocus();
    this.changed(call);
  }

  /**
   * The callee's side of end-to-end encryption: an offer (or an offer-less INVITE) is checked
   * against the caller's name in our overlay; a From outside it is a phone or another domain.
   */
  private async securityOfOffer(request: IncomingRequest['request'], offer: string | undefined, fromUri: string, overTls: boolean): Promise<AnswerSecurity> {
    const overlay = this.deps.overlay;
    const fromAor = overlayAorOf(fromUri, overlay?.overlay);
    const vouched = (userKey: string) => checkPhoneAttestation(request, userKey, this.now()) === 'valid';
    return this.security.answer(request.headers['call-id'], offer ?? '', overlay?.ownAor(), fromAor, vouched, overTls);
  }

  // ---- helpers ----

  private ownUri(): string | undefined {
    const identity = this.deps.identity.current;
    if (!identity || !this.deps.stack.started) return undefined;
    return this.deps.stack.contactFor(identity.userName);
  }

  private newCall(c: { direction: 'in' | 'out'; peer: string; peerName?: string; media: MediaSession; sipCallId: string; hidden?: boolean }): Call {
    const call: Call = {
      id: randomBytes(8).toString('hex'),
      direction: c.direction,
      peer: c.peer,
      peerName: c.peerName,
      state: 'calling',
      localHold: false,
      remoteHold: false,
      muted: false,
      startedAt: this.now(),
      dtmfReceived: '',
      hidden: c.hidden ?? false,
      sipCallId: c.sipCallId,
      media: c.media,
      local: {
        address: c.media.address,
        port: c.media.port,
        codecs: this.deps.codecs ?? OFFERED_CODECS,
        telephoneEvent: true,
        direction: 'sendrecv',
        sessionId: String(Math.floor(Math.random() * 1e9)),
        sessionVersion: 1,
      },
      reinviting: false,
      awaitingAck: false,
      byeAfterAck: false,
      timers: [],
      settled: [],
    };
    this.calls.set(call.id, call);
    return call;
  }

  private find(id: string): Call {
    const call = typeof id === 'string' ? this.calls.get(id) : undefined;
    if (!call || call.hidden) throw new UserError('NOT_FOUND', 'There is no such call.');
    return call;
  }

  private live(id: string): Call {
    const call = this.find(id);
    if (call.state === 'ended') throw new UserError('INVALID_STATE', 'The call has ended.');
    return call;
  }

  private inDialog(call: Call, method: string, extra: Partial<OutgoingRequest> = {}): OutgoingRequest {
    return { ...inDialogRequest(call.dialog!, method, this.ownUri()), fromName: this.deps.identity.current?.displayName, ...extra };
  }

  private sendBye(call: Call): void {
    if (!call.dialog) return;
    if (call.awaitingAck) {
      call.byeAfterAck = true;
      return;
    }
    void this.deps.stack.request(this.inDialog(call, 'BYE'));
  }

  private async hangupCall(call: Call, reason: 'hangup' | 'cancelled' | 'declined', detail?: string): Promise<void> {
    if (call.state === 'incoming' && call.incoming) call.incoming.respond(reason === 'declined' && !this.stopping ? 603 : 480);
    else if (call.answeredAt) this.sendBye(call);
    else call.invite?.cancel();
    this.end(call, reason, detail);
  }

  /** Ends a call once: media closed, history written, the devices handed to another call. */
  private end(call: Call, reason: Call['endReason'] & string, detail?: string): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    call.endedAt = this.now();
    call.endReason = reason;
    call.endMessage = endMessageFor(call, reason, detail);
    for (const t of call.timers) this.deps.timers.clear(t);
    call.timers = [];
    this.sessionTimers.stop(call);
    for (const tell of call.settled.splice(0)) tell(reason === 'busy' ? 486 : 487);
    void call.media
      .close()
      // The --record file is a whole WAV as soon as a call ends, not only when the node stops.
      .then(() => this.deps.recorder?.settle?.())
      .catch((error: unknown) => this.deps.log.debug('media close or recording failed', { error: String(error) }));
    this.refocus();
    this.offerVoicemail(call, reason);
    if (!call.hidden) {
      this.changed(call);
      if (call.historyId !== undefined) {
        const write = this.deps.calls
          .finish(call.historyId, outcomeFor(call, reason), call.endedAt, call.endMessage)
          .then((stored) => {
            if (stored) this.deps.onHistory(historyEntry(stored));
          })
          .catch((error: unknown) => this.deps.log.warn('call history not written', { error: String(error) }))
          .finally(() => this.historyWrites.delete(write));
        this.historyWrites.add(write);
      }
    }
    this.deps.timers.set(LINGER_MS, () => {
      this.calls.delete(call.id);
      if (call.dialog) this.byDialog.delete(dialogKey(call.dialog.callId, call.dialog.localTag, call.dialog.remoteTag));
    });
  }

  private async discard(call: Call): Promise<void> {
    this.calls.delete(call.id);
    await call.media.close();
  }

  /** The user's microphone and speaker go to the newest active call not on hold; the others get silence. */
  private refocus(): void {
    let focus: Call | undefined;
    for (const call of this.calls.values()) {
      if (call.hidden || call.state !== 'active' || call.localHold) continue;
      if (!focus || (call.focusedAt ?? 0) > (focus.focusedAt ?? 0)) focus = call;
    }
    // With no call in progress, a ringing call's early media is heard (the microphone stays off).
    const early = focus ? undefined : [...this.calls.values()].find((call) => !call.hidden && call.state === 'ringing' && call.earlyMedia);
    for (const call of this.calls.values()) {
      if (call.state === 'ended') continue;
      if (call.hidden) {
        // The echo test's side plays its own loop, set up before it is answered.
        call.media.setSource(call.playSource);
        continue;
      }
      const route = call === focus ? 'focus' : call === early ? 'early' : 'off';
      // Only a call whose route changed is rewired: rewiring drops the frame pulled ahead and
      // restarts the speaker's resampler, a gap the user hears. An INVITE flood's ringing calls
      // ending 20 a second refocused the call in progress each time, and cut 40% of its audio.
      if (call.audioRoute === route) continue;
      call.audioRoute = route;
      if (route === 'focus') {
        call.media.setSource(call.playSource ?? this.deps.audio.microphone);
        call.media.setSink(this.deps.audio.speakerSink(this.deps.recorder));
      } else if (route === 'early') {
        call.media.setSource(undefined);
        call.media.setSink(this.deps.audio.speakerSink(this.deps.recorder));
      } else {
        call.media.setSource(undefined);
        call.media.setSink(undefined);
      }
    }
  }

  private changed(call: Call): void {
    if (!call.hidden) this.deps.onChange(callView(call));
  }

  private scheduleQuality(): void {
    this.qualityTimer = this.deps.timers.set(QUALITY_REFRESH_MS, () => {
      for (const call of this.calls.values()) if (call.state === 'active') this.changed(call);
      if (!this.stopping) this.scheduleQuality();
    });
  }
}

/** The text of a Warning header (RFC 3261 20.43), or the status line when there is none. */
function warningText(response: SipResponse): string {
  const raw = response.headers.warning;
  const warning = Array.isArray(raw) ? raw[0] : raw;
  const quoted = typeof warning === 'string' ? /"(.*)"/.exec(warning)?.[1] : undefined;
  return quoted ?? `${response.status} ${response.reason}`;
}

function elapsedSince(start: number | undefined): number | undefined {
  return start === undefined ? undefined : Math.round((performance.now() - start) * 1000) / 1000;
}

/** The state read afresh: a call can end while a command awaits (TypeScript narrows it too early). */
function hasEnded(call: Call): boolean {
  return call.state === 'ended';
}
