// The notifier side of presence (RFC 6665 4.2 through the shared EventNotifier): buddies
// SUBSCRIBE to this user's presence and get a signed PIDF document by NOTIFY now and on every
// change. Only accepted buddies, whose SUBSCRIBE is signed by their pinned key, may subscribe:
// everyone else gets 403.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { PIDF_CONTENT_TYPE } from '../../wire/presence/pidf.js';
import { firstContactUri } from '../../wire/presence/contact-header.js';
import { SIGNATURE_HEADER, subscribeSigningText, verifyPayload } from '../../wire/presence/signature.js';
import type { SipRequest } from '../../wire/sip/message.js';
import { EventNotifier, type IncomingRequest, type Refusal, type SipStack } from '../sip/index.js';

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

export class PresenceNotifier {
  private readonly notifier: EventNotifier;

  constructor(private readonly deps: PresenceNotifierDeps) {
    this.notifier = new EventNotifier({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log,
      event: 'presence',
      contentType: PIDF_CONTENT_TYPE,
      accepts: /application\/pidf\+xml|\*\/\*|application\/\*/i,
      maxExpires: deps.maxExpires,
      ownContact: deps.ownContact,
      unavailable: () => (deps.ownAor() && deps.ownContact() ? undefined : { status: 480, reason: 'No user here yet' }),
      authorize: (request, requested) => this.authorize(request, requested),
      document: () => {
        const doc = deps.document();
        return doc && { body: doc.body, headers: { [SIGNATURE_HEADER]: doc.signature } };
      },
      notifyFrom: deps.ownAor,
      onSubscribed: (aor) => aor && deps.onSubscribed(aor),
    });
  }

  /** How many subscriptions to this user's presence are active. */
  get count(): number {
    return this.notifier.count;
  }

  onSubscribe(incoming: IncomingRequest): void {
    const event = String(incoming.request.headers.event ?? '').split(';')[0].trim().toLowerCase();
    // RFC 6665 8.2.2: an event package we do not know gets 489 with Allow-Events.
    if (event !== 'presence') return incoming.respond(489, { reason: 'Bad Event', headers: { 'allow-events': 'presence, peerdial-config' } });
    this.notifier.onSubscribe(incoming);
  }

  /** Sends the current document to every watcher (own presence changed). */
  notifyAll(): Promise<void> {
    return this.notifier.notifyAll();
  }

  /** Ends the subscriptions of one buddy (removed, blocked, key changed), or of everyone (stopping). */
  terminate(aor?: string, reason = 'noresource'): Promise<void> {
    return this.notifier.terminate(aor, reason);
  }

  /** An accepted buddy, whose SUBSCRIBE is signed by the key pinned for them. */
  private authorize(request: SipRequest, requested: number | undefined): { who: string } | Refusal {
    const fromUri = request.headers.from.uri;
    const aor = this.deps.buddies.canonicalAor(fromUri);
    const key = aor && this.deps.buddies.buddyKey(aor);
    if (!aor || !key || this.deps.buddies.stateOf(aor) !== 'accepted') return { status: 403, reason: 'Forbidden (only buddies may see presence)' };
    const contact = firstContactUri(request.headers.contact);
    if (!contact) return { status: 400, reason: 'Bad Request (no Contact)' };
    const callId = request.headers['call-id'];
    const signed = subscribeSigningText({ from: fromUri, to: request.headers.to.uri, callId, cseq: request.headers.cseq.seq, expires: requested ?? -1, contact });
    if (!verifyPayload('peerdial-subscribe-v1', signed, request.headers[SIGNATURE_HEADER], key)) {
      this.deps.log.info('SUBSCRIBE not signed by the buddy refused', { aor });
      return { status: 403, reason: "Forbidden (not signed by the buddy's key)" };
    }
    return { who: aor };
  }
}
