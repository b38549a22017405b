// The following side of configuration offers (RFC 6665 4.1 through the shared EventSubscriber):
// one `peerdial-config` subscription to each LAN node that says it offers a configuration. What a
// NOTIFY carries is judged by the offer service; a subscription ended for any reason but
// "deactivated" or "timeout" means the offer was withdrawn.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { CONFIG_OFFER_CONTENT_TYPE, CONFIG_OFFER_EVENT } from '../../wire/lan/config-offer.js';
import { EventSubscriber, type IncomingRequest, type NotifyVerdict, type SipStack } from '../sip/index.js';

/** What the service makes of a document: the NOTIFY's answer. */
export type DocumentVerdict = NotifyVerdict;

export interface ConfigOfferWatcherDeps {
  stack: SipStack;
  timers: TimerHost;
  log: Logger;
  /** Our URI (From) and where NOTIFYs reach us (Contact). */
  ownUri(): string | undefined;
  ownContact(): string | undefined;
  /** The subscription duration asked for (s). */
  expires: number;
  onDocument(source: string, body: string, contentType: string): Promise<DocumentVerdict>;
  /** The source withdrew its offer (or is gone). */
  onWithdrawn(source: string): void;
}

export class ConfigOfferWatcher {
  private readonly subscriber: EventSubscriber;

  constructor(private readonly deps: ConfigOfferWatcherDeps) {
    this.subscriber = new EventSubscriber({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log,
      event: CONFIG_OFFER_EVENT,
      accept: CONFIG_OFFER_CONTENT_TYPE,
      expires: deps.expires,
      ownUri: deps.ownUri,
      ownContact: deps.ownContact,
      // The node's own address, as LAN discovery found it.
      targets: async ({ to }) => [to],
      onNotify: async (source, request) => {
        const body = request.content ? Buffer.from(request.content, 'latin1').toString('utf8') : '';
        if (!body) return { status: 200 };
        const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        return deps.onDocument(source, body, type);
      },
      // RFC 6665 4.1.3: after "noresource" (and any reason but those that allow a retry at once)
      // the offer is gone until the node offers one again.
      onTerminated: (source, again) => again || deps.onWithdrawn(source),
    });
  }

  /** The sources subscribed to, or being subscribed to. */
  get sources(): string[] {
    return this.subscriber.keys;
  }

  start(): void {
    this.subscriber.start();
  }

  /** Subscribes to every source in `wanted` (host:port) not yet followed, and unsubscribes from the others. */
  follow(wanted: Array<{ source: string; uri: string }>): void {
    const keep = new Set(wanted.map((w) => w.source));
    for (const source of this.subscriber.keys) {
      if (keep.has(source)) continue;
      this.subscriber.unsubscribe(source);
      this.deps.onWithdrawn(source);
    }
    for (const w of wanted) this.subscriber.subscribe(w.source, w.uri);
  }

  stop(): Promise<void> {
    return this.subscriber.stop();
  }

  /** A NOTIFY with `Event: peerdial-config`; always answered. */
  onNotify(incoming: IncomingRequest): Promise<void> {
    return this.subscriber.onNotify(incoming);
  }
}
