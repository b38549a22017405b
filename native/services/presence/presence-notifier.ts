// The notifier side of presence (RFC 6665 4.2): buddies SUBSCRIBE to this user's presence and
// get a signed PIDF document by NOTIFY now and on every change. Only accepted buddies, whose
// SUBSCRIBE is signed by their pinned key, may subscribe: everyone else gets 403.
import type { Logger } from '../../log.js';
import { grantExpires, requestTimeoutMs } from '../../proto/presence/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { PIDF_CONTENT_TYPE } from '../../wire/presence/pidf.js';
import { firstContactUri } from '../../wire/presence/contact-header.js';
import { SIGNATURE_HEADER, subscribeSigningText, verifyPayload } from '../../wire/presence/signature.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

/** What the notifier needs of the buddy list. */
export interface SubscriberCheck {
  canonicalAor(text: string): string | undefined;
  stateOf(aor: string): string | undefined;
  buddyKey(aor: string): string | undefined;
}

export interface PresenceNotifierDeps {
  stack: SipStack;
  buddies: SubscriberCheck;
  timers: TimerHost;
  log: Logger;
  /** The current signed document: body and its Peerdial-Signature header. */
  document(): { body: string; signature: string } | undefined;
  ownAor(): string | undefined;
  ownContact(): string | undefined;
  /** The longest subscription granted (s). */
  maxExpires: number;
  /** A buddy subscribed: a hint that they are online. */
  onSubscribed(aor: string): void;
}

interface Watcher {
  aor: string;
  callId: string;
  /** Our tag (the To tag of our 200) and theirs (their From tag). */
  localTag: string;
  remoteTag: string;
  /** Their URI in From (To of our NOTIFYs) and where NOTIFYs go (their Contact). */
  remoteUri: string;
  target: string;
  cseq: number;
  expiresAt: number;
  timer?: TimerHandle;
}

export class PresenceNotifier {
  private readonly watchers = new Map<string, Watcher>();

  constructor(private readonly deps: PresenceNotifierDeps) {}

  /** How many subscriptions to this user's presence are active. */
  get count(): number {
    return this.watchers.size;
  }

  async onSubscribe(incoming: IncomingRequest): Promise<void> {
    const { request, respond } = incoming;
    const event = String(request.headers.event ?? '').split(';')[0].trim().toLowerCase();
    // RFC 6665 8.2.2: an event package we do not know gets 489 with Allow-Events.
    if (event !== 'presence') return respond(489, { reason: 'Bad Event', headers: { 'allow-events': 'presence, peerdial-config' } });
    const own = this.deps.ownAor();
    const ownContact = this.deps.ownContact();
    if (!own || !ownContact) return respond(480, { reason: 'No user here yet' });
    const accept = request.headers.accept;
    if (accept !== undefined && !/application\/pidf\+xml|\*\/\*|application\/\*/i.test(String(accept))) {
      return respond(406, { headers: { accept: PIDF_CONTENT_TYPE } });
    }
    const callId = request.headers['call-id'];
    const toTag = request.headers.to?.params?.tag as string | undefined;
    const existing = toTag ? this.watchers.get(callId) : undefined;
    if (toTag && (!existing || existing.localTag !== toTag)) return respond(481, { reason: 'Subscription Does Not Exist' });

    const fromUri = request.headers.from.uri;
    const aor = this.deps.buddies.canonicalAor(fromUri);
    const key = aor && this.deps.buddies.buddyKey(aor);
    if (!aor || !key || this.deps.buddies.stateOf(aor) !== 'accepted') return respond(403, { reason: 'Forbidden (only buddies may see presence)' });
    const contact = firstContactUri(request.headers.contact);
    if (!contact) return respond(400, { reason: 'Bad Request (no Contact)' });
    const requested = request.headers.expires === undefined ? undefined : Number(request.headers.expires);
    const signed = subscribeSigningText({ from: fromUri, to: request.headers.to.uri, callId, cseq: request.headers.cseq.seq, expires: requested ?? -1, contact });
    if (!verifyPayload('peerdial-subscribe-v1', signed, request.headers[SIGNATURE_HEADER], key)) {
      this.deps.log.info('SUBSCRIBE not signed by the buddy refused', { aor });
      return respond(403, { reason: 'Forbidden (not signed by the buddy\'s key)' });
    }
    const decision = grantExpires(requested, this.deps.maxExpires);
    // RFC 6665 4.2.1.1: too short a subscription gets 423 with Min-Expires.
    if (decision.kind === 'too-brief') return respond(423, { reason: 'Interval Too Brief', headers: { 'min-expires': decision.min } });
    const expires = Math.min(decision.expires, this.deps.maxExpires);
    respond(200, { headers: { expires, contact: [{ uri: ownContact, params: {} }] } });

    const watcher: Watcher = existing ?? { aor, callId, localTag: incoming.toTag, remoteTag: String(request.headers.from.params?.tag ?? ''), remoteUri: fromUri, target: contact, cseq: 0, expiresAt: 0 };
    watcher.target = contact;
    if (watcher.timer) this.deps.timers.clear(watcher.timer);
    if (expires === 0) {
      // RFC 6665 4.2.1.4: an unsubscription is answered by a final NOTIFY.
      this.watchers.delete(callId);
      void this.notify(watcher, 'terminated;reason=timeout');
      return;
    }
    watcher.expiresAt = Date.now() + expires * 1000;
    watcher.timer = this.deps.timers.set(expires * 1000, () => {
      this.watchers.delete(callId);
      void this.notify(watcher, 'terminated;reason=timeout');
    });
    this.watchers.set(callId, watcher);
    // RFC 6665 4.2.1.2: the current state by NOTIFY right after the 2xx, for a refresh too.
    void this.notify(watcher);
    this.deps.onSubscribed(aor);
  }

