// Instant messages: SIP MESSAGE (RFC 3428) with text/plain bodies, stored in sqlite before
// they are acknowledged, so nothing a user typed or was sent is lost on a crash. Around them:
// delivery and read receipts (wire/im/receipt.ts), "is typing" (RFC 3994), and, for a user of
// the overlay with no device online, the offline store (mailbox-service.ts).
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { MessageRepository, RequestLimits, StoredMessage, StoredMessageStatus } from '../../storage/repositories/message-repository.js';
import { realTimers } from '../../transport/clock.js';
import { DEFAULT_ACTIVE_TIMEOUT_S, DEFAULT_REFRESH_S, IDLE_AFTER_MS, IS_COMPOSING_CONTENT_TYPE, parseIsComposing, serializeIsComposing } from '../../wire/im/is-composing.js';
import { MAILBOX_HINT_BODY, MAILBOX_HINT_CONTENT_TYPE } from '../../wire/im/mailbox-hint.js';
import { encodeReceipt, MAX_RECEIPT_IDS, parseReceipt, RECEIPT_CONTENT_TYPE, type ReceiptKind } from '../../wire/im/receipt.js';
import { decodeBody, generateCallId, reasonPhrase } from '../../wire/sip/message.js';
import { addressInOverlay, conversationKey, overlayAorOf, parseSipUri } from '../../wire/sip/uri.js';
import { UserError } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import type { StoreOutcome } from './mailbox-service.js';
import { isCertificateMismatch, type IncomingRequest, type RequestOutcome, type SipStack } from '../sip/index.js';
import { MessageSealing } from './message-sealing.js';
import type { SealingCounters } from './message-security-view.js';
import { SEALED_MESSAGE_CONTENT_TYPE } from '../../wire/im/sealed-message.js';
import { checkPhoneAttestation } from '../../wire/sip/phone-attestation.js';
import { SourceRateLimit } from '../../proto/sip/source-rate-limit.js';

/** RFC 3428 5: a MESSAGE body is limited; past 1300 bytes the stack moves to TCP (RFC 3261 18.1.1). */
export const MAX_MESSAGE_TEXT_BYTES = 16 * 1024;
const TEXT_PLAIN = 'text/plain';
/**
 * The largest sealed body taken (base64url characters): a 16 KiB text whose every character JSON
 * escapes to two (newlines, quotes), signed, sealed and base64url'd, is about 44 KiB. Checked
 * before anything is opened; what opens is held to MAX_MESSAGE_TEXT_BYTES again.
 */
export const MAX_SEALED_MESSAGE_BYTES = 48 * 1024;
/**
 * Messages one sender may have stored, a second, after a burst (issue 21: one sender's 10,000
 * MESSAGEs in 10 s were all stored). Someone typing sends one every few seconds; a paste cut in
 * lines a few dozen at once. Receipts and typing notices are not stored and not counted.
 */
export const DEFAULT_SENDER_LIMIT = { perSecond: 2, burst: 30 };
/** What a 415 lists as understood (RFC 3428 7, RFC 3261 21.4.13). */
const ACCEPTED_TYPES = [TEXT_PLAIN, RECEIPT_CONTENT_TYPE, IS_COMPOSING_CONTENT_TYPE, SEALED_MESSAGE_CONTENT_TYPE].join(', ');

/** What IM needs of the overlay: this user's AOR, and the contacts and keys of another's. */
export interface AorResolver {
  /** The overlay's name: the domain of its AORs, where a bare user name points. */
  readonly overlay: string;
  ownAor(): string | undefined;
  isOverlayUri(uri: { host: string }): boolean;
  lookupAor(aor: string): Promise<{ contacts: string[]; owner?: string; x25519?: string; voicemail?: boolean }>;
}

/** Where a message goes when its recipient has no device online. */
export interface OfflineStore {
  store(message: { to: string; callId: string; seq: number; at: number; text: string }, recipient: { owner: string; x25519: string }): Promise<StoreOutcome>;
}

