// RFC 3842 message waiting for the user's phones: a phone registered here subscribes to
// `message-summary` for its AOR (with its digest credentials, as for REGISTER) and is told at
// once, and on every change, how many voice messages are new and old, so its lamp lights.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { encodeMessageSummary, MESSAGE_SUMMARY_CONTENT_TYPE, MESSAGE_SUMMARY_EVENT } from '../../wire/sip/message-summary.js';
import { parseSipUri } from '../../wire/sip/uri.js';
import { EventNotifier, type IncomingRequest, type SipStack } from '../sip/index.js';
import type { RegisteredPhone } from './phone-registrar.js';

export interface MessageWaitingDeps {
  stack: SipStack;
  timers: TimerHost;
  log: Logger;
  overlay: string;
  ownUser(): string | undefined;
  ownContact(): string | undefined;
  /** Digest-checks the SUBSCRIBE like a REGISTER (answers 401 itself); the phone, or undefined. */
  authenticate(incoming: IncomingRequest): RegisteredPhone | undefined;
  /** The user a phone belongs to. */
  ownerOf(phone: RegisteredPhone): string | undefined;
}

/** An hour, as phones ask (baresip 3600, Polycom 3600). */
const MAX_EXPIRES_S = 3600;

export class MessageWaiting {
  private counts = { unheard: 0, heard: 0 };
  private readonly notifier: EventNotifier;

  constructor(private readonly deps: MessageWaitingDeps) {
    this.notifier = new EventNotifier({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log,
      event: MESSAGE_SUMMARY_EVENT,
      contentType: MESSAGE_SUMMARY_CONTENT_TYPE,
      accepts: /application\/simple-message-summary|\*\/\*|application\/\*/i,
      maxExpires: MAX_EXPIRES_S,
      maxSubscriptions: 64,
      ownContact: deps.ownContact,
      unavailable: () => (deps.ownUser() && deps.ownContact() ? undefined : { status: 480, reason: 'No user here yet' }),
      document: () => {
        const user = deps.ownUser();
        return user ? { body: encodeMessageSummary({ account: `sip:${user}@${deps.overlay}`, ...this.counts }) } : undefined;
      },
    });
  }

  get subscriptions(): number {
    return this.notifier.count;
  }

  /** A phone's SUBSCRIBE to message-summary: only for its own user's AOR, with its credentials. */
  onSubscribe(incoming: IncomingRequest): void {
    const user = this.deps.ownUser();
    const target = parseSipUri(incoming.request.uri);
    if (!user || target?.user?.toLowerCase() !== user) {
      incoming.respond(404, { reason: 'Not Found (no mailbox for this user here)' });
      return;
    }
    const phone = this.deps.authenticate(incoming);
    if (!phone) return;
    if (this.deps.ownerOf(phone) !== user) {
      incoming.respond(403, { reason: 'Forbidden (these credentials are for another user)' });
      return;
    }
    this.notifier.onSubscribe(incoming);
  }

  /** The voice messages changed: every subscribed phone hears the new counts. */
  update(counts: { unheard: number; heard: number }): Promise<void> {
    if (counts.unheard === this.counts.unheard && counts.heard === this.counts.heard) return Promise.resolve();
    this.counts = { ...counts };
    return this.notifier.notifyAll();
  }

  stop(): Promise<void> {
    return this.notifier.terminate(undefined, 'noresource');
  }
}