  /** Sends the current document to every watcher (own presence changed). */
  notifyAll(): Promise<void> {
    return Promise.allSettled([...this.watchers.values()].map((w) => this.notify(w))).then(() => undefined);
  }

  /** Ends the subscriptions of one buddy (removed, blocked, key changed), or of everyone (stopping). */
  async terminate(aor?: string, reason = 'noresource'): Promise<void> {
    const ending = [...this.watchers.values()].filter((w) => aor === undefined || w.aor === aor);
    for (const w of ending) {
      this.watchers.delete(w.callId);
      if (w.timer) this.deps.timers.clear(w.timer);
    }
    await Promise.allSettled(ending.map((w) => this.notify(w, `terminated;reason=${reason}`)));
  }

  private async notify(w: Watcher, state?: string): Promise<void> {
    const own = this.deps.ownAor();
    const doc = this.deps.document();
    if (!own || !doc) return;
    const remaining = Math.max(0, Math.round((w.expiresAt - Date.now()) / 1000));
    w.cseq += 1;
    const outcome = await this.deps.stack.request({
      method: 'NOTIFY',
      to: w.remoteUri,
      from: own,
      requestUri: w.target,
      contact: this.deps.ownContact(),
      body: doc.body,
      contentType: PIDF_CONTENT_TYPE,
      headers: { event: 'presence', 'subscription-state': state ?? `active;expires=${remaining}`, [SIGNATURE_HEADER]: doc.signature },
      dialog: { callId: w.callId, localTag: w.localTag, remoteTag: w.remoteTag, cseq: w.cseq, routeSet: [] },
      timeoutMs: requestTimeoutMs(this.deps.maxExpires),
    });
    // RFC 6665 4.2.2: a NOTIFY answered 481, or not at all, ends the subscription.
    const gone = outcome.kind !== 'final' || outcome.response.status === 481;
    if (gone && this.watchers.get(w.callId) === w) {
      this.watchers.delete(w.callId);
      if (w.timer) this.deps.timers.clear(w.timer);
      this.deps.log.debug('presence watcher gone', { aor: w.aor, outcome: outcome.kind });
    }
  }
}
