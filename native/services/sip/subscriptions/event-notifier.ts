// The notifier side of RFC 6665 (section 4.2), for any event package: SUBSCRIBEs are checked,
// granted a duration, and answered by a NOTIFY with the current state at once, on every change,
// and a final one when the subscription ends. Who may subscribe and what the document is are the
// event package's.
import type { Logger } from '../../../log.js';
import { grantExpires, requestTimeoutMs } from '../../../proto/sip/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../../proto/sip/timers.js';
import { firstContactUri } from '../../../wire/presence/contact-header.js';
import type { SipRequest } from '../../../wire/sip/message.js';
import type { IncomingRequest, SipStack } from '../sip-stack.js';

/** A refusal: the status and reason of the answer, and any headers it needs. */
export interface Refusal {
  status: number;
  reason?: string;
  headers?: Record<string, string | number>;
}

/** What one NOTIFY carries besides the dialog: a body (none in a final NOTIFY of a withdrawn offer) and headers. */
export interface EventDocument {
  body?: string;
  headers?: Record<string, string>;
}

export interface EventNotifierDeps {
  stack: SipStack;
  timers: TimerHost;
  log: Logger;
  /** The event package (`Event:`), the document's type, and the Accept values that take it. */
  event: string;
  contentType: string;
  accepts: RegExp;
  /** The longest subscription granted (s). */
  maxExpires: number;
  /** At most this many subscriptions at once. */
  maxSubscriptions?: number;
  ownContact(): string | undefined;
  /** A refusal when nothing can be subscribed to here now (no user yet, nothing offered). */
  unavailable(request: SipRequest, requestedExpires: number | undefined): Refusal | undefined;
  /** Who is subscribing, or why they may not; undefined `who` for a package anyone may follow. */
  authorize?(request: SipRequest, requestedExpires: number | undefined): { who: string } | Refusal;
  /** The current document; undefined when no NOTIFY can be sent now. */
  document(): EventDocument | undefined;
  /** From of our NOTIFYs, when not the URI the subscriber put in To. */
  notifyFrom?(): string | undefined;
  /** A subscription was made or refreshed. */
  onSubscribed?(who: string | undefined): void;
}

interface Subscription {
  /** Who subscribed (as `authorize` named them). */
  who?: string;
  callId: string;
  /** Our tag (the To tag of our 200) and theirs (their From tag). */
  localTag: string;
  remoteTag: string;
  /** Our URI in the dialog (their To) and theirs (their From, the To of our NOTIFYs). */
  localUri: string;
  remoteUri: string;
  /** Where NOTIFYs go: their Contact. */
  target: string;
  cseq: number;
  expiresAt: number;
  timer?: TimerHandle;
}

export class EventNotifier {
  private readonly subs = new Map<string, Subscription>();

  constructor(private readonly deps: EventNotifierDeps) {}

  /** How many subscriptions are active. */
  get count(): number {
    return this.subs.size;
  }

