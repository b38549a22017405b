// Buddies: the relation with each (requests, answers, removal, blocking) kept in sqlite, what
// arrives as signed buddy MESSAGEs (wire/presence/buddy-message.ts), and what the list shows of
// each buddy (presence, typing, unread). Sending goes through the outbox (buddy-outbox.ts); whose
// key speaks for a buddy is buddy-trust.ts.
import type { Logger } from '../../log.js';
import { withDeadline, type TimerHandle, type TimerHost } from '../../proto/sip/timers.js';
import type { BuddyRepository, StoredBuddy, StoredBuddyState } from '../../storage/repositories/buddy-repository.js';
import { BUDDY_CONTENT_TYPE, MAX_BUDDY_NOTE, parseBuddyMessage, type BuddyMessage } from '../../wire/presence/buddy-message.js';
import { SIGNATURE_HEADER, verifyPayload } from '../../wire/presence/signature.js';
import { decodeBody } from '../../wire/sip/message.js';
import type { BuddyPresence, BuddyState, BuddyView } from './buddy-view.js';
import { UserError } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import { safetyNumber } from '../../wire/crypto/safety-number.js';
import { fingerprintOf, parseAorUser } from '../overlay/index.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';
import { BuddyOutbox } from './buddy-outbox.js';
import { flagKey, judgeSender, pinOwner, sendBlockReason, trustSeenKey } from './buddy-trust.js';

/** RFC 3994 4.2: an "active" isComposing state lapses after its refresh interval (default 120 s; we show 15 s). */
const TYPING_LAPSE_MS = 15_000;
const CLAIM_CHECK_TIMEOUT_MS = 3_000;

/** What buddies need of the overlay: who we are, and a user's devices and name-claim key. */
export interface BuddyOverlay {
  readonly overlay: string;
  ownAor(): string | undefined;
  lookupAor(aor: string): Promise<{ contacts: string[]; owner?: string }>;
}

export interface BuddyServiceDeps {
  stack: SipStack;
  identity: IdentityService;
  overlay: BuddyOverlay;
  repository: BuddyRepository;
  timers: TimerHost;
  log: Logger;
  onChange(view: BuddyView): void;
  onRemoved(aor: string): void;
  /** Messages from `peer` not yet read (the IM service's count). */
  unreadCount?(peer: string): Promise<number>;
  now?: () => number;
  outboxRetryMs?: number;
}

/** Told when a relation starts, ends or its key is trusted again: presence follows it. */
export type RelationListener = (aor: string, state: BuddyState | undefined) => void;

export class BuddyService {
  private readonly rows = new Map<string, StoredBuddy>();
  /**
   * Buddies removed or declined, kept (state `removed`): their notice waits in the outbox until
   * delivered, and their last message time still tells a replay from a new request.
   */
  private readonly gone = new Map<string, StoredBuddy>();
  private readonly live = new Map<string, BuddyPresence>();
  private readonly typing = new Map<string, TimerHandle>();
  private readonly safetyNumbers = new Map<string, string>();
  private readonly unread = new Map<string, number>();
  private readonly relationListeners: RelationListener[] = [];
  private readonly now: () => number;
  private readonly outbox: BuddyOutbox;

  constructor(private readonly deps: BuddyServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.outbox = new BuddyOutbox({
      ...deps,
      now: () => this.now(),
      row: (aor) => this.rows.get(aor),
      tombstone: (aor) => this.gone.get(aor),
      pending: () => [...this.rows.values(), ...this.gone.values()].filter((r) => r.outbox),
      update: (row) => this.update(row),
      saveTombstone: async (row) => {
        this.gone.set(row.aor, row);
        await this.deps.repository.save(row);
      },
    });
  }

  /**
   * Reads the list from storage. The engine calls it before IM, the mailbox and calls start, so
   * none of them takes a buddy for a stranger (or misses a block) at start-up; the maps are
   * swapped whole, so nobody sees them half read.
   */
  async load(): Promise<void> {
    const rows = new Map<string, StoredBuddy>();
    const gone = new Map<string, StoredBuddy>();
    for (const row of await this.deps.repository.list()) (row.state === 'removed' ? gone : rows).set(row.aor, row);
    const unread = new Map<string, number>();
    if (this.deps.unreadCount) for (const aor of rows.keys()) unread.set(aor, await this.deps.unreadCount(aor).catch(() => 0));
    for (const [target, source] of [[this.rows, rows], [this.gone, gone]] as const) {
      target.clear();
      for (const [k, v] of source) target.set(k, v);
    }
    this.unread.clear();
    for (const [k, v] of unread) this.unread.set(k, v);
  }

