// The subscriber side of RFC 6665 (section 4.1), for any event package: one subscription per
// key (a buddy's AOR, a LAN node offering its configuration), refreshed at half its duration.
// When a refresh fails (481: the notifier restarted; no answer: it died or moved) the targets are
// found afresh and it is set up again; when that fails too it waits and tries again with back-off.
// What a NOTIFY's body means, and who may be subscribed to, is the event package's.
import type { Logger } from '../../../log.js';
import { refreshDelayMs, requestTimeoutMs, retryDelayMs } from '../../../proto/sip/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../../proto/sip/timers.js';
import { firstContactUri } from '../../../wire/presence/contact-header.js';
import { generateCallId, type SipRequest } from '../../../wire/sip/message.js';
import type { IncomingRequest, RequestOutcome, SipStack } from '../sip-stack.js';

/** What the event package makes of a NOTIFY: the answer, and whether it spoke for the subscription at all. */
export type NotifyVerdict = { status: 200 } | { status: 400 | 403 | 415; reason: string; forged?: boolean };

/** What a SUBSCRIBE says, for a package that signs it. */
export interface SubscribeFields {
  from: string;
  to: string;
  callId: string;
  cseq: number;
  expires: number;
  contact: string;
}

export interface EventSubscriberDeps {
  stack: SipStack;
  timers: TimerHost;
  log: Logger;
  /** The event package (`Event:`) and the body type asked for (`Accept:`). */
  event: string;
  accept: string;
  /** The subscription duration asked for (s). */
  expires: number;
  /** Our URI (From) and where NOTIFYs reach us (Contact). */
  ownUri(): string | undefined;
  ownContact(): string | undefined;
  /**
   * Where a subscription may go, in order: `skip` is a target that just did not answer, and
   * `expires` the subscription's duration (s), from which a lookup's time limit derives.
   */
  targets(find: { key: string; to: string; skip?: string; expires: number }): Promise<string[]>;
  /** Headers the package adds to each SUBSCRIBE (a signature); undefined when it cannot sign now. */
  headersFor?(fields: SubscribeFields): Record<string, string> | undefined;
  /** Judges a NOTIFY for `key` (its body; `terminated` when Subscription-State says so). */
  onNotify(key: string, request: SipRequest, terminated: boolean): Promise<NotifyVerdict>;
  /** A subscription is active (set up or refreshed): the other side is there. */
  onActive?(key: string): void;
  /** Every target failed: the other side is out of reach for now. */
  onUnreachable?(key: string): void;
  /** The notifier ended the subscription; `again` when RFC 6665 4.1.3 lets us try at once. */
  onTerminated?(key: string, again: boolean): void;
}

interface Subscription {
  key: string;
  /** The URI in To. */
  to: string;
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

export class EventSubscriber {
  private readonly subs = new Map<string, Subscription>();
  private readonly byCallId = new Map<string, Subscription>();
  /** Subscriptions we ended, whose final NOTIFY (RFC 6665 4.1.2.3) is still to come: answered 200, not read. */
  private readonly ending = new Set<string>();
  private stopping = false;

  constructor(private readonly deps: EventSubscriberDeps) {}

  /** The keys subscribed to, or being subscribed to. */
  get keys(): string[] {
    return [...this.subs.keys()];
  }

  /** The dialog of the subscription to `key`, when one is set up (for diagnostics and tests). */
  dialogOf(key: string): { callId: string; localTag?: string; remoteTag?: string; target?: string } | undefined {
    const s = this.subs.get(key);
    return s?.callId ? { callId: s.callId, localTag: s.localTag, remoteTag: s.remoteTag, target: s.target } : undefined;
  }

  start(): void {
    this.stopping = false;
  }

  /** Subscribes to `key` unless a subscription is set up or being set up; `now` skips a back-off wait. */
  subscribe(key: string, to: string, now = false): void {
    if (this.stopping) return;
    const s = this.subs.get(key);
    if (s && (s.state !== 'waiting' || !now)) return;
    if (s?.timer) this.deps.timers.clear(s.timer);
    const sub: Subscription = s ?? { key, to, state: 'waiting', cseq: 0, expires: this.deps.expires, failures: 0 };
    this.subs.set(key, sub);
    void this.setUp(sub);
  }

  /** Stops following `key`: an active subscription is ended with Expires: 0 (RFC 6665 4.1.2.3). */
  unsubscribe(key: string): void {
    const s = this.subs.get(key);
    if (!s) return;
    this.subs.delete(key);
    this.release(s);
    if (s.state === 'active') void this.end(s);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.subs.values()];
    this.subs.clear();
    for (const s of all) this.release(s);
    await Promise.allSettled(all.filter((s) => s.state === 'active').map((s) => this.end(s)));
  }

  private end(s: Subscription): Promise<RequestOutcome> {
    if (this.ending.size > 256) this.ending.clear();
    if (s.callId) this.ending.add(s.callId);
    return this.send(s, 0);
  }

  private release(s: Subscription): void {
    if (s.timer) this.deps.timers.clear(s.timer);
    s.timer = undefined;
    if (s.callId) this.byCallId.delete(s.callId);
  }

  private current(s: Subscription): boolean {
    return this.subs.get(s.key) === s;
  }

