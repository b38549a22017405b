// Presence: the user's own status and note (kept in settings, signed into a PIDF document for
// every buddy who watches), and the buddies' presence, followed by subscription. The SIP work
// is the notifier's (presence-notifier.ts) and the watcher's (presence-watcher.ts).
import type { Logger } from '../../log.js';
import { DEFAULT_EXPIRES_S } from '../../proto/sip/subscription-timing.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { buildPidf, MAX_NOTE_LENGTH } from '../../wire/presence/pidf.js';
import { signPayload } from '../../wire/presence/signature.js';
import type { BuddyService } from './buddy-service.js';
import type { OwnPresenceView } from './buddy-view.js';
import { UserError } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import { PresenceNotifier } from './presence-notifier.js';
import { PresenceWatcher } from './presence-watcher.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

const SETTINGS_KEY = 'presence.own';
const STATUSES = ['available', 'away', 'busy'] as const;

export interface PresenceServiceDeps {
  stack: SipStack;
  identity: IdentityService;
  buddies: BuddyService;
  overlay: { ownAor(): string | undefined; lookupAor(aor: string): Promise<{ contacts: string[] }> };
  settings: SettingsRepository;
  timers: TimerHost;
  log: Logger;
  onChange(view: OwnPresenceView): void;
  /** Subscription duration asked for and granted, in seconds (default 120; tests shorten it). */
  expiresSeconds?: number;
  now?: () => number;
  /** SUBSCRIBEs for `Event: peerdial-config` go to the LAN offer service (one handler per method in the stack). */
  configSubscribe?(incoming: IncomingRequest): void;
  /** SUBSCRIBEs of `Event: message-summary` (a phone's message-waiting lamp, RFC 3842) go to the phones. */
  messageSummarySubscribe?(incoming: IncomingRequest): void;
}

interface Stored extends OwnPresenceView {
  /** The status to go back to when auto-away ends. */
  before?: OwnPresenceView['status'];
}

export class PresenceService {
  private own: Stored = { status: 'available', autoAway: false, awayAfterMinutes: 10 };
  private readonly notifier: PresenceNotifier;
  readonly watcher: PresenceWatcher;
  private readonly now: () => number;
  private stamp = 0;
  private document?: { body: string; signature: string };
  private closing = false;

  constructor(private readonly deps: PresenceServiceDeps) {
    this.now = deps.now ?? Date.now;
    const expires = deps.expiresSeconds ?? DEFAULT_EXPIRES_S;
    const ownAor = () => deps.overlay.ownAor()?.toLowerCase();
    const ownContact = () => this.ownContact();
    this.notifier = new PresenceNotifier({
      stack: deps.stack,
      buddies: deps.buddies,
      timers: deps.timers,
      log: deps.log.child('notifier'),
      document: () => {
        if (!this.document) this.resign();
        return this.document;
      },
      ownAor,
      ownContact,
      maxExpires: expires,
      onSubscribed: (aor) => this.watcher.watch(aor, true),
    });
    this.watcher = new PresenceWatcher({
      stack: deps.stack,
      buddies: deps.buddies,
      lookupAor: (aor) => deps.overlay.lookupAor(aor),
      timers: deps.timers,
      log: deps.log.child('watcher'),
      ownAor,
      ownContact,
      signingKey: () => deps.identity.signingKey,
      expires,
    });
    deps.buddies.onRelation((aor, state) => {
      const trusted = state === 'accepted' && deps.buddies.trustedBuddies().includes(aor);
      if (trusted) return this.watcher.watch(aor, true);
      this.watcher.unwatch(aor);
      void this.notifier.terminate(aor, 'rejected');
    });
  }

  async start(): Promise<void> {
    this.closing = false;
    const saved = await this.deps.settings.get<Stored>(SETTINGS_KEY);
    if (saved && STATUSES.includes(saved.status)) this.own = { ...this.own, ...saved };
    this.resign();
    this.deps.stack.handle('SUBSCRIBE', (incoming) => {
      const event = String(incoming.request.headers.event ?? '').split(';')[0].trim().toLowerCase();
      if (event === 'peerdial-config' && this.deps.configSubscribe) return this.deps.configSubscribe(incoming);
      if (event === 'message-summary' && this.deps.messageSummarySubscribe) return this.deps.messageSummarySubscribe(incoming);
      return this.notifier.onSubscribe(incoming);
    });
    this.watcher.start();
    for (const aor of this.deps.buddies.trustedBuddies()) this.watcher.watch(aor);
  }