  async start(): Promise<void> {
    await this.load();
    this.outbox.start();
  }

  async stop(): Promise<void> {
    this.outbox.stop();
    for (const t of this.typing.values()) this.deps.timers.clear(t);
    this.typing.clear();
  }

  onRelation(listener: RelationListener): void {
    this.relationListeners.push(listener);
  }

  // ---- commands ----

  async list(): Promise<BuddyView[]> {
    return [...this.rows.keys()].map((aor) => this.view(aor)!);
  }

  async add(text: string, note?: string): Promise<BuddyView> {
    const own = this.requireOwnAor();
    const aor = this.requireAor(text);
    if (aor === own) throw new UserError('INVALID_ARGUMENT', 'You cannot add yourself as a buddy.');
    if (note !== undefined && note.length > MAX_BUDDY_NOTE) throw new UserError('INVALID_ARGUMENT', `The note is longer than ${MAX_BUDDY_NOTE} characters.`);
    const existing = this.rows.get(aor);
    if (existing?.state === 'accepted') return this.view(aor)!;
    if (existing?.state === 'incoming') return this.accept(aor);
    let owner: string | undefined;
    try {
      const found = await this.deps.overlay.lookupAor(aor);
      if (!found.owner && !found.contacts.length) throw new UserError('NOT_FOUND', `Nobody has the name ${aor} in overlay ${this.deps.overlay.overlay}.`);
      owner = found.owner;
    } catch (error) {
      // An overlay we cannot reach now: the request waits in the outbox.
      if (error instanceof UserError && error.code !== 'UNAVAILABLE') throw error;
    }
    const at = this.now();
    const row: StoredBuddy = { ...(existing ?? this.gone.get(aor) ?? { aor, createdAt: at }), state: 'requested', requestNote: note?.trim() || undefined, outbox: 'request', updatedAt: at };
    // Trust on first use, checked against the name claim: the key that owns the name now.
    pinOwner(row, owner, at, this.deps.log);
    await this.save(row);
    this.relationChanged(aor);
    void this.outbox.deliver(aor, 'request');
    return this.view(aor)!;
  }

  async accept(text: string): Promise<BuddyView> {
    const row = this.requireRow(text);
    if (row.state === 'accepted') return this.view(row.aor)!;
    if (row.state !== 'incoming') throw new UserError('INVALID_STATE', `${row.aor} has not asked to be your buddy.`);
    await this.save({ ...row, state: 'accepted', outbox: 'accept', updatedAt: this.now() });
    // Presence starts once they have our answer (or could not be reached): before it they would refuse our SUBSCRIBE.
    void this.outbox.deliver(row.aor, 'accept').finally(() => this.relationChanged(row.aor));
    return this.view(row.aor)!;
  }

  async decline(text: string): Promise<BuddyView> {
    const row = this.requireRow(text);
    if (row.state !== 'incoming') throw new UserError('INVALID_STATE', `${row.aor} has not asked to be your buddy.`);
    const view = { ...this.view(row.aor)!, state: 'declined' as const };
    await this.forget(row.aor, 'decline');
    void this.outbox.deliver(row.aor, 'decline');
    return view;
  }

  async remove(text: string): Promise<void> {
    const row = this.requireRow(text);
    const tell = row.state !== 'blocked' && row.state !== 'declined';
    await this.forget(row.aor, tell ? 'remove' : undefined);
    if (tell) void this.outbox.deliver(row.aor, 'remove');
  }

  async block(text: string): Promise<BuddyView> {
    this.requireOwnAor();
    const aor = this.requireAor(text);
    const at = this.now();
    const row = this.rows.get(aor) ?? this.gone.get(aor) ?? { aor, createdAt: at, updatedAt: at, state: 'blocked' as const };
    await this.save({ ...row, state: 'blocked', outbox: undefined, updatedAt: at });
    this.live.delete(aor);
    this.relationChanged(aor);
    return this.view(aor)!;
  }

  /** The user compared the safety number with the buddy (or takes that back). */
  async verify(text: string, verified: boolean): Promise<BuddyView> {
    const row = this.requireRow(text);
    if (verified && (!row.publicKey || row.seenKey)) throw new UserError('INVALID_STATE', `${row.aor} has no settled key to verify yet.`);
    await this.save({ ...row, verifiedKey: verified ? row.publicKey : undefined, updatedAt: this.now() });
    this.relationChanged(row.aor);
    return this.view(row.aor)!;
  }

