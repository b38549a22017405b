// Strangers, as in Signal: a stranger's first message waits in Requests until the user accepts,
// deletes or blocks it; calls from strangers follow the user's caller policy; a blocked identity
// is refused everything without being told. A stranger is anyone not in the buddy list (or who
// only asked to be in it); their presence was never shown (presence-notifier: buddies only).
import type { MessageRepository, RequestLimits, StoredMessage } from '../../storage/repositories/message-repository.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { conversationKey } from '../../wire/sip/uri.js';
import { UserError } from '../errors.js';
import type { BuddyService } from '../presence/index.js';
import { STRANGER_CALLS, type BlockedView, type StrangerCalls, type StrangerSettings } from './strangers-view.js';

/** A request holds at most 20 messages, and at most 100 wait at once: a flood fills no disk. */
export const REQUEST_LIMITS: RequestLimits = { perRequest: 20, requests: 100 };

export const DEFAULT_STRANGER_SETTINGS: StrangerSettings = { strangerCalls: 'ring', strangerMailbox: true };
const SETTINGS_KEY = 'strangers';

export type Relation = 'buddy' | 'stranger' | 'blocked';

export interface PendingRequest {
  peer: string;
  lastMessage: StoredMessage;
  messageCount: number;
  createdAt: number;
  updatedAt: number;
  /** Messages past the request's cap, dropped. */
  dropped: number;
}

export interface StrangersServiceDeps {
  messages: MessageRepository;
  settings: SettingsRepository;
  buddies: Pick<BuddyService, 'stateOf' | 'block' | 'remove' | 'list' | 'canonicalAor'>;
  /** The list of requests changed (one came, or the user answered one). */
  onRequestsChanged(): void;
  onSettingsChanged(settings: StrangerSettings): void;
  /** Messages of an accepted request, to show as the conversation's. */
  onAccepted(peer: string): void;
  now?: () => number;
}

export class StrangersService {
  private current: StrangerSettings = { ...DEFAULT_STRANGER_SETTINGS };
  private readonly now: () => number;

  constructor(private readonly deps: StrangersServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async load(): Promise<void> {
    const saved = await this.deps.settings.get<Partial<StrangerSettings>>(SETTINGS_KEY);
    this.current = { ...DEFAULT_STRANGER_SETTINGS, ...validSettings(saved ?? {}) };
  }

  get settings(): StrangerSettings {
    return { ...this.current };
  }

  async configure(change: Partial<StrangerSettings>): Promise<StrangerSettings> {
    if (change.strangerCalls !== undefined && !STRANGER_CALLS.includes(change.strangerCalls)) {
      throw new UserError('INVALID_ARGUMENT', `strangerCalls must be one of ${STRANGER_CALLS.join(', ')}.`);
    }
    if (change.strangerMailbox !== undefined && typeof change.strangerMailbox !== 'boolean') throw new UserError('INVALID_ARGUMENT', 'strangerMailbox must be true or false.');
    this.current = { ...this.current, ...validSettings(change) };
    await this.deps.settings.set(SETTINGS_KEY, this.current, this.now());
    this.deps.onSettingsChanged(this.settings);
    return this.settings;
  }

  /**
   * Buddies are whoever the user asked, accepted or was declined by; someone who only asked us
   * (state incoming) is still a stranger. Any spelling of an overlay AOR finds the same row.
   */
  relation(peer: string): Relation {
    const state = this.deps.buddies.stateOf(peer);
    if (state === 'blocked') return 'blocked';
    return state === undefined || state === 'incoming' ? 'stranger' : 'buddy';
  }

  /** The caller policy for `peer`: buddies always ring, blocked callers are declined. */
  callPolicy(peer: string): StrangerCalls {
    const relation = this.relation(peer);
    if (relation === 'blocked') return 'reject';
    return relation === 'buddy' ? 'ring' : this.current.strangerCalls;
  }

  async requests(): Promise<PendingRequest[]> {
    return this.deps.messages.requests();
  }

  /** The conversation moves to the normal list; presence still needs the user to add them as a buddy. */
  async accept(text: string): Promise<void> {
    const peer = this.peerOf(text);
    if (!(await this.deps.messages.acceptRequest(peer))) throw new UserError('NOT_FOUND', `No message request from ${peer}.`);
    this.deps.onRequestsChanged();
    this.deps.onAccepted(peer);
  }

  /** The request and its messages go; a later message from them opens a new request. */
  async delete(text: string): Promise<void> {
    const peer = this.peerOf(text);
    if (!(await this.deps.messages.deleteRequest(peer))) throw new UserError('NOT_FOUND', `No message request from ${peer}.`);
    this.deps.onRequestsChanged();
  }

  /** Blocks an identity (from a request, a conversation or a call); a pending request from them goes. */
  async block(text: string): Promise<BlockedView> {
    const view = await this.deps.buddies.block(text);
    if (await this.deps.messages.deleteRequest(this.peerOf(view.aor))) this.deps.onRequestsChanged();
    return { aor: view.aor, ...(view.displayName ? { displayName: view.displayName } : {}) };
  }

  /** Lifts a block: they are a stranger again (not a buddy: that needs a new request). */
  async unblock(text: string): Promise<void> {
    if (this.relation(text) !== 'blocked') throw new UserError('NOT_FOUND', `${text} is not blocked.`);
    await this.deps.buddies.remove(text);
  }

  async blocked(): Promise<BlockedView[]> {
    return (await this.deps.buddies.list())
      .filter((b) => b.state === 'blocked')
      .map((b) => ({ aor: b.aor, ...(b.displayName ? { displayName: b.displayName } : {}) }));
  }

  /** Requests come from users of our overlay only: `bob` and any spelling of sip:bob@OVERLAY name one. */
  private peerOf(text: string): string {
    const peer = this.deps.buddies.canonicalAor(text) ?? conversationKey(text);
    if (!peer) throw new UserError('INVALID_URI', `"${text}" is not a SIP address.`);
    return peer;
  }
}

function validSettings(input: Partial<StrangerSettings>): Partial<StrangerSettings> {
  const out: Partial<StrangerSettings> = {};
  if (STRANGER_CALLS.includes(input.strangerCalls as StrangerCalls)) out.strangerCalls = input.strangerCalls;
  if (typeof input.strangerMailbox === 'boolean') out.strangerMailbox = input.strangerMailbox;
  return out;
}