  /** Tells every watcher we are gone (a final NOTIFY, closed) and unsubscribes from every buddy. */
  async stop(): Promise<void> {
    this.closing = true;
    this.resign();
    await Promise.allSettled([this.notifier.terminate(undefined, 'noresource'), this.watcher.stop()]);
  }

  get(): OwnPresenceView {
    const { status, note, autoAway, awayAfterMinutes } = this.own;
    return { status, ...(note ? { note } : {}), autoAway, awayAfterMinutes };
  }

  async set(p: { status?: OwnPresenceView['status']; note?: string; awayAfterMinutes?: number }): Promise<OwnPresenceView> {
    if (p.status !== undefined && !STATUSES.includes(p.status)) throw new UserError('INVALID_ARGUMENT', 'The status must be available, away or busy.');
    if (p.note !== undefined && (typeof p.note !== 'string' || p.note.length > MAX_NOTE_LENGTH)) {
      throw new UserError('INVALID_ARGUMENT', `The note must be text of at most ${MAX_NOTE_LENGTH} characters.`);
    }
    if (p.awayAfterMinutes !== undefined && (!Number.isInteger(p.awayAfterMinutes) || p.awayAfterMinutes < 0 || p.awayAfterMinutes > 1440)) {
      throw new UserError('INVALID_ARGUMENT', 'The idle time must be a whole number of minutes from 0 (never) to 1440.');
    }
    const next: Stored = { ...this.own };
    if (p.status !== undefined) {
      next.status = p.status;
      next.autoAway = false;
      next.before = undefined;
    }
    if (p.note !== undefined) next.note = p.note.trim() || undefined;
    if (p.awayAfterMinutes !== undefined) next.awayAfterMinutes = p.awayAfterMinutes;
    return this.apply(next);
  }

  /** The UI saw the user idle (past awayAfterMinutes) or back. */
  async activity(idle: boolean): Promise<OwnPresenceView> {
    const next: Stored = { ...this.own };
    if (idle && next.awayAfterMinutes > 0 && next.status === 'available') {
      next.before = next.status;
      next.status = 'away';
      next.autoAway = true;
    } else if (!idle && next.autoAway) {
      next.status = next.before ?? 'available';
      next.before = undefined;
      next.autoAway = false;
    } else {
      return this.get();
    }
    return this.apply(next);
  }

  /** A NOTIFY for `Event: presence`: answers it and returns true; false for any other event. */
  onNotify(incoming: IncomingRequest): boolean {
    const event = String(incoming.request.headers.event ?? '').split(';')[0].trim().toLowerCase();
    if (event !== 'presence') return false;
    void this.watcher.onNotify(incoming).catch((error: unknown) => {
      this.deps.log.warn('presence NOTIFY failed', { error: String(error) });
      incoming.respond(500);
    });
    return true;
  }

  get watchers(): number {
    return this.notifier.count;
  }

  private async apply(next: Stored): Promise<OwnPresenceView> {
    this.own = next;
    await this.deps.settings.set(SETTINGS_KEY, next);
    this.resign();
    const view = this.get();
    this.deps.onChange(view);
    await this.notifier.notifyAll();
    return view;
  }

  /** Signs the current document; its timestamp grows with every document, across restarts too (it is the clock). */
  private resign(): void {
    const aor = this.deps.overlay.ownAor()?.toLowerCase();
    const key = this.deps.identity.signingKey;
    if (!aor || !key) {
      this.document = undefined;
      return;
    }
    this.stamp = Math.max(this.now(), this.stamp + 1);
    const body = buildPidf({ entity: aor, status: this.closing ? 'offline' : this.own.status, note: this.own.note, at: this.stamp });
    this.document = { body, signature: signPayload('peerdial-presence-v1', Buffer.from(body, 'utf8'), key) };
  }

  private ownContact(): string | undefined {
    const identity = this.deps.identity.current;
    if (!identity || !this.deps.stack.started) return undefined;
    return this.deps.stack.contactFor(identity.userName);
  }
}
