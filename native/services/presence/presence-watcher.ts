// The subscriber side of presence (RFC 6665 4.1): one subscription to each accepted buddy,
// refreshed at half its duration. When a refresh fails (481: their node restarted; no answer:
// it died or moved) the AOR is looked up afresh and subscribed again; when that fails too the
// buddy shows offline, and we keep trying with back-off. See offlineBoundMs() for the bound.
import type { Logger } from '../../log.js';
import { lookupTimeoutMs, MAX_CONTACTS_TRIED, refreshDelayMs, requestTimeoutMs, retryDelayMs } from '../../proto/presence/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { parsePidf, PIDF_CONTENT_TYPE, type DocumentStatus } from '../../wire/presence/pidf.js';
import { firstContactUri } from '../../wire/presence/contact-header.js';
import { SIGNATURE_HEADER, signPayload, subscribeSigningText, verifyPayload } from '../../wire/presence/signature.js';
import { generateCallId } from '../../wire/sip/message.js';
import type { IncomingRequest, RequestOutcome, SipStack } from '../sip/index.js';

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

interface Subscription {
  aor: string;
  state: 'setting-up' | 'active' | 'waiting';
  callId?: string;
  localTag?: string;
  remoteTag?: string;
  target?: string;
  cseq: number;
  expires: number;
  failures: number;
  timer?: TimerHandle;
}

export class PresenceWatcher {
  private readonly subs = new Map<string, Subscription>();
  private readonly byCallId = new Map<string, Subscription>();
  /** Subscriptions we ended, whose final NOTIFY (RFC 6665 4.1.2.3) is still to come: answered 200, not applied. */
  private readonly ending = new Set<string>();
  private stopping = false;
  /** NOTIFYs refused for a bad signature or a document not about the buddy. */
  forgedRefused = 0;

  constructor(private readonly deps: PresenceWatcherDeps) {}

  /** The dialog of the subscription to `aor`, when one is set up (for diagnostics and tests). */
  dialogOf(aor: string): { callId: string; localTag?: string; remoteTag?: string; target?: string } | undefined {
    const s = this.subs.get(aor);
    return s?.callId ? { callId: s.callId, localTag: s.localTag, remoteTag: s.remoteTag, target: s.target } : undefined;
  }

  /** Subscribes to `aor` unless a subscription is set up or being set up; `now` skips a back-off wait. */
  watch(aor: string, now = false): void {
    if (this.stopping) return;
    const s = this.subs.get(aor);
    if (s && (s.state !== 'waiting' || !now)) return;
    if (s?.timer) this.deps.timers.clear(s.timer);
    const sub = s ?? { aor, state: 'waiting' as const, cseq: 0, expires: this.deps.expires, failures: 0 };
    this.subs.set(aor, sub);
    void this.setUp(sub);
  }

  /** Stops watching `aor` (no longer a buddy): unsubscribes (Expires: 0). */
  unwatch(aor: string): void {
    const s = this.subs.get(aor);
    if (!s) return;
    this.subs.delete(aor);
    this.release(s);
    if (s.state === 'active') this.unsubscribe(s);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const active = [...this.subs.values()];
    this.subs.clear();
    for (const s of active) this.release(s);
    await Promise.allSettled(active.filter((s) => s.state === 'active').map((s) => this.unsubscribe(s)));
  }

  private unsubscribe(s: Subscription): Promise<RequestOutcome> {
    if (this.ending.size > 256) this.ending.clear();
    if (s.callId) this.ending.add(s.callId);
    return this.send(s, 0);
  }

  start(): void {
    this.stopping = false;
  }

  private release(s: Subscription): void {
    if (s.timer) this.deps.timers.clear(s.timer);
    s.timer = undefined;
    if (s.callId) this.byCallId.delete(s.callId);
  }

  /** A fresh lookup, then a new SUBSCRIBE to each device found (newest first) until one takes it. */
  private async setUp(s: Subscription, skip?: string): Promise<void> {
    this.release(s);
    s.state = 'setting-up';
    let contacts: string[] = [];
    try {
      contacts = (await this.withTimeout(this.deps.lookupAor(s.aor), lookupTimeoutMs(s.expires))).contacts;
    } catch (error) {
      this.deps.log.debug('presence lookup failed', { aor: s.aor, error: String(error) });
    }
    for (const contact of contacts.filter((c) => c !== skip).slice(0, MAX_CONTACTS_TRIED)) {
      if (this.subs.get(s.aor) !== s) return;
      s.callId = generateCallId(this.deps.stack.host);
      s.localTag = s.remoteTag = undefined;
      s.target = contact;
      s.cseq = 0;
      this.byCallId.set(s.callId, s);
      const outcome = await this.send(s, this.deps.expires);
      if (this.subs.get(s.aor) !== s) return;
      if (outcome.kind === 'final' && outcome.response.status < 300) return this.established(s, outcome.response);
      this.byCallId.delete(s.callId);
    }
    if (this.subs.get(s.aor) !== s) return;
    s.failures += 1;
    s.state = 'waiting';
    s.callId = undefined;
    this.deps.buddies.markOffline(s.aor);
    s.timer = this.deps.timers.set(retryDelayMs(s.expires, s.failures), () => void this.setUp(s));
  }