export interface ImServiceDeps {
  stack: SipStack;
  overlay?: AorResolver;
  messages: MessageRepository;
  identity: IdentityService;
  onMessage(message: StoredMessage, change: 'added' | 'updated'): void;
  mailbox?: OfflineStore;
  timers?: TimerHost;
  now?: () => number;
  /** `peer` started or stopped typing to us (RFC 3994). */
  onTyping?(peer: string, active: boolean): void;
  /** The number of `peer`'s unread messages may have changed. */
  onUnreadChanged?(peer: string): void;
  /** A Peerdial user stored something in our mailbox just now: read it now (mailbox-hint.ts). */
  onMailboxHint?(): void;
  /** A MESSAGE with a body type IM does not handle (e.g. a buddy request); true when it was answered. */
  onOtherContent?(incoming: IncomingRequest): boolean | Promise<boolean>;
  /** Node-level content (DSRP for the rescue server), taken before any user is needed: true when it took the request. */
  onServiceContent?(incoming: IncomingRequest): boolean;
  /** Why nothing may be sent to `peer` now (blocked, key changed and not trusted), or undefined. */
  sendBlockReason?(peer: string): string | undefined;
  /** The user blocked `peer`: nothing they send is taken. */
  isBlocked?(peer: string): boolean;
  /** The key pinned for a buddy: what they seal must be signed by it, and what we seal goes to it. */
  pinnedKey?(aor: string): string | undefined;
  /** Texts stored per sender (DEFAULT_SENDER_LIMIT when absent; null: no limit). */
  senderLimit?: { perSecond: number; burst: number } | null;
  /** A stranger's text waits in Requests (strangers-service.ts); without this, every text is a conversation's. */
  strangers?: { isStranger(peer: string): boolean; limits: RequestLimits; onRequestsChanged(): void };
}

/** How a message left: `sealed` when it went sealed and signed end to end. */
type Delivery = (RequestOutcome | { kind: 'stored' } | { kind: 'not-stored'; reason: string }) & { sealed?: boolean };

/** What is known of a conversation's composing state, each way. */
interface Composing {
  /** We told the peer "active" at this time, and have not said idle since. */
  sentActiveAt?: number;
  idleTimer?: TimerHandle;
  /** The peer told us "active"; cleared when the refresh lapses. */
  theirTimeout?: TimerHandle;
}

/** Responses that mean "nobody is there now", after which a message is kept for later (RFC 3261 21.4.18, 21.4.9, 21.5.4). */
const UNAVAILABLE_STATUSES = new Set([408, 480, 503]);

export class ImService {
  private readonly now: () => number;
  private readonly timers: TimerHost;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly composing = new Map<string, Composing>();
  private readonly sealing: MessageSealing | undefined;
  private readonly senders?: SourceRateLimit;
  /** Texts from blocked senders, and from strangers past their request's cap: taken and dropped. */
  blockedDropped = 0;
  requestsDropped = 0;

  constructor(private readonly deps: ImServiceDeps) {
    this.now = deps.now ?? Date.now;
    const senderLimit = deps.senderLimit === undefined ? DEFAULT_SENDER_LIMIT : deps.senderLimit;
    if (senderLimit && senderLimit.perSecond > 0) this.senders = new SourceRateLimit({ ...senderLimit, maxSources: 4_096 });
    this.timers = deps.timers ?? realTimers;
    const overlay = deps.overlay;
    this.sealing = overlay && new MessageSealing({ identity: deps.identity, ownAor: () => overlay.ownAor(), lookup: (aor) => overlay.lookupAor(aor), pinnedKey: deps.pinnedKey, now: this.now });
  }

  /** Messages sealed and opened end to end, and refused for want of it. */
  get sealingCounters(): SealingCounters {
    return { ...(this.sealing?.counters ?? { sealedSent: 0, sealedReceived: 0, refusedUnsealed: 0, refusedSealed: 0 }) };
  }

  async start(): Promise<void> {
    // A message still "sending" belongs to a run that ended before its outcome was known.
    await this.deps.messages.markUnfinishedFailed('Peerdial closed before delivery was confirmed', this.now());
    this.deps.stack.handle('MESSAGE', (incoming) => this.receive(incoming));
  }

