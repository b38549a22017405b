// Sending buddy requests, answers and notices (signed SIP MESSAGEs to the buddy's devices), and
// the outbox that tries again until one is delivered or refused for good. The relation itself
// (what is still to be said) is the buddy service's; this only carries it.
import type { Logger } from '../../log.js';
import { withDeadline, type TimerHandle, type TimerHost } from '../../proto/sip/timers.js';
import type { StoredBuddy } from '../../storage/repositories/buddy-repository.js';
import { BUDDY_CONTENT_TYPE, encodeBuddyMessage, type BuddyMessage, type BuddyMessageType } from '../../wire/presence/buddy-message.js';
import { SIGNATURE_HEADER, signPayload } from '../../wire/presence/signature.js';
import type { IdentityService } from '../identity/index.js';
import type { RequestOutcome, SipStack } from '../sip/index.js';
import { sendBlockReason } from './buddy-trust.js';

/** Requests, answers and notices not yet delivered are tried again this often. */
const OUTBOX_RETRY_MS = 20_000;
const SEND_TIMEOUT_MS = 8_000;

export interface BuddyOutboxHost {
  stack: SipStack;
  identity: IdentityService;
  overlay: { ownAor(): string | undefined; lookupAor(aor: string): Promise<{ contacts: string[] }> };
  timers: TimerHost;
  log: Logger;
  now(): number;
  outboxRetryMs?: number;
  /** The buddy in the list. */
  row(aor: string): StoredBuddy | undefined;
  /** A buddy removed or declined, whose notice may still wait to be delivered. */
  tombstone(aor: string): StoredBuddy | undefined;
  /** Every row and tombstone with something in its outbox. */
  pending(): StoredBuddy[];
  /** Saves a change to a buddy still in the list. */
  update(row: StoredBuddy): Promise<void>;
  saveTombstone(row: StoredBuddy): Promise<void>;
}

export class BuddyOutbox {
  /** The `at` of the last buddy message signed: each is newer than the one before. */
  private lastSentAt = 0;
  private readonly sending = new Set<string>();
  private timer?: TimerHandle;
  private stopping = false;

  constructor(private readonly host: BuddyOutboxHost) {}

  start(): void {
    this.stopping = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopping = true;
    if (this.timer) this.host.timers.clear(this.timer);
  }

  /** Sends one buddy message to the AOR's devices; an outbox entry is cleared once one takes it. */
  async deliver(aor: string, type: BuddyMessageType): Promise<boolean> {
    // One delivery of a kind at a time per buddy: the outbox retry must not double an answer on its way.
    const job = `${aor} ${type}`;
    if (this.sending.has(job)) return false;
    this.sending.add(job);
    try {
      return await this.send(aor, type);
    } finally {
      this.sending.delete(job);
    }
  }

  private async send(aor: string, type: BuddyMessageType): Promise<boolean> {
    const { identity: identities, overlay, log } = this.host;
    const identity = identities.current;
    const key = identities.signingKey;
    const own = overlay.ownAor();
    if (!identity || !key || !own || !this.stillToSend(aor, type)) return false;
    let outcome: RequestOutcome | undefined;
    let at = 0;
    try {
      const { contacts } = await withDeadline(overlay.lookupAor(aor), SEND_TIMEOUT_MS, this.host.timers, `the overlay did not answer within ${SEND_TIMEOUT_MS} ms`);
      for (const contact of contacts.slice(0, 3)) {
        // Signed now, not before the lookup: the relation may have changed meanwhile (a removal
        // crossing an outbox retry), and a message must never overtake a newer one.
        const row = this.stillToSend(aor, type);
        if (!row) return false;
        at = Math.max(this.host.now(), this.lastSentAt + 1);
        this.lastSentAt = at;
        const message: BuddyMessage = {
          v: 1,
          type,
          from: own,
          to: aor,
          displayName: identity.displayName,
          publicKey: identity.publicKey,
          at,
          ...(type === 'request' && row.requestNote ? { note: row.requestNote } : {}),
        };
        const body = encodeBuddyMessage(message);
        outcome = await this.host.stack.request({
          method: 'MESSAGE',
          to: aor,
          from: own,
          fromName: identity.displayName,
          requestUri: contact,
          body,
          contentType: BUDDY_CONTENT_TYPE,
          headers: { [SIGNATURE_HEADER]: signPayload('peerdial-buddy-v1', Buffer.from(body, 'utf8'), key) },
          timeoutMs: SEND_TIMEOUT_MS,
        });
        if (outcome.kind === 'final' && outcome.response.status < 300) break;
      }
    } catch (error) {
      log.info('buddy message not sent', { aor, type, error: String(error) });
    }
    const delivered = outcome?.kind === 'final' && outcome.response.status < 300;
    if (delivered) log.debug('buddy message delivered', { aor, type, at });
    else log.info('buddy message not delivered', { aor, type, outcome: outcome?.kind === 'final' ? outcome.response.status : (outcome?.kind ?? 'no device found') });
    // A refusal (403 blocked, 404 no such user...) is an answer too: asking again would not change it.
    const status = outcome?.kind === 'final' ? outcome.response.status : 0;
    const settled = delivered || (status >= 400 && status < 500 && status !== 408 && status !== 480) || status >= 600;
    const current = this.host.row(aor);
    if (settled && current?.outbox === type) await this.host.update({ ...current, outbox: undefined, updatedAt: this.host.now() });
    const tombstone = this.host.tombstone(aor);
    if (settled && tombstone?.outbox === type) await this.host.saveTombstone({ ...tombstone, outbox: undefined, updatedAt: this.host.now() });
    return delivered;
  }

  /** The row a message of this type still speaks for, or undefined when it no longer should go. */
  private stillToSend(aor: string, type: BuddyMessageType): StoredBuddy | undefined {
    const row = this.host.row(aor);
    if (type === 'decline' || type === 'remove') {
      const tombstone = this.host.tombstone(aor);
      return !row && tombstone?.outbox === type ? tombstone : undefined;
    }
    if (!row || sendBlockReason(row)) return undefined;
    return (type === 'request' && row.state === 'requested') || (type === 'accept' && row.state === 'accepted') ? row : undefined;
  }

  private schedule(delay: number): void {
    if (this.stopping) return;
    this.timer = this.host.timers.set(delay, () => {
      const pending = this.host.pending();
      void Promise.allSettled(pending.map((r) => this.deliver(r.aor, r.outbox!))).finally(() => this.schedule(this.host.outboxRetryMs ?? OUTBOX_RETRY_MS));
    });
  }
}
