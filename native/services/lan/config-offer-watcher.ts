// The following side of configuration offers (RFC 6665 4.1): one `peerdial-config`
// subscription to each LAN node that says it offers a configuration, refreshed at half its
// duration and set up again with back-off when it fails. What a NOTIFY carries is judged by
// the offer service; this file keeps the dialogs.
import type { Logger } from '../../log.js';
import { refreshDelayMs, requestTimeoutMs, retryDelayMs } from '../../proto/presence/subscription-timing.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { CONFIG_OFFER_CONTENT_TYPE, CONFIG_OFFER_EVENT } from '../../wire/lan/config-offer.js';
import { firstContactUri } from '../../wire/presence/contact-header.js';
import { generateCallId } from '../../wire/sip/message.js';
import type { IncomingRequest, RequestOutcome, SipStack } from '../sip/index.js';

/** What the service makes of a document: the NOTIFY's answer. */
export type DocumentVerdict = { status: 200 } | { status: 400 | 403 | 415; reason: string };

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

interface Subscription {
  /** host:port of the offering node. */
  source: string;
  uri: string;
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

export class ConfigOfferWatcher {
  private readonly subs = new Map<string, Subscription>();
  private readonly byCallId = new Map<string, Subscription>();
  /** Subscriptions we ended, whose final NOTIFY may still come: answered 200, not read. */
  private readonly ending = new Set<string>();
  private stopping = false;

  constructor(private readonly deps: ConfigOfferWatcherDeps) {}

  /** The sources subscribed to, or being subscribed to. */
  get sources(): string[] {
    return [...this.subs.keys()];
  }

  start(): void {
    this.stopping = false;
  }

  /** Subscribes to every source in `wanted` (host:port) not yet followed, and unsubscribes from the others. */
  follow(wanted: Array<{ source: string; uri: string }>): void {
    if (this.stopping) return;
    const keep = new Set(wanted.map((w) => w.source));
    for (const [source, s] of this.subs) {
      if (keep.has(source)) continue;
      this.subs.delete(source);
      this.release(s);
      if (s.state === 'active') void this.unsubscribe(s);
      this.deps.onWithdrawn(source);
    }
    for (const w of wanted) {
      if (this.subs.has(w.source)) continue;
      const sub: Subscription = { source: w.source, uri: w.uri, state: 'waiting', cseq: 0, expires: this.deps.expires, failures: 0 };
      this.subs.set(w.source, sub);
      void this.setUp(sub);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.subs.values()];
    this.subs.clear();
    for (const s of all) this.release(s);
    await Promise.allSettled(all.filter((s) => s.state === 'active').map((s) => this.unsubscribe(s)));
  }

  private release(s: Subscription): void {
    if (s.timer) this.deps.timers.clear(s.timer);
    s.timer = undefined;
    if (s.callId) this.byCallId.delete(s.callId);
  }

  private unsubscribe(s: Subscription): Promise<RequestOutcome> {
    if (this.ending.size > 256) this.ending.clear();
    if (s.callId) this.ending.add(s.callId);
    return this.send(s, 0);
  }

  private async setUp(s: Subscription): Promise<void> {
    this.release(s);
    s.state = 'setting-up';
    s.callId = generateCallId(this.deps.stack.host);
    s.localTag = s.remoteTag = undefined;
    s.target = s.uri;
    s.cseq = 0;
    this.byCallId.set(s.callId, s);
    const outcome = await this.send(s, this.deps.expires);
    if (this.subs.get(s.source) !== s) return;
    if (outcome.kind === 'final' && outcome.response.status < 300) return this.established(s, outcome.response);
    this.deps.log.debug('configuration subscription failed', { source: s.source, outcome: outcome.kind === 'final' ? outcome.response.status : outcome.kind });
    this.wait(s);
  }

  private wait(s: Subscription, delayMs?: number): void {
    this.release(s);
    s.failures += 1;
    s.state = 'waiting';
    s.callId = undefined;
    s.timer = this.deps.timers.set(delayMs ?? retryDelayMs(s.expires, s.failures), () => void this.setUp(s));
  }

  private established(s: Subscription, response: Extract<RequestOutcome, { kind: 'final' }>['response']): void {
    s.state = 'active';
    s.failures = 0;
    s.localTag = String(response.headers.from?.params?.tag ?? s.localTag ?? '');
    s.remoteTag ??= String(response.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(response.headers.contact) ?? s.target;
    const granted = Number(response.headers.expires);
    s.expires = Number.isFinite(granted) && granted > 0 ? Math.min(granted, this.deps.expires) : this.deps.expires;
    s.timer = this.deps.timers.set(refreshDelayMs(s.expires), () => void this.refresh(s));
  }

  private async refresh(s: Subscription): Promise<void> {
    if (this.subs.get(s.source) !== s) return;
    const outcome = await this.send(s, this.deps.expires);
    if (this.subs.get(s.source) !== s) return;
    if (outcome.kind === 'final' && outcome.response.status < 300) return this.established(s, outcome.response);
    await this.setUp(s);
  }

  private send(s: Subscription, expires: number): Promise<RequestOutcome> {
    const from = this.deps.ownUri();
    const contact = this.deps.ownContact();
    if (!from || !contact || !s.callId || !s.target) return Promise.resolve({ kind: 'transport-error', error: new Error('SIP not started') });
    s.cseq += 1;
    const inDialog = s.state === 'active' && s.localTag !== undefined && s.remoteTag !== undefined;
    return this.deps.stack.request({
      method: 'SUBSCRIBE',
      to: s.uri,
      from,
      requestUri: s.target,
      contact,
      callId: s.callId,
      headers: { event: CONFIG_OFFER_EVENT, accept: CONFIG_OFFER_CONTENT_TYPE, expires },
      ...(inDialog ? { dialog: { callId: s.callId, localTag: s.localTag!, remoteTag: s.remoteTag!, cseq: s.cseq, routeSet: [] } } : {}),
      timeoutMs: requestTimeoutMs(s.expires),
    });
  }

  /** A NOTIFY with `Event: peerdial-config`; always answered. */
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
    if (!s || this.subs.get(s.source) !== s) return respond(481, { reason: 'Subscription Does Not Exist' });
    // RFC 6665 4.1.2.4: the NOTIFY may come before the 2xx; its From tag is the dialog's remote tag.
    s.remoteTag ??= String(request.headers.from?.params?.tag ?? '');
    s.localTag ??= String(request.headers.to?.params?.tag ?? '');
    s.target = firstContactUri(request.headers.contact) ?? s.target;
    const body = request.content ? Buffer.from(request.content, 'latin1').toString('utf8') : '';
    if (body) {
      const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const verdict = await this.deps.onDocument(s.source, body, type);
      if (verdict.status === 200) respond(200);
      else respond(verdict.status, { reason: verdict.reason });
    } else {
      respond(200);
    }
    if (!terminated || this.subs.get(s.source) !== s) return;
    // RFC 6665 4.1.3: after "deactivated" or "timeout" a new subscription may be tried at once;
    // after "noresource" the offer is gone until the node offers one again.
    const again = /reason=(deactivated|timeout)/.test(state);
    if (!again) this.deps.onWithdrawn(s.source);
    this.wait(s, again ? 0 : undefined);
  }
}
