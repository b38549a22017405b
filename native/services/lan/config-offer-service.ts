// Configuration offers on the LAN ("Share my settings with this LAN"). A user shares chosen
// settings as a document signed by their identity key, with a version that grows on every
// change; LAN nodes that say they offer one are subscribed to (event package `peerdial-config`),
// and what they send is checked: signed by the key it names, not older than what we hold.
// Accepting an offer is the user's decision, kept in settings by the signer's fingerprint;
// from then on every newer version from that signer applies by itself, until the user stops
// following it. Unsigned, tampered and otherwise-signed documents are ignored and counted.
//
// Settings kept here: `lan.sharing` (this node's offer: { version, config } or null),
// `lan.shareVersion` (the last version issued, so versions keep growing across stop/share
// and restarts), `lan.follow` (per signer fingerprint: its key, following or stopped, the
// version applied and the last offer seen). Applied values: see shared-config-settings.ts.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import {
  CONFIG_OFFER_CONTENT_TYPE,
  checkOfferedConfig,
  encodeConfigOffer,
  readConfigOffer,
  signConfigOffer,
  type ConfigOfferDocument,
} from '../../wire/lan/config-offer.js';
import { ConfigOfferNotifier } from './config-offer-notifier.js';
import { ConfigOfferWatcher, type DocumentVerdict } from './config-offer-watcher.js';
import { UserError } from '../errors.js';
import { keyFingerprint, type IdentityService } from '../identity/index.js';
import type { ConfigOfferView, LanDiscoveryMethod, LanPeerView, LanView, SharedConfig } from './lan-view.js';
import { applySharedConfig, type BootstrapTarget } from './shared-config-settings.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

const SHARING_KEY = 'lan.sharing';
const SHARE_VERSION_KEY = 'lan.shareVersion';
const FOLLOW_KEY = 'lan.follow';
/** Signers whose offers are listed at once. */
const MAX_OFFERS_LISTED = 64;
/** Offer subscriptions last this long unless told otherwise (s). */
export const DEFAULT_OFFER_EXPIRES_S = 600;

export interface ConfigOfferServiceDeps {
  stack: SipStack;
  identity: IdentityService;
  overlay: BootstrapTarget & { ownAor(): string | undefined; self?: { id: string } };
  settings: SettingsRepository;
  timers: TimerHost;
  log: Logger;
  /** The LAN peers found (mDNS, multicast REGISTER); this service subscribes to those that offer a configuration. */
  lanPeers(): LanPeerView[];
  /** Registers the listener told when lanPeers() changes. */
  onPeersChanged(listener: () => void): void;
  /** Discovery methods running. */
  methods?(): LanDiscoveryMethod[];
  onChange(view: LanView): void;
  /** Told at start and whenever this node starts or stops sharing (LAN discovery announces it: TXT `cfg`). */
  onSharingChanged?(sharing: boolean): void;
  /** How long offer subscriptions last (s); tests shorten it. */
  expiresSeconds?: number;
  now?: () => number;
  /** Applies an accepted offer's rescue policy ("help rescue sites") at once. */
  applyRescuePolicy?(policy: NonNullable<SharedConfig['rescue']>): Promise<unknown>;
}

interface SeenOffer {
  offer: ConfigOfferDocument;
  /** host:port of the node it came from. */
  source: string;
  receivedAt: number;
}

interface FollowDecision {
  key: string;
  state: 'following' | 'stopped';
  appliedVersion: number;
  /** The last offer seen from this signer, so the decision shows after a restart. */
  last: { version: number; config: SharedConfig; signerName?: string; signerAor?: string; receivedAt: number };
}