  async trustKey(text: string): Promise<BuddyView> {
    const row = this.requireRow(text);
    if (!row.seenKey) throw new UserError('INVALID_STATE', `${row.aor}'s key has not changed.`);
    await this.save(trustSeenKey(row, this.now()));
    this.relationChanged(row.aor);
    return this.view(row.aor)!;
  }

  // ---- for IM and presence ----

  /** A sentence saying why nothing may be sent to `peer` now, or undefined when it may. */
  sendBlockReason(peer: string): string | undefined {
    return sendBlockReason(this.rowOf(peer));
  }

  /** The key pinned for the buddy (raw Ed25519, base64url), to verify what they sign. */
  buddyKey(aor: string): string | undefined {
    return this.rowOf(aor)?.publicKey;
  }

  /** The relation with `aor` (any spelling of it), or undefined for a stranger. */
  stateOf(aor: string): BuddyState | undefined {
    return listed(this.rowOf(aor)?.state);
  }

  isBlocked(peer: string): boolean {
    return this.rowOf(peer)?.state === 'blocked';
  }

  /** Buddies both ways whose key is trusted: the ones presence is exchanged with. */
  trustedBuddies(): string[] {
    return [...this.rows.values()].filter((r) => r.state === 'accepted' && r.publicKey && !r.seenKey).map((r) => r.aor);
  }

  /** `sip:bob@OVERLAY` for any spelling of a user of our overlay. */
  canonicalAor(text: string): string | undefined {
    const user = parseAorUser(text, this.deps.overlay.overlay);
    return user ? `sip:${user}@${this.deps.overlay.overlay.toLowerCase()}` : undefined;
  }

  setTyping(peer: string, active: boolean): void {
    const aor = this.canonicalAor(peer);
    if (!aor || !this.rows.has(aor)) return;
    const timer = this.typing.get(aor);
    if (timer) this.deps.timers.clear(timer);
    this.typing.delete(aor);
    if (active) this.typing.set(aor, this.deps.timers.set(TYPING_LAPSE_MS, () => this.setTyping(aor, false)));
    if (active !== Boolean(timer)) this.emit(aor);
  }

  unreadChanged(peer: string): void {
    const aor = this.canonicalAor(peer);
    if (!aor || !this.rows.has(aor) || !this.deps.unreadCount) return;
    void this.deps.unreadCount(aor).then(
      (n) => {
        this.unread.set(aor, n);
        this.emit(aor);
      },
      () => undefined,
    );
  }

  /**
   * Takes a signed presence document's meaning. False when it is older than one already taken
   * (a replay, or NOTIFYs overtaking each other).
   */
  async applyPresence(aor: string, doc: { status: BuddyPresence['status']; note?: string; at: number }): Promise<boolean> {
    const row = this.rows.get(aor);
    if (!row || row.state !== 'accepted') return false;
    if (row.presenceAt !== undefined && doc.at < row.presenceAt) return false;
    const now = this.now();
    const current = this.live.get(aor);
    const wasOnline = current !== undefined && current.status !== 'offline';
    // "Last seen" is the last moment we knew them online: now, unless they were already offline.
    const lastSeen = doc.status !== 'offline' || wasOnline ? now : (current?.lastSeen ?? row.lastSeen);
    this.live.set(aor, { status: doc.status, ...(doc.note && doc.status !== 'offline' ? { note: doc.note } : {}), ...(lastSeen ? { lastSeen } : {}), updatedAt: now });
    await this.update({ ...row, presenceAt: doc.at, presenceNote: doc.note, lastSeen, updatedAt: now });
    return true;
  }

  /** Their node stopped answering (or said goodbye): offline, last seen when we last knew them online. */
  markOffline(aor: string): void {
    const row = this.rows.get(aor);
    const current = this.live.get(aor);
    if (!row || row.state !== 'accepted' || current?.status === 'offline') return;
    const lastSeen = current?.lastSeen ?? row.lastSeen;
    this.live.set(aor, { status: 'offline', ...(lastSeen ? { lastSeen } : {}), updatedAt: this.now() });
    void this.update({ ...row, lastSeen, updatedAt: this.now() }).catch((error: unknown) => this.deps.log.warn('could not save last seen', { error: String(error) }));
  }

  /** A subscription to them was refreshed: they were online now. */
  sawOnline(aor: string): void {
    const current = this.live.get(aor);
    if (current && current.status !== 'offline') current.lastSeen = this.now();
  }