  onSubscribe(incoming: IncomingRequest): void {
    const { request } = incoming;
    const refuse = (r: Refusal) => incoming.respond(r.status, { ...(r.reason ? { reason: r.reason } : {}), ...(r.headers ? { headers: r.headers } : {}) });
    const requested = request.headers.expires === undefined ? undefined : Number(request.headers.expires);
    const unavailable = this.deps.unavailable(request, requested);
    if (unavailable) return refuse(unavailable);
    const accept = request.headers.accept;
    if (accept !== undefined && !this.deps.accepts.test(String(accept))) return refuse({ status: 406, headers: { accept: this.deps.contentType } });
    const callId = request.headers['call-id'];
    const toTag = request.headers.to?.params?.tag as string | undefined;
    const existing = toTag ? this.subs.get(callId) : undefined;
    // RFC 6665 4.2.1.2: a refresh of a subscription we do not have.
    if (toTag && (!existing || existing.localTag !== toTag)) return refuse({ status: 481, reason: 'Subscription Does Not Exist' });
    const authorized = this.deps.authorize ? this.deps.authorize(request, requested) : { who: undefined };
    if ('status' in authorized) return refuse(authorized);
    const contact = firstContactUri(request.headers.contact);
    if (!contact) return refuse({ status: 400, reason: 'Bad Request (no Contact)' });
    const decision = grantExpires(requested, this.deps.maxExpires);
    // RFC 6665 4.2.1.1: too short a subscription gets 423 with Min-Expires.
    if (decision.kind === 'too-brief') return refuse({ status: 423, reason: 'Interval Too Brief', headers: { 'min-expires': decision.min } });
    if (!existing && this.subs.size >= (this.deps.maxSubscriptions ?? Infinity)) {
      return refuse({ status: 503, reason: 'Service Unavailable (too many subscribers)', headers: { 'retry-after': 60 } });
    }
    const expires = Math.min(decision.expires, this.deps.maxExpires);
    incoming.respond(200, { headers: { expires, contact: [{ uri: this.deps.ownContact(), params: {} }] } });

    const sub: Subscription = existing ?? {
      who: authorized.who,
      callId,
      localTag: incoming.toTag,
      remoteTag: String(request.headers.from.params?.tag ?? ''),
      localUri: request.headers.to.uri,
      remoteUri: request.headers.from.uri,
      target: contact,
      cseq: 0,
      expiresAt: 0,
    };
    sub.target = contact;
    if (sub.timer) this.deps.timers.clear(sub.timer);
    if (expires === 0) {
      // RFC 6665 4.2.1.4: an unsubscription is answered by a final NOTIFY.
      this.subs.delete(callId);
      void this.notify(sub, 'terminated;reason=timeout');
      return;
    }
    sub.expiresAt = Date.now() + expires * 1000;
    sub.timer = this.deps.timers.set(expires * 1000, () => {
      this.subs.delete(callId);
      void this.notify(sub, 'terminated;reason=timeout');
    });
    this.subs.set(callId, sub);
    // RFC 6665 4.2.1.2: the current state by NOTIFY right after the 2xx, for a refresh too.
    void this.notify(sub);
    this.deps.onSubscribed?.(authorized.who);
  }

  /** The document changed: every subscriber gets the new one. */
  notifyAll(): Promise<void> {
    return Promise.allSettled([...this.subs.values()].map((s) => this.notify(s))).then(() => undefined);
  }

  /** Ends the subscriptions of `who` (all of them when undefined) with a final NOTIFY (RFC 6665 4.2.2). */
  async terminate(who: string | undefined, reason: string): Promise<void> {
    const ending = [...this.subs.values()].filter((s) => who === undefined || s.who === who);
    for (const s of ending) {
      this.subs.delete(s.callId);
      if (s.timer) this.deps.timers.clear(s.timer);
    }
    await Promise.allSettled(ending.map((s) => this.notify(s, `terminated;reason=${reason}`)));
  }

  private async notify(s: Subscription, state?: string): Promise<void> {
    const doc = this.deps.document();
    const from = this.deps.notifyFrom ? this.deps.notifyFrom() : s.localUri;
    if (!doc || !from) return;
    const remaining = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
    s.cseq += 1;
    const outcome = await this.deps.stack.request({
      method: 'NOTIFY',
      to: s.remoteUri,
      from,
      requestUri: s.target,
      contact: this.deps.ownContact(),
      ...(doc.body !== undefined ? { body: doc.body, contentType: this.deps.contentType } : {}),
      headers: { event: this.deps.event, 'subscription-state': state ?? `active;expires=${remaining}`, ...doc.headers },
      dialog: { callId: s.callId, localTag: s.localTag, remoteTag: s.remoteTag, cseq: s.cseq, routeSet: [] },
      timeoutMs: requestTimeoutMs(this.deps.maxExpires),
    });
    // RFC 6665 4.2.2: a NOTIFY answered 481, or not at all, ends the subscription.
    const gone = outcome.kind !== 'final' || outcome.response.status === 481;
    if (gone && this.subs.get(s.callId) === s) {
      this.subs.delete(s.callId);
      if (s.timer) this.deps.timers.clear(s.timer);
      this.deps.log.debug('subscriber gone', { event: this.deps.event, who: s.who ?? s.target, outcome: outcome.kind });
    }
  }
}