  private established(s: Subscription, response: Extract<RequestOutcome, { kind: 'final' }>['response']): void {
    s.state = 'active';
    s.failures = 0;
    s.localTag = String(response.headers.from?.params?.tag ?? s.localTag ?? '');
    s.remoteTag ??= String(response.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(response.headers.contact) ?? s.target;
    const granted = Number(response.headers.expires);
    s.expires = Number.isFinite(granted) && granted > 0 ? Math.min(granted, this.deps.expires) : this.deps.expires;
    this.deps.buddies.sawOnline(s.aor);
    s.timer = this.deps.timers.set(refreshDelayMs(s.expires), () => void this.refresh(s));
  }

  private async refresh(s: Subscription): Promise<void> {
    if (this.subs.get(s.aor) !== s) return;
    const outcome = await this.send(s, this.deps.expires);
    if (this.subs.get(s.aor) !== s) return;
    if (outcome.kind === 'final' && outcome.response.status < 300) return this.established(s, outcome.response);
    this.deps.log.info('presence refresh failed; looking the buddy up again', { aor: s.aor, outcome: outcome.kind === 'final' ? outcome.response.status : outcome.kind });
    // A device that did not answer is not tried again at once; one that answered 481 restarted and is.
    await this.setUp(s, outcome.kind === 'final' ? undefined : s.target);
  }

  /** A signed SUBSCRIBE: the first of a dialog, a refresh, or an unsubscription (expires 0). */
  private send(s: Subscription, expires: number): Promise<RequestOutcome> {
    const own = this.deps.ownAor();
    const contact = this.deps.ownContact();
    const key = this.deps.signingKey();
    if (!own || !contact || !key || !s.callId || !s.target) return Promise.resolve({ kind: 'transport-error', error: new Error('no identity') });
    s.cseq += 1;
    const signature = signPayload('peerdial-subscribe-v1', subscribeSigningText({ from: own, to: s.aor, callId: s.callId, cseq: s.cseq, expires, contact }), key);
    const inDialog = s.state === 'active' && s.localTag !== undefined && s.remoteTag !== undefined;
    return this.deps.stack.request({
      method: 'SUBSCRIBE',
      to: s.aor,
      from: own,
      requestUri: s.target,
      contact,
      callId: s.callId,
      headers: { event: 'presence', accept: PIDF_CONTENT_TYPE, expires, [SIGNATURE_HEADER]: signature },
      ...(inDialog ? { dialog: { callId: s.callId, localTag: s.localTag!, remoteTag: s.remoteTag!, cseq: s.cseq, routeSet: [] } } : {}),
      timeoutMs: requestTimeoutMs(s.expires),
    });
  }

  /** A NOTIFY with `Event: presence`; always answered. */
  async onNotify(incoming: IncomingRequest): Promise<void> {
    const { request, respond } = incoming;
    const callId = request.headers['call-id'];
    if (this.ending.has(callId)) {
      if (/^\s*terminated/i.test(String(request.headers['subscription-state'] ?? ''))) this.ending.delete(callId);
      return respond(200);
    }
    const s = this.byCallId.get(callId);
    if (!s || this.subs.get(s.aor) !== s) return respond(481, { reason: 'Subscription Does Not Exist' });
    const key = this.deps.buddies.buddyKey(s.aor);
    const body = Buffer.from(request.content ?? '', 'latin1');
    if (!key || !verifyPayload('peerdial-presence-v1', body, request.headers[SIGNATURE_HEADER], key)) {
      this.forgedRefused++;
      this.deps.log.info('presence document with a bad signature refused', { aor: s.aor });
      return respond(403, { reason: 'Forbidden (presence document not signed by the buddy)' });
    }
    const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const doc = type === PIDF_CONTENT_TYPE ? parsePidf(body.toString('utf8')) : undefined;
    if (!doc || doc.at === undefined) return respond(400, { reason: 'Bad Request (not a timestamped PIDF document)' });
    if (this.deps.buddies.canonicalAor(doc.entity) !== s.aor) {
      this.forgedRefused++;
      return respond(403, { reason: 'Forbidden (document about someone else)' });
    }
    // RFC 6665 4.1.2.4: the NOTIFY may come before the 2xx; its From tag is the dialog's remote tag.
    s.remoteTag ??= String(request.headers.from?.params?.tag ?? '');
    s.localTag ??= String(request.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(request.headers.contact) ?? s.target;
    const state = String(request.headers['subscription-state'] ?? 'active').toLowerCase();
    const terminated = state.startsWith('terminated');
    await this.deps.buddies.applyPresence(s.aor, { status: terminated ? 'offline' : doc.status, ...(doc.note ? { note: doc.note } : {}), at: doc.at });
    respond(200);
    if (!terminated) return;
    this.release(s);
    s.state = 'waiting';
    s.callId = undefined;
    // RFC 6665 4.1.3: after "deactivated" or "timeout" a new subscription may be tried at once.
    const again = /reason=(deactivated|timeout)/.test(state);
    s.timer = this.deps.timers.set(again ? 0 : retryDelayMs(s.expires, 1), () => void this.setUp(s));
  }

  private withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
    let timer: TimerHandle | undefined;
    return Promise.race([
      work,
      new Promise<never>((_, reject) => (timer = this.deps.timers.set(ms, () => reject(new Error(`no answer within ${ms} ms`))))),
    ]).finally(() => timer && this.deps.timers.clear(timer));
  }
}