export class ConfigOfferService {
  private readonly notifier: ConfigOfferNotifier;
  private readonly watcher: ConfigOfferWatcher;
  private readonly now: () => number;
  private readonly offers = new Map<string, SeenOffer>();
  private follows: Record<string, FollowDecision> = {};
  private sharing?: { version: number; config: SharedConfig };
  private document?: string;
  /** Documents are judged one at a time, so two NOTIFYs never apply out of order. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly counters = { applied: 0, ignoredUnsigned: 0, ignoredBadSignature: 0, ignoredMalformed: 0, ignoredStale: 0, ignoredOverLimit: 0 };

  constructor(private readonly deps: ConfigOfferServiceDeps) {
    this.now = deps.now ?? Date.now;
    const expires = deps.expiresSeconds ?? DEFAULT_OFFER_EXPIRES_S;
    this.notifier = new ConfigOfferNotifier({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log.child('notifier'),
      document: () => this.document,
      ownContact: () => this.ownContact(),
      maxExpires: expires,
    });
    this.watcher = new ConfigOfferWatcher({
      stack: deps.stack,
      timers: deps.timers,
      log: deps.log.child('watcher'),
      ownUri: () => this.ownContact(),
      ownContact: () => this.ownContact(),
      expires,
      onDocument: (source, body, type) => this.serially(() => this.onDocument(source, body, type)),
      onWithdrawn: (source) => this.withdrawn(source),
    });
    deps.onPeersChanged(() => this.peersChanged());
  }

  async start(): Promise<void> {
    this.follows = (await this.deps.settings.get<Record<string, FollowDecision>>(FOLLOW_KEY)) ?? {};
    this.sharing = (await this.deps.settings.get<{ version: number; config: SharedConfig }>(SHARING_KEY)) ?? undefined;
    this.resign();
    this.deps.onSharingChanged?.(this.isSharing);
    this.watcher.start();
    this.followPeers();
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.notifier.terminateAll('deactivated'), this.watcher.stop()]);
  }

  /** True while this node offers its settings (the `offersConfig` flag LAN discovery announces). */
  get isSharing(): boolean {
    return this.sharing !== undefined;
  }

  /** The discovery side found or lost peers. */
  peersChanged(): void {
    this.followPeers();
    this.changed();
  }

  view(): LanView {
    const offers: ConfigOfferView[] = [];
    const listed = new Set<string>();
    for (const [fingerprint, seen] of this.offers) {
      listed.add(fingerprint);
      const { signer, version, config } = seen.offer;
      offers.push({
        signerFingerprint: fingerprint,
        ...(signer.name ? { signerName: signer.name } : {}),
        ...(signer.aor ? { signerAor: signer.aor } : {}),
        version,
        config,
        state: this.follows[fingerprint]?.state ?? 'available',
        receivedAt: seen.receivedAt,
      });
    }
    // Offers followed (or stopped) whose signer is not on the LAN now still show the user's decision.
    for (const [fingerprint, f] of Object.entries(this.follows)) {
      if (listed.has(fingerprint)) continue;
      offers.push({
        signerFingerprint: fingerprint,
        ...(f.last.signerName ? { signerName: f.last.signerName } : {}),
        ...(f.last.signerAor ? { signerAor: f.last.signerAor } : {}),
        version: f.last.version,
        config: f.last.config,
        state: f.state,
        receivedAt: f.last.receivedAt,
      });
    }
    offers.sort((a, b) => b.receivedAt - a.receivedAt);
    return {
      peers: this.deps.lanPeers(),
      offers,
      ...(this.sharing ? { sharing: this.sharing } : {}),
      methods: this.deps.methods?.() ?? [],
    };
  }

