// The offering side of configuration offers (RFC 6665 4.2 through the shared EventNotifier): LAN
// nodes SUBSCRIBE to the event package `peerdial-config` and get the signed document by NOTIFY
// at once and on every change; when the user stops sharing, every subscription ends with reason
// `noresource`. Anyone on the LAN may subscribe: the document is public, and its signature is
// what followers trust.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { CONFIG_OFFER_CONTENT_TYPE, CONFIG_OFFER_EVENT } from '../../wire/lan/config-offer.js';
import { EventNotifier, type IncomingRequest, type SipStack } from '../sip/index.js';

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

export class ConfigOfferNotifier {
  private readonly notifier: EventNotifier;

  constructor(deps: ConfigOfferNotifierDeps) {
    this.notifier = new EventNotifier({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log,
      event: CONFIG_OFFER_EVENT,
      contentType: CONFIG_OFFER_CONTENT_TYPE,
      accepts: /application\/vnd\.peerdial\.config\+json|\*\/\*|application\/\*/i,
      maxExpires: deps.maxExpires,
      maxSubscriptions: deps.maxSubscribers ?? 256,
      ownContact: deps.ownContact,
      // Nothing shared (any more): an unsubscription still succeeds, a new subscription finds nothing.
      unavailable: (_request, requested) => {
        if (deps.document() && deps.ownContact()) return undefined;
        return requested === 0 ? { status: 200, headers: { expires: 0 } } : { status: 404, reason: 'Not Found (no configuration offered here)' };
      },
      // RFC 6665 4.2.2: a final NOTIFY after the offer was withdrawn carries no body.
      document: () => {
        const body = deps.document();
        return body === undefined ? {} : { body };
      },
    });
  }

  get count(): number {
    return this.notifier.count;
  }

  onSubscribe(incoming: IncomingRequest): void {
    this.notifier.onSubscribe(incoming);
  }

  /** The document changed: every subscriber gets the new one. */
  notifyAll(): Promise<void> {
    return this.notifier.notifyAll();
  }

  /** Ends every subscription (the user stopped sharing, or the node stops). */
  terminateAll(reason: 'noresource' | 'deactivated'): Promise<void> {
    return this.notifier.terminate(undefined, reason);
  }
}