  /** Finds the targets afresh, then sends a new SUBSCRIBE to each until one takes it. */
  private async setUp(s: Subscription, skip?: string): Promise<void> {
    this.release(s);
    s.state = 'setting-up';
    let targets: string[] = [];
    try {
      targets = await this.deps.targets({ key: s.key, to: s.to, skip, expires: s.expires });
    } catch (error) {
      this.deps.log.debug('subscription targets not found', { key: s.key, error: String(error) });
    }
    let last: RequestOutcome | undefined;
    for (const target of targets) {
      if (!this.current(s)) return;
      s.callId = generateCallId(this.deps.stack.host);
      s.localTag = s.remoteTag = undefined;
      s.target = target;
      s.cseq = 0;
      this.byCallId.set(s.callId, s);
      last = await this.send(s, this.deps.expires);
      if (!this.current(s)) return;
      if (last.kind === 'final' && last.response.status < 300) return this.established(s, last.response);
      this.byCallId.delete(s.callId);
    }
    if (!this.current(s)) return;
    this.deps.log.debug('subscription not set up', { key: s.key, outcome: last?.kind === 'final' ? last.response.status : (last?.kind ?? 'no target') });
    s.failures += 1;
    this.wait(s, retryDelayMs(s.expires, s.failures));
    this.deps.onUnreachable?.(s.key);
  }

  private wait(s: Subscription, delayMs: number): void {
    this.release(s);
    s.state = 'waiting';
    s.callId = undefined;
    s.timer = this.deps.timers.set(delayMs, () => void this.setUp(s));
  }

  private established(s: Subscription, response: Extract<RequestOutcome, { kind: 'final' }>['response']): void {
    s.state = 'active';
    s.failures = 0;
    s.localTag = String(response.headers.from?.params?.tag ?? s.localTag ?? '');
    s.remoteTag ??= String(response.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(response.headers.contact) ?? s.target;
    // RFC 6665 4.1.2.1: the notifier may shorten the subscription, never lengthen it.
    const granted = Number(response.headers.expires);
    s.expires = Number.isFinite(granted) && granted > 0 ? Math.min(granted, this.deps.expires) : this.deps.expires;
    this.deps.onActive?.(s.key);
    s.timer = this.deps.timers.set(refreshDelayMs(s.expires), () => void this.refresh(s));
  }

  private async refresh(s: Subscription): Promise<void> {
    if (!this.current(s)) return;
    const outcome = await this.send(s, this.deps.expires);
    if (!this.current(s)) return;
    if (outcome.kind === 'final' && outcome.response.status < 300) return this.established(s, outcome.response);
    this.deps.log.info('subscription refresh failed; setting it up again', { event: this.deps.event, key: s.key, outcome: outcome.kind === 'final' ? outcome.response.status : outcome.kind });
    // A target that did not answer is not tried again at once; one that answered 481 restarted and is.
    await this.setUp(s, outcome.kind === 'final' ? undefined : s.target);
  }

  /** A SUBSCRIBE: the first of a dialog, a refresh, or an unsubscription (expires 0). */
  private send(s: Subscription, expires: number): Promise<RequestOutcome> {
    const from = this.deps.ownUri();
    const own = this.deps.ownContact();
    // Signed as it goes out: over TLS the stack names our TLS listener in it.
    const contact = own && s.target ? this.deps.stack.contactToward(s.target, own) : own;
    if (!from || !contact || !s.callId || !s.target) return Promise.resolve({ kind: 'transport-error', error: new Error('no identity or SIP not started') });
    const extra = this.deps.headersFor ? this.deps.headersFor({ from, to: s.to, callId: s.callId, cseq: s.cseq + 1, expires, contact }) : {};
    if (!extra) return Promise.resolve({ kind: 'transport-error', error: new Error('no key to sign with') });
    s.cseq += 1;
    const inDialog = s.state === 'active' && s.localTag !== undefined && s.remoteTag !== undefined;
    return this.deps.stack.request({
      method: 'SUBSCRIBE',
      to: s.to,
      from,
      requestUri: s.target,
      contact,
      callId: s.callId,
      headers: { event: this.deps.event, accept: this.deps.accept, expires, ...extra },
      ...(inDialog ? { dialog: { callId: s.callId, localTag: s.localTag!, remoteTag: s.remoteTag!, cseq: s.cseq, routeSet: [] } } : {}),
      timeoutMs: requestTimeoutMs(s.expires),
    });
  }

  /** A NOTIFY of this event package; always answered. */
  async onNotify(incoming: IncomingRequest): Promise<void> {
    const { request, respond } = incoming;
    const callId = request.headers['call-id'];
    const state = String(request.headers['subscription-state'] ?? 'active').toLowerCase();
    const terminated = state.startsWith('terminated');
    if (this.ending.has(callId)) {
      if (terminated) this.ending.delete(callId);
      return respond(200);
    }
    const s = this.byCallId.get(callId);
    if (!s || !this.current(s)) return respond(481, { reason: 'Subscription Does Not Exist' });
    const verdict = await this.deps.onNotify(s.key, request, terminated);
    // A NOTIFY that does not speak for the subscriber's peer changes nothing of the dialog.
    if (verdict.status !== 200 && verdict.forged) return respond(verdict.status, { reason: verdict.reason });
    // RFC 6665 4.1.2.4: the NOTIFY may come before the 2xx; its From tag is the dialog's remote tag.
    s.remoteTag ??= String(request.headers.from?.params?.tag ?? '');
    s.localTag ??= String(request.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(request.headers.contact) ?? s.target;
    if (verdict.status === 200) respond(200);
    else respond(verdict.status, { reason: verdict.reason });
    if (!terminated || !this.current(s)) return;
    // RFC 6665 4.1.3: after "deactivated" or "timeout" a new subscription may be tried at once;
    // after any other reason, not before a while.
    const again = /reason=(deactivated|timeout)/.test(state);
    this.wait(s, again ? 0 : retryDelayMs(s.expires, 1));
    this.deps.onTerminated?.(s.key, again);
  }
}