  /** "Share my settings with this LAN" (a new, signed version), or stop sharing (null). */
  async share(config: SharedConfig | null): Promise<LanView> {
    if (config === null) {
      if (this.sharing) {
        this.sharing = undefined;
        await this.deps.settings.set(SHARING_KEY, null);
        this.resign();
        this.deps.onSharingChanged?.(false);
        await this.notifier.terminateAll('noresource');
      }
      this.changed();
      return this.view();
    }
    if (!this.deps.identity.signingKey || !this.deps.identity.current) throw new UserError('NO_IDENTITY', 'Create your identity first: a shared configuration is signed by it.');
    const checked = checkOfferedConfig(config);
    if (typeof checked === 'string') throw new UserError('INVALID_ARGUMENT', `These settings cannot be shared: ${checked}.`);
    if (Object.keys(checked).length === 0) throw new UserError('INVALID_ARGUMENT', 'Choose at least one setting to share.');
    const version = ((await this.deps.settings.get<number>(SHARE_VERSION_KEY)) ?? 0) + 1;
    await this.deps.settings.set(SHARE_VERSION_KEY, version);
    this.sharing = { version, config: checked };
    await this.deps.settings.set(SHARING_KEY, this.sharing);
    this.resign();
    this.deps.onSharingChanged?.(true);
    await this.notifier.notifyAll();
    this.changed();
    return this.view();
  }

  /** The user accepts the signer's offer: it applies now, and later versions apply by themselves. */
  async acceptOffer(signerFingerprint: string): Promise<LanView> {
    await this.serially(async () => {
      const seen = this.offers.get(signerFingerprint);
      const decided = this.follows[signerFingerprint];
      if (!seen && !decided) throw new UserError('NOT_FOUND', 'No configuration offer from that signer is known on this LAN.');
      const last = seen ? this.lastOf(seen) : decided!.last;
      const follow: FollowDecision = { key: seen ? seen.offer.signer.key : decided!.key, state: 'following', appliedVersion: decided?.appliedVersion ?? 0, last };
      this.follows = { ...this.follows, [signerFingerprint]: follow };
      await this.apply(signerFingerprint, follow, last.version, last.config);
      await this.saveFollows();
    });
    this.changed();
    return this.view();
  }

  /** Later versions from the signer no longer apply; what was applied stays. */
  async stopFollowing(signerFingerprint: string): Promise<LanView> {
    await this.serially(async () => {
      const decided = this.follows[signerFingerprint];
      if (!decided || decided.state !== 'following') throw new UserError('INVALID_STATE', 'That offer is not being followed.');
      this.follows = { ...this.follows, [signerFingerprint]: { ...decided, state: 'stopped' } };
      await this.saveFollows();
    });
    this.changed();
    return this.view();
  }

  /** A SUBSCRIBE with `Event: peerdial-config` (dispatched by the presence service, which holds the method). */
  onSubscribe(incoming: IncomingRequest): void {
    this.notifier.onSubscribe(incoming);
  }

  /** A NOTIFY with `Event: peerdial-config` (dispatched by the call service, which holds the method). */
  onNotify(incoming: IncomingRequest): void {
    void this.watcher.onNotify(incoming).catch((error: unknown) => {
      this.deps.log.warn('configuration NOTIFY failed', { error: String(error) });
      incoming.respond(500);
    });
  }

  private followPeers(): void {
    const self = this.ownAddress();
    const selfId = this.deps.overlay.self?.id;
    const wanted = this.deps
      .lanPeers()
      .filter((p) => p.offersConfig && `${p.host}:${p.port}` !== self && p.nodeId !== selfId)
      .map((p) => {
        const host = p.host.includes(':') ? `[${p.host}]` : p.host;
        return { source: `${host}:${p.port}`, uri: `sip:${host}:${p.port}` };
      });
    this.watcher.follow(wanted);
  }