  /** Handles a MESSAGE whose body is a buddy message; false for any other body. */
  onBuddyMessage(incoming: IncomingRequest): boolean {
    const type = String(incoming.request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== BUDDY_CONTENT_TYPE) return false;
    void this.receive(incoming).catch((error: unknown) => {
      this.deps.log.warn('buddy message failed', { error: String(error) });
      incoming.respond(500);
    });
    return true;
  }

  // ---- receiving ----

  private async receive({ request, respond }: IncomingRequest): Promise<void> {
    const own = this.deps.overlay.ownAor();
    if (!own || !this.deps.identity.current) return respond(480, { reason: 'No user here yet' });
    const body = Buffer.from(request.content ?? '', 'latin1');
    const message = parseBuddyMessage(decodeBody(request.content));
    if (typeof message === 'string') return respond(400, { reason: `Bad Request (${message})` });
    if (this.canonicalAor(message.to) !== this.canonicalAor(own)) return respond(404, { reason: 'Not Found (meant for someone else)' });
    const from = this.canonicalAor(message.from);
    if (!from) return respond(403, { reason: 'Forbidden (not a user of this overlay)' });
    if (!verifyPayload('peerdial-buddy-v1', body, request.headers[SIGNATURE_HEADER], message.publicKey)) {
      this.deps.log.info('buddy message with a bad signature refused', { from });
      return respond(403, { reason: 'Forbidden (bad signature)' });
    }
    const row = this.rows.get(from);
    this.deps.log.debug('buddy message', { from, type: message.type, at: message.at, state: row?.state });
    // Taken and dropped, answered as an unanswered request is: a 403 would tell the sender of the block.
    if (row?.state === 'blocked') return respond(200);
    const verdict = await judgeSender(row, message.publicKey, () => this.claimOwner(from));
    if (!verdict.ok && verdict.reason === 'key-changed') {
      if (verdict.newlySeen && row) {
        flagKey(row, message.publicKey, this.now(), this.deps.log);
        await this.update({ ...row, updatedAt: this.now() });
        this.relationChanged(from);
      }
      return respond(403, { reason: 'Forbidden (key changed; the user has not trusted the new key yet)' });
    }
    if (!verdict.ok) return respond(403, { reason: 'Forbidden (the key does not hold this name)' });
    const lastTaken = row?.lastMessageAt ?? this.gone.get(from)?.lastMessageAt;
    if (lastTaken !== undefined && message.at <= lastTaken) return respond(200);
    await this.apply(from, message, row);
    respond(200);
  }

  private async apply(from: string, m: BuddyMessage, row: StoredBuddy | undefined): Promise<void> {
    const at = this.now();
    const base: StoredBuddy = { ...(row ?? this.gone.get(from) ?? { aor: from, createdAt: at, state: 'incoming' }), publicKey: m.publicKey, lastMessageAt: m.at, updatedAt: at };
    if (m.displayName) base.displayName = m.displayName;
    const was = row?.state;
    switch (m.type) {
      case 'request':
        if (was === 'requested' || was === 'accepted') {
          // Both asked, or they lost our answer: buddies, and they are told (again).
          await this.save({ ...base, state: 'accepted', outbox: 'accept' });
          void this.outbox.deliver(from, 'accept').finally(() => this.relationChanged(from));
          return;
        }
        await this.save({ ...base, state: 'incoming', requestNote: m.note, outbox: undefined });
        break;
      case 'accept':
        if (was !== 'requested' && was !== 'accepted') return;
        await this.save({ ...base, state: 'accepted', outbox: undefined });
        break;
      case 'decline':
        if (was !== 'requested') return;
        await this.save({ ...base, state: 'declined', outbox: undefined });
        break;
      case 'remove':
        if (row) await this.forget(from, undefined, m.at);
        return;
    }
    if (was !== this.rows.get(from)?.state) this.relationChanged(from);
  }

  /** The key holding the user's name claim, when the overlay answers soon enough. */
  private async claimOwner(aor: string): Promise<string | undefined> {
    return (await withDeadline(this.deps.overlay.lookupAor(aor), CLAIM_CHECK_TIMEOUT_MS, this.deps.timers).catch(() => undefined))?.owner;
  }

  // ---- state ----

