// The subscriber side of presence (RFC 6665 4.1 through the shared EventSubscriber): one
// subscription to each accepted buddy, to the devices their AOR is bound to (newest first). A
// buddy none of whose devices can be subscribed to shows offline; see offlineBoundMs() for how
// soon. Every SUBSCRIBE is signed with our key, every NOTIFY must be signed with theirs.
import type { Logger } from '../../log.js';
import { lookupTimeoutMs, MAX_CONTACTS_TRIED } from '../../proto/sip/subscription-timing.js';
import { withDeadline, type TimerHost } from '../../proto/sip/timers.js';
import { parsePidf, PIDF_CONTENT_TYPE, type DocumentStatus } from '../../wire/presence/pidf.js';
import { SIGNATURE_HEADER, signPayload, subscribeSigningText, verifyPayload } from '../../wire/presence/signature.js';
import type { SipRequest } from '../../wire/sip/message.js';
import { EventSubscriber, type IncomingRequest, type NotifyVerdict, type SipStack } from '../sip/index.js';

/** What the watcher needs of the buddy list. */
export interface WatchedBuddies {
  canonicalAor(text: string): string | undefined;
  buddyKey(aor: string): string | undefined;
  applyPresence(aor: string, doc: { status: DocumentStatus; note?: string; at: number }): Promise<boolean>;
  markOffline(aor: string): void;
  sawOnline(aor: string): void;
}

export interface PresenceWatcherDeps {
  stack: SipStack;
  buddies: WatchedBuddies;
  lookupAor(aor: string): Promise<{ contacts: string[] }>;
  timers: TimerHost;
  log: Logger;
  ownAor(): string | undefined;
  ownContact(): string | undefined;
  signingKey(): Buffer | undefined;
  /** The subscription duration asked for (s). */
  expires: number;
}

export class PresenceWatcher {
  private readonly subscriber: EventSubscriber;
  /** NOTIFYs refused for a bad signature or a document not about the buddy. */
  forgedRefused = 0;

  constructor(private readonly deps: PresenceWatcherDeps) {
    this.subscriber = new EventSubscriber({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log,
      event: 'presence',
      accept: PIDF_CONTENT_TYPE,
      expires: deps.expires,
      ownUri: deps.ownAor,
      ownContact: deps.ownContact,
      // A fresh lookup each time: the buddy may have moved, restarted or gone.
      targets: async ({ key, skip, expires }) => {
        const { contacts } = await withDeadline(deps.lookupAor(key), lookupTimeoutMs(expires), deps.timers);
        return contacts.filter((c) => c !== skip).slice(0, MAX_CONTACTS_TRIED);
      },
      headersFor: (f) => {
        const key = deps.signingKey();
        return key && { [SIGNATURE_HEADER]: signPayload('peerdial-subscribe-v1', subscribeSigningText(f), key) };
      },
      onNotify: (aor, request, terminated) => this.read(aor, request, terminated),
      onActive: (aor) => deps.buddies.sawOnline(aor),
      onUnreachable: (aor) => deps.buddies.markOffline(aor),
    });
  }

  /** The dialog of the subscription to `aor`, when one is set up (for diagnostics and tests). */
  dialogOf(aor: string): { callId: string; localTag?: string; remoteTag?: string; target?: string } | undefined {
    return this.subscriber.dialogOf(aor);
  }

  start(): void {
    this.subscriber.start();
  }

  /** Subscribes to `aor` unless a subscription is set up or being set up; `now` skips a back-off wait. */
  watch(aor: string, now = false): void {
    this.subscriber.subscribe(aor, aor, now);
  }

  /** Stops watching `aor` (no longer a buddy): unsubscribes (Expires: 0). */
  unwatch(aor: string): void {
    this.subscriber.unsubscribe(aor);
  }

  stop(): Promise<void> {
    return this.subscriber.stop();
  }

  /** A NOTIFY with `Event: presence`; always answered. */
  onNotify(incoming: IncomingRequest): Promise<void> {
    return this.subscriber.onNotify(incoming);
  }

  /** A presence document must be signed by the buddy's pinned key and be about the buddy. */
  private async read(aor: string, request: SipRequest, terminated: boolean): Promise<NotifyVerdict> {
    const key = this.deps.buddies.buddyKey(aor);
    const body = Buffer.from(request.content ?? '', 'latin1');
    if (!key || !verifyPayload('peerdial-presence-v1', body, request.headers[SIGNATURE_HEADER], key)) {
      this.forgedRefused++;
      this.deps.log.info('presence document with a bad signature refused', { aor });
      return { status: 403, reason: 'Forbidden (presence document not signed by the buddy)', forged: true };
    }
    const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const doc = type === PIDF_CONTENT_TYPE ? parsePidf(body.toString('utf8')) : undefined;
    if (!doc || doc.at === undefined) return { status: 400, reason: 'Bad Request (not a timestamped PIDF document)', forged: true };
    if (this.deps.buddies.canonicalAor(doc.entity) !== aor) {
      this.forgedRefused++;
      return { status: 403, reason: 'Forbidden (document about someone else)', forged: true };
    }
    await this.deps.buddies.applyPresence(aor, { status: terminated ? 'offline' : doc.status, ...(doc.note ? { note: doc.note } : {}), at: doc.at });
    return { status: 200 };
  }
}