  async stop(): Promise<void> {
    for (const state of this.composing.values()) {
      if (state.idleTimer) this.timers.clear(state.idleTimer);
      if (state.theirTimeout) this.timers.clear(state.theirTimeout);
    }
    this.composing.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** What this user's messages say they are from: the overlay AOR when there is one. */
  private fromUri(): string | undefined {
    return this.deps.overlay?.ownAor() ?? this.ownUri();
  }

  /** This node's own URI: `sip:USER@HOST:PORT`. */
  ownUri(): string | undefined {
    const identity = this.deps.identity.current;
    if (!identity) return undefined;
    return `sip:${identity.userName}@${this.deps.stack.host}:${this.deps.stack.port}`;
  }

  /** The target's canonical key, and how to address it (overlay AOR or direct URI). */
  private route(text: string): { peer: string; target: string; from: string; viaOverlay: boolean } {
    if (!this.deps.identity.current || !this.ownUri()) throw new UserError('NO_IDENTITY', 'Create your identity before sending messages.');
    const to = this.address(text);
    const peer = conversationKey(to);
    const target = parseSipUri(to);
    if (!peer || !target?.user) throw new UserError('INVALID_URI', `"${text}" is not a SIP address like sip:bob@192.0.2.10:5060 or a name in your overlay.`);
    const viaOverlay = this.deps.overlay?.isOverlayUri(target) ?? false;
    // To an AOR we write our AOR (the reply is looked up in the same overlay); to a direct
    // address, our direct contact, since that peer may not share our overlay.
    const from = (viaOverlay ? this.fromUri() : this.ownUri())!;
    return { peer, target: to, from, viaOverlay };
  }

  /** A bare name is that user in our overlay (addressInOverlay: the rule every command follows). */
  private address(text: string): string {
    return addressInOverlay(text, this.deps.overlay?.overlay);
  }

  async send(to: string, text: string): Promise<StoredMessage> {
    const { peer, target, from, viaOverlay } = this.route(to);
    if (!text.trim()) throw new UserError('INVALID_ARGUMENT', 'The message is empty.');
    if (Buffer.byteLength(text) > MAX_MESSAGE_TEXT_BYTES) throw new UserError('INVALID_ARGUMENT', `The message is longer than ${MAX_MESSAGE_TEXT_BYTES} bytes.`);
    const blocked = this.deps.sendBlockReason?.(peer);
    if (blocked) throw new UserError('UNAVAILABLE', blocked);
    // Writing back to a stranger accepts their request, as in Signal.
    if (this.deps.strangers && (await this.deps.messages.acceptRequest(peer))) this.deps.strangers.onRequestsChanged();

    const callId = generateCallId(this.deps.stack.host);
    const at = this.now();
    const stored = await this.deps.messages.add({ peer, direction: 'out', text, status: 'sending', sipCallId: callId, sipCseq: 1, at });
    if (!stored) throw new Error('message could not be stored');
    this.deps.onMessage(stored, 'added');
    // RFC 3994 3.2: the message itself ends "active" at the receiver; no idle needs sending.
    this.stopComposing(peer);

    const message = { to: target, from, fromName: this.deps.identity.current!.displayName, body: text, contentType: 'text/plain;charset=UTF-8', callId };
    const delivery = (viaOverlay ? this.sendToAor(message, { seq: stored.id, at }) : this.deps.stack.request({ method: 'MESSAGE', ...message }))
      .then((outcome) => this.settle(stored.id, outcome))
      .catch((error) => this.settle(stored.id, { kind: 'transport-error', error: error as Error }));
    this.track(delivery);
    return stored;
  }

  /**
   * A MESSAGE to an AOR: look up the user's devices in the overlay and try each contact, newest
   * binding first, until one answers 2xx. The Request-URI is the contact; To stays the AOR.
   * With `offline` given, a text nobody could take is kept in the recipient's mailbox.
   */
  private async sendToAor(
    message: { to: string; from: string; fromName: string; body: string; contentType: string; callId: string },
    offline?: { seq: number; at: number },
  ): Promise<Delivery> {
    let found: { contacts: string[]; owner?: string; x25519?: string };
    try {
      found = await this.deps.overlay!.lookupAor(message.to);
    } catch (error) {
      return { kind: 'unresolvable', error: error as Error };
    }
    let sealed: { contentType: string; body: string } | undefined;
    try {
      sealed = this.sealing?.seal({ to: message.to, callId: message.callId, contentType: message.contentType, body: message.body }, found);
    } catch (error) {
      return { kind: 'not-stored', reason: (error as Error).message };
    }
    const outgoing = sealed ? { ...message, ...sealed } : message;
    let last: RequestOutcome | undefined;
    for (const contact of found.contacts) {
      last = await this.deps.stack.request({ method: 'MESSAGE', ...outgoing, requestUri: contact, timeoutMs: 8_000 });
      if (last.kind === 'final' && last.response.status < 300) return { ...last, sealed: sealed !== undefined };
      // A definite answer from the user's device (e.g. 403, 415) is theirs to give: no mailbox.
      if (last.kind === 'final' && !UNAVAILABLE_STATUSES.has(last.response.status)) return { ...last, sealed: sealed !== undefined };
    }
    const nobody: RequestOutcome = last ?? { kind: 'unresolvable', error: new Error(`${message.to} has no device online`) };
    if (!offline || !this.deps.mailbox || !found.owner) return nobody;
    if (!found.x25519) return { kind: 'not-stored', reason: `${message.to} is offline, and their Peerdial cannot receive messages while offline` };
    const kept = await this.deps.mailbox.store({ to: message.to, callId: message.callId, seq: offline.seq, at: offline.at, text: message.body }, { owner: found.owner, x25519: found.x25519 });
    return kept.ok ? { kind: 'stored', sealed: true } : { kind: 'not-stored', reason: `${message.to} is offline, and the message could not be kept for them: ${kept.reason}` };
  }

  conversations(): Promise<Array<{ peer: string; lastMessage: StoredMessage; messageCount: number }>> {
    return this.deps.messages.conversations();
  }

  history(peer: string, limit: number, beforeId?: number): Promise<StoredMessage[]> {
    const key = conversationKey(this.address(peer));
    if (!key) throw new UserError('INVALID_URI', `"${peer}" is not a SIP address.`);
    return this.deps.messages.history(key, limit, beforeId);
  }

  unreadCount(peer: string): Promise<number> {
    const key = conversationKey(this.address(peer));
    return key ? this.deps.messages.unreadCount(key) : Promise.resolve(0);
  }

  /** The user opened the conversation: `peer`'s messages are read, and the sender is told (a read receipt). */
  async markRead(peer: string): Promise<void> {
    const key = conversationKey(this.address(peer));
    if (!key) throw new UserError('INVALID_URI', `"${peer}" is not a SIP address.`);
    // A stranger learns nothing (no read receipt) until the user accepts their request.
    if (await this.deps.messages.isRequest(key)) return;
    const callIds = await this.deps.messages.markRead(key, this.now());
    if (!callIds.length) return;
    this.deps.onUnreadChanged?.(key);
    if (this.deps.sendBlockReason?.(key)) return;
    this.track(this.sendReceipt(key, 'read', callIds));
  }

  /**
   * The user is typing to `peer` (or stopped). RFC 3994 3.2: "active" is sent when composing
   * starts and refreshed every refresh interval while it goes on, not at every keystroke;
   * "idle" when the user stops, or after 15 s without typing.
   */
  async typing(peer: string, active: boolean): Promise<void> {
    const { peer: key } = this.route(peer);
    if (this.deps.sendBlockReason?.(key)) return;
    const state = this.composingOf(key);
    if (state.idleTimer) this.timers.clear(state.idleTimer);
    state.idleTimer = undefined;
    if (!active) {
      if (state.sentActiveAt === undefined) return;
      state.sentActiveAt = undefined;
      this.track(this.sendComposing(key, 'idle'));
      return;
    }
    state.idleTimer = this.timers.set(IDLE_AFTER_MS, () => void this.typing(key, false).catch(() => undefined));
    const now = this.now();
    if (state.sentActiveAt !== undefined && now - state.sentActiveAt < DEFAULT_REFRESH_S * 1000) return;
    state.sentActiveAt = now;
    this.track(this.sendComposing(key, 'active'));
  }

  /** Tells `peer` which of their messages reached this user or were read. Best effort: never stored, never retried. */
  async sendReceipt(peer: string, kind: ReceiptKind, callIds: string[]): Promise<void> {
    for (let i = 0; i < callIds.length; i += MAX_RECEIPT_IDS) {
      await this.sendControl(peer, RECEIPT_CONTENT_TYPE, encodeReceipt({ kind, callIds: callIds.slice(i, i + MAX_RECEIPT_IDS) }));
    }
  }

  /** Tells `peer`'s devices online that their mailbox has something new (mailbox-hint.ts). Best effort. */
  sendMailboxHint(peer: string): Promise<void> {
    return this.sendControl(peer, MAILBOX_HINT_CONTENT_TYPE, MAILBOX_HINT_BODY);
  }

  private sendComposing(peer: string, state: 'active' | 'idle'): Promise<void> {
    const now = this.now();
    const body = serializeIsComposing(state === 'active' ? { state, contentType: TEXT_PLAIN, refresh: DEFAULT_REFRESH_S, lastActive: now } : { state, contentType: TEXT_PLAIN, lastActive: now });
    return this.sendControl(peer, IS_COMPOSING_CONTENT_TYPE, body);
  }

  /** A MESSAGE that is not a user's text (a receipt, an isComposing): no row, no mailbox. */
  private async sendControl(peer: string, contentType: string, body: string): Promise<void> {
    const { target, from, viaOverlay } = this.route(peer);
    const message = { to: target, from, fromName: this.deps.identity.current!.displayName, body, contentType, callId: generateCallId(this.deps.stack.host) };
    try {
      await (viaOverlay ? this.sendToAor(message) : this.deps.stack.request({ method: 'MESSAGE', ...message, timeoutMs: 8_000 }));
    } catch {
      // best effort
    }
  }

  private composingOf(peer: string): Composing {
    let state = this.composing.get(peer);
    if (!state) this.composing.set(peer, (state = {}));
    return state;
  }

  private stopComposing(peer: string): void {
    const state = this.composing.get(peer);
    if (!state) return;
    if (state.idleTimer) this.timers.clear(state.idleTimer);
    state.idleTimer = undefined;
    state.sentActiveAt = undefined;
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async settle(id: number, outcome: Delivery): Promise<void> {
    const [status, reason] = describeOutcome(outcome);
    if (outcome.sealed) await this.deps.messages.markEncrypted(id);
    // A receipt may have overtaken the outcome (a read message stays read).
    const updated = (await this.deps.messages.settle(id, status, reason, this.now())) ?? (outcome.sealed ? await this.deps.messages.byId(id) : undefined);
    if (updated) this.deps.onMessage(updated, 'updated');
  }

  private async receive(incoming: IncomingRequest): Promise<void> {
    const { request, respond } = incoming;
    if (this.deps.onServiceContent?.(incoming)) return;
    const identity = this.deps.identity.current;
    if (!identity) {
      respond(480, { reason: 'No user here yet' });
      return;
    }
    const target = parseSipUri(request.uri);
    if (target?.user && target.user.toLowerCase() !== identity.userName) {
      respond(404);
      return;
    }
    // RFC 3428 7: a body type the UAS does not understand gets 415 with Accept.
    let type = contentTypeOf(request.headers['content-type']);
    if (type !== TEXT_PLAIN && type !== RECEIPT_CONTENT_TYPE && type !== IS_COMPOSING_CONTENT_TYPE && type !== SEALED_MESSAGE_CONTENT_TYPE) {
      if (this.deps.onOtherContent && (await this.deps.onOtherContent(incoming))) return;
      respond(415, { headers: { accept: ACCEPTED_TYPES } });
      return;
    }
    // RFC 3261 21.4.11: a body over the limit gets 413, before anything is opened or stored.
    const limit = type === SEALED_MESSAGE_CONTENT_TYPE ? MAX_SEALED_MESSAGE_BYTES : MAX_MESSAGE_TEXT_BYTES;
    if ((request.content ?? '').length > limit) return this.tooLarge(incoming, limit);
    const peer = conversationKey(request.headers.from.uri);
    if (!peer) {
      respond(400, { reason: 'Bad Request (From is not a SIP URI)' });
      return;
    }
    if (this.deps.isBlocked?.(peer)) {
      // A blocked sender is not told (as in Signal): 202 reads "accepted, not known delivered"
      // (RFC 3428 7), so their message shows sent, never delivered; nothing is kept.
      this.blockedDropped++;
      respond(202);
      return;
    }
    const fromAor = overlayAorOf(request.headers.from.uri, this.deps.overlay?.overlay);
    let body = decodeBody(request.content);
    const encrypted = type === SEALED_MESSAGE_CONTENT_TYPE;
    if (encrypted) {
      const opened = (await this.sealing?.open(fromAor, request.headers['call-id'], body)) ?? { ok: false as const, reason: 'this node is in no overlay' };
      if (!opened.ok) {
        respond(403, { reason: 'Forbidden (sealed message refused)', headers: { warning: `399 ${this.deps.stack.host} "${opened.reason}"` } });
        return;
      }
      type = contentTypeOf(opened.type);
      body = opened.body;
      if (type === MAILBOX_HINT_CONTENT_TYPE) {
        respond(200);
        this.deps.onMailboxHint?.();
        return;
      }
      if (type !== TEXT_PLAIN && type !== RECEIPT_CONTENT_TYPE && type !== IS_COMPOSING_CONTENT_TYPE) {
        respond(415, { headers: { accept: ACCEPTED_TYPES } });
        return;
      }
    } else if (fromAor && this.sealing && !(await this.sealing.plainAllowed(fromAor, (key) => checkPhoneAttestation(request, key, this.now()) === 'valid'))) {
      // Anyone can write any From: only a sealed message speaks for a Peerdial user.
      this.sealing.refusedUnsealed();
      respond(403, { reason: 'Forbidden (messages from Peerdial users must be sealed)' });
      return;
    }
    if (type === RECEIPT_CONTENT_TYPE) return this.receiveReceipt(peer, body, respond);
    if (type === IS_COMPOSING_CONTENT_TYPE) return this.receiveComposing(peer, body, respond);
    if (Buffer.byteLength(body) > MAX_MESSAGE_TEXT_BYTES) return this.tooLarge(incoming, MAX_MESSAGE_TEXT_BYTES);
    // A sealed message's sender is proven by its signature; anyone else's From is only a claim,
    // so its budget is kept per address too (a forged From spends no one else's).
    const sender = encrypted ? peer : `${peer}|${incoming.remote.address}`;
    if (this.senders && !this.senders.allow(sender, this.now())) {
      this.deps.stack.noteLimited(incoming.remote.address, 'message-sender');
      const retryAfter = Math.max(1, Math.ceil(this.senders.waitMs(sender, this.now()) / 1000));
      respond(503, { reason: 'Service Unavailable (too many messages from you)', headers: { 'retry-after': retryAfter } });
      return;
    }
    const strangers = this.deps.strangers;
    if (fromAor && strangers?.isStranger(peer)) return this.receiveFromStranger(request, peer, body, encrypted, respond, strangers);
    const stored = await this.deps.messages.add({
      peer,
      direction: 'in',
      text: body,
      status: 'received',
      sipCallId: request.headers['call-id'],
      sipCseq: request.headers.cseq.seq,
      at: this.now(),
      encrypted,
    });
    // Committed to disk before the 200: a crash after this loses nothing.
    respond(200);
    if (stored) {
      this.deps.onMessage(stored, 'added');
      this.deps.onUnreadChanged?.(peer);
    }
    // RFC 3994 3.3: a content message ends the sender's "active" state.
    this.theyStopped(peer);
  }

  private tooLarge(incoming: IncomingRequest, limit: number): void {
    this.deps.stack.noteLimited(incoming.remote.address, 'message-size');
    incoming.respond(413, { reason: `Request Entity Too Large (a message body may have ${limit} bytes)` });
  }

  /** A stranger's text: into their request (or their conversation, once accepted), stored before the answer. */
  private async receiveFromStranger(
    request: IncomingRequest['request'],
    peer: string,
    text: string,
    encrypted: boolean,
    respond: IncomingRequest['respond'],
    strangers: NonNullable<ImServiceDeps['strangers']>,
  ): Promise<void> {
    const outcome = await this.deps.messages.addFromStranger(
      { peer, direction: 'in', text, status: 'received', sipCallId: request.headers['call-id'], sipCseq: request.headers.cseq.seq, at: this.now(), encrypted },
      strangers.limits,
    );
    if (outcome.kind === 'over-limit') {
      // Past the request's cap: dropped, and answered as a blocked sender is (202), so a flood learns nothing.
      this.requestsDropped++;
      respond(202);
      return;
    }
    respond(200);
    if (outcome.kind === 'duplicate') return;
    this.deps.onMessage(outcome.message, 'added');
    if (outcome.kind === 'request') strangers.onRequestsChanged();
    else this.deps.onUnreadChanged?.(peer);
  }

  private async receiveReceipt(peer: string, body: string, respond: IncomingRequest['respond']): Promise<void> {
    const receipt = parseReceipt(body);
    if (!receipt) {
      respond(400, { reason: 'Bad Request (not a receipt)' });
      return;
    }
    respond(200);
    // Only the messages we sent to this peer move, and never backwards (read stays read).
    const from: StoredMessageStatus[] = receipt.kind === 'read' ? ['sending', 'sent', 'stored', 'delivered', 'failed'] : ['sending', 'sent', 'stored', 'failed'];
    const changed = await this.deps.messages.advance(peer, receipt.callIds, receipt.kind, from, this.now());
    for (const message of changed) this.deps.onMessage(message, 'updated');
  }

  private receiveComposing(peer: string, body: string, respond: IncomingRequest['respond']): void {
    const doc = parseIsComposing(body);
    if (!doc) {
      respond(400, { reason: 'Bad Request (not an isComposing document)' });
      return;
    }
    respond(200);
    if (doc.state === 'idle') {
      this.theyStopped(peer);
      return;
    }
    const state = this.composingOf(peer);
    const wasActive = state.theirTimeout !== undefined;
    if (state.theirTimeout) this.timers.clear(state.theirTimeout);
    // RFC 3994 3.3: without a refresh within the interval (120 s when none is given), they went idle.
    state.theirTimeout = this.timers.set((doc.refresh ?? DEFAULT_ACTIVE_TIMEOUT_S) * 1000, () => this.theyStopped(peer));
    if (!wasActive) this.deps.onTyping?.(peer, true);
  }

  private theyStopped(peer: string): void {
    const state = this.composing.get(peer);
    if (!state?.theirTimeout) return;
    this.timers.clear(state.theirTimeout);
    state.theirTimeout = undefined;
    this.deps.onTyping?.(peer, false);
  }
}

function contentTypeOf(header: unknown): string {
  return String(header ?? TEXT_PLAIN).split(';')[0].trim().toLowerCase();
}

function describeOutcome(outcome: Delivery): [StoredMessageStatus, string | undefined] {
  switch (outcome.kind) {
    case 'stored':
      return ['stored', undefined];
    case 'not-stored':
      return ['failed', outcome.reason];
    case 'final': {
      const { status, reason } = outcome.response;
      // RFC 3428 7: 202 means accepted for delivery (a store-and-forward server), not delivered yet.
      if (status === 202) return ['sent', undefined];
      if (status >= 200 && status < 300) return ['delivered', undefined];
      return ['failed', `${status} ${reason || reasonPhrase(status)}`];
    }
    case 'timeout':
      return ['failed', 'No answer from the recipient (timed out)'];
    case 'transport-error':
      if (isCertificateMismatch(outcome)) return ['failed', `Not sent: ${outcome.error.message}, so someone may be in between`];
      return ['failed', `Could not reach the recipient: ${outcome.error.message}`];
    case 'unresolvable':
      return ['failed', `Could not find the recipient: ${outcome.error.message}`];
  }
}
