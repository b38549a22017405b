// The offering side of configuration offers (RFC 6665 4.2): LAN nodes SUBSCRIBE to the event
// package `peerdial-config` and get the signed document by NOTIFY at once and on every change;
// when the user stops sharing, every subscription ends with reason `noresource`. Anyone on the
// LAN may subscribe: the document is public, and its signature is what followers trust.
import type { Logger } from '../../log.js';
import { grantExpires, requestTimeoutMs } from '../../proto/presence/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { CONFIG_OFFER_CONTENT_TYPE, CONFIG_OFFER_EVENT } from '../../wire/lan/config-offer.js';
import { firstContactUri } from '../../wire/presence/contact-header.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

export interface ConfigOfferNotifierDeps {
  stack: SipStack;
  timers: TimerHost;
  log: Logger;
  /** The signed document's body, or undefined while the user shares nothing. */
  document(): string | undefined;
  ownContact(): string | undefined;
  /** The longest subscription granted (s). */
  maxExpires: number;
  /** At most this many subscribers at once (a LAN, not the Internet). */
  maxSubscribers?: number;
}

interface Subscriber {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our URI in the dialog (their To) and theirs (their From, To of our NOTIFYs). */
  localUri: string;
  remoteUri: string;
  target: string;
  cseq: number;
  expiresAt: number;
  timer?: TimerHandle;
}

export class ConfigOfferNotifier {
  private readonly subscribers = new Map<string, Subscriber>();

  constructor(private readonly deps: ConfigOfferNotifierDeps) {}

  get count(): number {
    return this.subscribers.size;
  }

  onSubscribe(incoming: IncomingRequest): void {
    const { request, respond } = incoming;
    const document = this.deps.document();
    const ownContact = this.deps.ownContact();
    const callId = request.headers['call-id'];
    const toTag = request.headers.to?.params?.tag as string | undefined;
    const existing = toTag ? this.subscribers.get(callId) : undefined;
    if (toTag && (!existing || existing.localTag !== toTag)) return respond(481, { reason: 'Subscription Does Not Exist' });
    const requested = request.headers.expires === undefined ? undefined : Number(request.headers.expires);
    if (!document || !ownContact) {
      // Nothing shared (any more): an unsubscription still succeeds, a new subscription finds nothing.
      if (requested === 0) return respond(200, { headers: { expires: 0 } });
      return respond(404, { reason: 'Not Found (no configuration offered here)' });
    }
    const accept = request.headers.accept;
    if (accept !== undefined && !/application\/vnd\.peerdial\.config\+json|\*\/\*|application\/\*/i.test(String(accept))) {
      return respond(406, { headers: { accept: CONFIG_OFFER_CONTENT_TYPE } });
    }
    const contact = firstContactUri(request.headers.contact);
    if (!contact) return respond(400, { reason: 'Bad Request (no Contact)' });
    const decision = grantExpires(requested, this.deps.maxExpires);
    // RFC 6665 4.2.1.1: too short a subscription gets 423 with Min-Expires.
    if (decision.kind === 'too-brief') return respond(423, { reason: 'Interval Too Brief', headers: { 'min-expires': decision.min } });
    if (!existing && this.subscribers.size >= (this.deps.maxSubscribers ?? 256)) return respond(503, { reason: 'Service Unavailable (too many subscribers)', headers: { 'retry-after': 60 } });
    const expires = Math.min(decision.expires, this.deps.maxExpires);
    respond(200, { headers: { expires, contact: [{ uri: ownContact, params: {} }] } });

    const sub: Subscriber = existing ?? {
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
      this.subscribers.delete(callId);
      void this.notify(sub, 'terminated;reason=timeout');
      return;
    }
    sub.expiresAt = Date.now() + expires * 1000;
    sub.timer = this.deps.timers.set(expires * 1000, () => {
      this.subscribers.delete(callId);
      void this.notify(sub, 'terminated;reason=timeout');
    });
    this.subscribers.set(callId, sub);
    // RFC 6665 4.2.1.2: the current state right after the 2xx, for a refresh too.
    void this.notify(sub);
  }

  /** The document changed: every subscriber gets the new one. */
  notifyAll(): Promise<void> {
    return Promise.allSettled([...this.subscribers.values()].map((s) => this.notify(s))).then(() => undefined);
  }

  /** Ends every subscription (the user stopped sharing, or the node stops). */
  async terminateAll(reason: 'noresource' | 'deactivated'): Promise<void> {
    const ending = [...this.subscribers.values()];
    this.subscribers.clear();
    for (const s of ending) if (s.timer) this.deps.timers.clear(s.timer);
    await Promise.allSettled(ending.map((s) => this.notify(s, `terminated;reason=${reason}`)));
  }

  private async notify(s: Subscriber, state?: string): Promise<void> {
    const body = this.deps.document();
    const remaining = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
    s.cseq += 1;
    const outcome = await this.deps.stack.request({
      method: 'NOTIFY',
      to: s.remoteUri,
      from: s.localUri,
      requestUri: s.target,
      contact: this.deps.ownContact(),
      // RFC 6665 4.2.2: a final NOTIFY after the offer was withdrawn carries no body.
      ...(body !== undefined ? { body, contentType: CONFIG_OFFER_CONTENT_TYPE } : {}),
      headers: { event: CONFIG_OFFER_EVENT, 'subscription-state': state ?? `active;expires=${remaining}` },
      dialog: { callId: s.callId, localTag: s.localTag, remoteTag: s.remoteTag, cseq: s.cseq, routeSet: [] },
      timeoutMs: requestTimeoutMs(this.deps.maxExpires),
    });
    // RFC 6665 4.2.2: a NOTIFY answered 481, or not at all, ends the subscription.
    const gone = outcome.kind !== 'final' || outcome.response.status === 481;
    if (gone && this.subscribers.get(s.callId) === s) {
      this.subscribers.delete(s.callId);
      if (s.timer) this.deps.timers.clear(s.timer);
      this.deps.log.debug('configuration subscriber gone', { target: s.target, outcome: outcome.kind });
    }
  }
}