  private async onDocument(source: string, body: string, contentType: string): Promise<DocumentVerdict> {
    if (contentType !== CONFIG_OFFER_CONTENT_TYPE) {
      this.counters.ignoredMalformed++;
      return { status: 415, reason: `Unsupported Media Type (expected ${CONFIG_OFFER_CONTENT_TYPE})` };
    }
    const reading = readConfigOffer(body);
    switch (reading.kind) {
      case 'malformed':
        this.counters.ignoredMalformed++;
        this.deps.log.info('configuration offer ignored: malformed', { source, reason: reading.reason });
        return { status: 400, reason: `Bad Request (${reading.reason})` };
      case 'unsigned':
        this.counters.ignoredUnsigned++;
        this.deps.log.info('configuration offer ignored: unsigned', { source });
        return { status: 403, reason: 'Forbidden (unsigned configuration offer)' };
      case 'bad-signature':
        this.counters.ignoredBadSignature++;
        this.deps.log.info('configuration offer ignored: not signed by the key it names', { source });
        return { status: 403, reason: 'Forbidden (configuration offer not signed by its signer)' };
    }
    const offer = reading.offer;
    const fingerprint = keyFingerprint(Buffer.from(offer.signer.key, 'base64url'));
    const known = this.offers.get(fingerprint);
    const followed = this.follows[fingerprint];
    const newest = Math.max(known?.offer.version ?? 0, followed?.appliedVersion ?? 0);
    if (offer.version < newest || (offer.version === newest && known)) {
      if (offer.version < newest) this.counters.ignoredStale++;
      if (known && known.offer.version === offer.version) known.source = source;
      return { status: 200 };
    }
    if (!known && this.offers.size >= MAX_OFFERS_LISTED) {
      // A LAN is a few signers; a node making up keys by the hundred gets no more room.
      this.counters.ignoredOverLimit++;
      return { status: 200 };
    }
    const seen: SeenOffer = { offer, source, receivedAt: this.now() };
    this.offers.set(fingerprint, seen);
    if (followed) {
      const last = this.lastOf(seen);
      const next: FollowDecision = { ...followed, last };
      this.follows = { ...this.follows, [fingerprint]: next };
      if (followed.state === 'following') await this.apply(fingerprint, next, offer.version, offer.config);
      await this.saveFollows();
    }
    this.changed();
    return { status: 200 };
  }

  /** Applies a version newer than the one last applied from this signer. */
  private async apply(fingerprint: string, follow: FollowDecision, version: number, config: SharedConfig): Promise<void> {
    if (version <= follow.appliedVersion) return;
    const changed = await applySharedConfig(config, { settings: this.deps.settings, overlay: this.deps.overlay, log: this.deps.log, applyRescuePolicy: this.deps.applyRescuePolicy });
    follow.appliedVersion = version;
    this.counters.applied++;
    this.deps.log.info('configuration offer applied', { signer: fingerprint, version, changed });
  }

  private withdrawn(source: string): void {
    let any = false;
    for (const [fingerprint, seen] of this.offers) {
      if (seen.source !== source) continue;
      this.offers.delete(fingerprint);
      any = true;
    }
    if (any) this.changed();
  }

  private lastOf(seen: SeenOffer): FollowDecision['last'] {
    const { signer, version, config } = seen.offer;
    return { version, config, ...(signer.name ? { signerName: signer.name } : {}), ...(signer.aor ? { signerAor: signer.aor } : {}), receivedAt: seen.receivedAt };
  }

  private saveFollows(): Promise<void> {
    return this.deps.settings.set(FOLLOW_KEY, this.follows);
  }

  private resign(): void {
    const key = this.deps.identity.signingKey;
    const identity = this.deps.identity.current;
    if (!this.sharing || !key || !identity) {
      this.document = undefined;
      return;
    }
    const aor = this.deps.overlay.ownAor();
    const offer = signConfigOffer(
      { signer: { key: identity.publicKey, name: identity.displayName, ...(aor ? { aor } : {}) }, version: this.sharing.version, issuedAt: this.now(), config: this.sharing.config },
      key,
    );
    this.document = encodeConfigOffer(offer);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private changed(): void {
    this.deps.onChange(this.view());
  }

  private ownAddress(): string | undefined {
    if (!this.deps.stack.started) return undefined;
    const host = this.deps.stack.host.includes(':') ? `[${this.deps.stack.host}]` : this.deps.stack.host;
    return `${host}:${this.deps.stack.port}`;
  }

  /** sip:USER@HOST:PORT once an identity exists, sip:HOST:PORT before. */
  private ownContact(): string | undefined {
    const address = this.ownAddress();
    if (!address) return undefined;
    const identity = this.deps.identity.current;
    return identity ? `sip:${identity.userName}@${address}` : `sip:${address}`;
  }
}