  view(aor: string): BuddyView | undefined {
    const row = this.rows.get(aor);
    if (!row) return undefined;
    const presence: BuddyPresence = row.state === 'accepted' ? (this.live.get(aor) ?? { status: 'offline', ...(row.lastSeen ? { lastSeen: row.lastSeen } : {}) }) : { status: 'offline' };
    return {
      aor,
      ...(row.displayName ? { displayName: row.displayName } : {}),
      state: listed(row.state)!,
      ...(row.publicKey ? { fingerprint: fingerprintOf(row.publicKey) } : {}),
      ...(row.seenKey ? { keyChanged: { fingerprint: fingerprintOf(row.seenKey), seenAt: row.seenKeyAt ?? row.updatedAt } } : {}),
      ...(row.requestNote ? { requestNote: row.requestNote } : {}),
      ...(row.publicKey ? this.safetyOf(row.aor, row.publicKey) : {}),
      verified: !!row.publicKey && row.verifiedKey === row.publicKey && !row.seenKey,
      presence: { ...presence },
      unread: this.unread.get(aor) ?? 0,
      typing: this.typing.has(aor),
    };
  }

  /** The safety number with a buddy's key, computed once per key (5200 hashes each side). */
  private safetyOf(aor: string, key: string): { safetyNumber?: string } {
    const own = this.deps.identity.current;
    const ownAor = own && this.deps.overlay.ownAor();
    if (!own || !ownAor) return {};
    const cacheKey = `${key} ${aor}`;
    let number = this.safetyNumbers.get(cacheKey);
    if (!number) {
      number = safetyNumber({ publicKey: own.publicKey, aor: ownAor }, { publicKey: key, aor });
      this.safetyNumbers.set(cacheKey, number);
    }
    return { safetyNumber: number };
  }

  /**
   * Memory first, then the database: statements run in the order they are issued, so the row
   * kept on disk is always the last one written here, even when a NOTIFY and a removal cross.
   */
  private async save(row: StoredBuddy): Promise<void> {
    this.rows.set(row.aor, row);
    this.gone.delete(row.aor);
    this.emit(row.aor);
    await this.deps.repository.save(row);
  }

  /** Saves a change to a buddy still in the list; one removed meanwhile stays removed. */
  private async update(row: StoredBuddy): Promise<void> {
    if (this.rows.has(row.aor)) await this.save(row);
  }

  /** Takes the buddy off the list; `notice` is what they are still to be told. */
  private async forget(aor: string, notice?: 'decline' | 'remove', lastMessageAt = this.rows.get(aor)?.lastMessageAt): Promise<void> {
    const row = this.rows.get(aor);
    this.rows.delete(aor);
    const tombstone: StoredBuddy = {
      aor,
      state: 'removed',
      ...(row?.publicKey ? { publicKey: row.publicKey } : {}),
      ...(lastMessageAt !== undefined ? { lastMessageAt } : {}),
      ...(notice ? { outbox: notice } : {}),
      createdAt: row?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    this.gone.set(aor, tombstone);
    const removed = this.deps.repository.save(tombstone);
    this.live.delete(aor);
    this.unread.delete(aor);
    const timer = this.typing.get(aor);
    if (timer) this.deps.timers.clear(timer);
    this.typing.delete(aor);
    await removed;
    this.deps.onRemoved(aor);
    this.relationChanged(aor);
  }

  private emit(aor: string): void {
    const view = this.view(aor);
    if (view) this.deps.onChange(view);
  }

  private relationChanged(aor: string): void {
    const state = listed(this.rows.get(aor)?.state);
    for (const listener of this.relationListeners) listener(aor, state);
  }

  private rowOf(text: string): StoredBuddy | undefined {
    const aor = this.canonicalAor(text);
    return aor ? this.rows.get(aor) : undefined;
  }

  private requireOwnAor(): string {
    const own = this.deps.overlay.ownAor();
    if (!own || !this.deps.identity.current) throw new UserError('NO_IDENTITY', 'Create your identity before adding buddies.');
    return own.toLowerCase();
  }

  private requireAor(text: string): string {
    const aor = this.canonicalAor(text);
    if (!aor) throw new UserError('INVALID_URI', `"${text}" is not a user of overlay ${this.deps.overlay.overlay} (write bob or sip:bob@${this.deps.overlay.overlay}).`);
    return aor;
  }

  private requireRow(text: string): StoredBuddy {
    const aor = this.requireAor(text);
    const row = this.rows.get(aor);
    if (!row) throw new UserError('NOT_FOUND', `${aor} is not in your buddy list.`);
    return row;
  }
}

/** The state a user sees; removed buddies are not in the list. */
function listed(state: StoredBuddyState | undefined): BuddyState | undefined {
  return state === 'removed' ? undefined : state;
}
