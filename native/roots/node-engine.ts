// The composition root: builds every service in order, starts and supervises them, and
// stops them in reverse. Nothing else wires services together.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeStatus } from '../control/api.js';
import { ControlApi } from '../control/control-api.js';
import { EventLog } from '../control/event-log.js';
import { WsControlAdapter } from '../control/ws-adapter.js';
import { createLogger, type Logger } from '../log.js';
import { IdentityService, type KeyProtector } from '../services/identity/index.js';
import { ImService, MailboxService, VoicemailService } from '../services/im/index.js';
import { DhtService, type LocationMode } from '../services/dht/index.js';
import { startMainlineDht } from '../transport/mainline-dht.js';
import { BuddyService, PresenceService } from '../services/presence/index.js';
import { ConfigOfferService, type LanPeerView, LanDiscoveryService } from '../services/lan/index.js';
import { BuddyRepository } from '../storage/repositories/buddy-repository.js';
import { OverlayService } from '../services/overlay/index.js';
import type { ChordConfig } from '../proto/overlay/chord-node.js';
import { UserAudio, CallService, MediaSession, WavFileSource, WavRecorder, type AudioCodecName } from '../services/calls/index.js';
export { OFFERED_CODECS, type AudioCodecName } from '../services/calls/index.js';
import { CallRepository } from '../storage/repositories/call-repository.js';
import { RescueServer, type RescueSettings } from '../services/rescue/index.js';

// What the CLI needs from below the engine, so it imports the composition root alone.
export { DEFAULT_CHORD_CONFIG, type ChordConfig } from '../proto/overlay/chord-node.js';
export { MAX_DIFFICULTY } from '../wire/overlay/id-puzzle.js';
export { isHostPort } from '../services/overlay/index.js';
export type { LocationMode } from '../services/dht/index.js';
export { parseTurnUrl, type TurnServerUrl } from '../wire/stun/turn-url.js';
export { MIN_PASSPHRASE_LENGTH } from '../services/identity/index.js';
export { parseRequestLimits, type RequestLimitsConfig } from '../proto/sip/request-limits.js';
import type { RequestLimitsConfig } from '../proto/sip/request-limits.js';
import type { TurnServerUrl } from '../wire/stun/turn-url.js';
import { makeSelfSignedCertificate } from '../wire/crypto/certificate.js';
import { signEd25519 } from '../wire/crypto/signature.js';
import { overlayStatusView } from '../control/overlay-view.js';
import { OverlayRepository } from '../storage/repositories/overlay-repository.js';
import { PhoneRepository } from '../storage/repositories/phone-repository.js';
import { PhonesService } from '../services/phones/index.js';
import { advertisedAddress, SipStack, USER_AGENT } from '../services/sip/index.js';
import { allocateLeg, NatService, RelayFinder, RelayService, type RelaySettings } from '../services/nat/index.js';
import type { CallSocket, RelayLeg } from '../services/calls/index.js';
import { Supervisor } from '../services/supervisor.js';
import { REQUEST_LIMITS, StrangersService } from '../services/strangers/index.js';
import { DataDirLock } from '../storage/data-dir-lock.js';
import { Database } from '../storage/db.js';
import { IdentityRepository } from '../storage/repositories/identity-repository.js';
import { MessageRepository, type StoredMessage } from '../storage/repositories/message-repository.js';
import { SettingsRepository } from '../storage/repositories/settings-repository.js';
import { gateway4async } from 'default-gateway';
import { realTimers } from '../transport/clock.js';
import { withDeadline } from '../proto/sip/timers.js';
import { UiServer } from '../transport/ui-server.js';

import { DEFAULT_OVERLAY, VERSION } from './defaults.js';

export interface EngineOptions {
  dataDir: string;
  /** SIP port for UDP and TCP; 0 = any free port; undefined = 5060 when free, else any. */
  sipPort?: number;
  /** SIP over TLS port; by default 5061 beside SIP on 5060 (when free), else any free port. */
  tlsPort?: number;
  /** Address the SIP sockets bind to; default 0.0.0.0. */
  bind?: string;
  /** Serve the UI in a browser (headless face); the Electron shell does not need it. */
  serveUi?: boolean;
  /** UI port on 127.0.0.1; undefined = the port used last time if free, else any. */
  uiPort?: number;
  /** Creates the identity without the first-run screen. */
  user?: { userName: string; displayName?: string };
  /** The overlay's name: the domain of AORs (sip:alice@NAME). Default `peerdial`. */
  overlay?: string;
  /** host:port of overlay members to join through. */
  bootstrap?: string[];
  /** Attach to the first bootstrap member as a client instead of joining the ring (as role 'client'). */
  client?: boolean;
  /** member, client, or auto (default): a member unless the NAT check finds others cannot reach this node. */
  role?: 'member' | 'client' | 'auto';
  /** --member-uptime: an auto node others can reach joins the ring after this long up (default 60). */
  memberUptimeSeconds?: number;
  /** "Ask my router to open a port" from the command line (applied and kept); absent: as last saved, on at first. */
  portMapping?: boolean;
  /** A member carries at most this many clients' signalling (default 5,000). */
  maxClients?: number;
  /** Requests a second one address may send the registrar and proxy (0: no limit; default 100). */
  sipRateLimit?: number;
  /** Per-source limits on every SIP request class (--sip-method-limits; proto/sip/request-limits.ts for the defaults). */
  requestLimits?: Partial<RequestLimitsConfig>;
  /** Stream connections one address may open to this node at once (--tcp-per-address; default 64). */
  maxConnectionsPerAddress?: number;
  /** Stream connections at once (default 1,000; tests lower it). */
  maxConnections?: number;
  /** A stream connection idle this long is closed (--tcp-idle-seconds; default 120 s). */
  connectionIdleMs?: number;
  /** A connection a peer opened and sent nothing whole on this long is closed (default 10 s; tests shorten it). */
  firstMessageMs?: number;
  /** Texts stored per sender (--message-sender-limit; default 2 a second after 30; null: no limit). */
  messageSenderLimit?: { perSecond: number; burst: number } | null;
  /** --farm (true) / --no-farm (false): be a server of the LAN's farm (kept for next time); absent: as last saved. */
  farm?: boolean;
  /** A second address of this host: the STUN server answers RFC 5780 CHANGE-REQUEST from it. */
  stunOtherAddress?: string;
  /** Chord timing knobs (tests shorten them). */
  overlayConfig?: Partial<ChordConfig>;
  /** How often this user's binding is refreshed in the overlay. */
  registrationRefreshMs?: number;
  rendererDir?: string;
  log?: Logger;
  /** Answer incoming calls after the first ring. */
  autoAnswer?: boolean;
  /** The codecs calls offer and take, most preferred first (--codecs). */
  codecs?: AudioCodecName[];
  /** Keeps the identity's private keys encrypted on disk under this secret (--key-passphrase-file; the desktop app's keychain secret). */
  keyProtector?: KeyProtector;
  /**
   * Benchmarks only (no CLI flag, no setting): calls between Peerdial users go unencrypted, to
   * measure what encryption adds to call setup. Both ends must have it.
   */
  plainCallsForBenchmark?: boolean;
  /** A WAV file that is the microphone of every call (played from its start in each). */
  playFile?: string;
  /** A WAV file that records everything heard in calls. */
  recordFile?: string;
  /** RTP ports, even and odd pairs, e.g. [20000, 20999]. */
  rtpPorts?: [number, number];
  /** A call whose peer sends nothing (RTP nor RTCP) for this long is ended as lost (default 30 s; tests shorten it). */
  mediaSilenceTimeoutMs?: number;
  /** RFC 4028 session timers: the interval asked for and the least taken (1800 and 90 s; tests shorten them). */
  sessionExpiresS?: number;
  minSessionExpiresS?: number;
  /** How often the offline store is polled for messages kept for this user (default 30 s; tests shorten it). */
  mailboxPollMs?: number;
  /** How long presence subscriptions last, in seconds (default 120); a dead buddy shows offline within offlineBoundMs() of it. */
  presenceExpiresSeconds?: number;
  /** Find LAN peers by DNS-SD over mDNS, and be found (default on). */
  mdns?: boolean;
  /** Find the overlay through the BitTorrent mainline DHT and announce this member there; kept as the user's choice. Unset: the saved choice, else `dhtByDefault`. */
  dht?: boolean;
  /** The DHT's default before the user chose (off for the headless node; the desktop app turns it on). */
  dhtByDefault?: boolean;
  /** DHT nodes (HOST:PORT) to start from instead of the public routers: a private DHT. */
  dhtBootstrap?: string[];
  /** The DHT's UDP port (default: any free one). */
  dhtPort?: number;
  /** --location: where users' bindings are kept and looked for: the ring, the DHT (BEP 44), or both (default). */
  location?: LocationMode;
  /** Find LAN peers by the SIP multicast REGISTER to 224.0.1.75:5060, and answer theirs (default on). */
  multicastRegister?: boolean;
  /** LAN peers found by a discovery outside the engine (tests inject them), and how to hear of changes. */
  lanPeers?: () => LanPeerView[];
  onLanPeersChanged?: (listener: () => void) => void;
  /** How long configuration-offer subscriptions last, in seconds (default 600). */
  configOfferExpiresSeconds?: number;
  /** "Help rescue sites" settings from the command line (applied and kept); absent: as last saved. */
  rescue?: Partial<RescueSettings>;
  /** "Relay calls for others" settings from the command line (applied and kept); absent: as last saved. */
  relay?: Partial<RelaySettings>;
  /** The relay's TURN port (default any free port). */
  relayPort?: number;
  /** --turn: the user's own TURN server, used by every call. */
  turn?: TurnServerUrl;
  /** The rescue server's HTTP port (default any free port). */
  rescuePort?: number;
  /** HTTPS port for sites that trust this node (trusted rescue). */
  rescueHttpsPort?: number;
  /** The URL origins redirect users to, when not http://ADVERTISED-ADDRESS:PORT. */
  rescueUrl?: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** Settings key of "Ask my router to open a port". */
/** "Find Peerdial users through the BitTorrent DHT". */
const DHT_ENABLED_KEY = 'dht.enabled';
/** Settings → Calls, "Allow unencrypted calls with phones". */
const UNENCRYPTED_PHONES_KEY = 'calls.allowUnencryptedPhones';
const PORT_MAPPING_KEY = 'nat.portMapping';
/** dist/renderer, from either native/roots/node-engine.ts (tsx) or dist/native/roots/node-engine.js. */
export const DEFAULT_RENDERER_DIR = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../renderer' : '../../dist/renderer');

/** Only a ring member with a public address (no NAT between it and the members) relays for others. */
function relayEligibility(nat: NatService, overlayRole: string): { ok: boolean; reason: string } {
  const view = nat.view();
  if (overlayRole !== 'member' || view.role !== 'member') return { ok: false, reason: 'Only members of the ring relay calls; this node is a client.' };
  if (view.behaviour?.mapping !== 'no-nat') return { ok: false, reason: view.behaviour ? 'Behind a NAT, a relay would give others an address they cannot reach.' : 'Waiting for the NAT check.' };
  return { ok: true, reason: '' };
}

function isLoopback(bind: string): boolean {
  return bind.startsWith('127.') || bind === '::1';
}

export class Engine {
  readonly api: ControlApi;
  /** Set once built (after the constructor, to keep its parameter list as it was). */
  buddies!: BuddyService;
  presence!: PresenceService;
  lan!: LanDiscoveryService;
  lanOffers!: ConfigOfferService;
  rescue!: RescueServer;
  phones!: PhonesService;
  mailbox!: MailboxService;
  voicemail!: VoicemailService;
  dht!: DhtService;
  private ui?: UiServer;
  private stopped = false;

  private constructor(
    readonly options: EngineOptions,
    private readonly supervisor: Supervisor,
    readonly sip: SipStack,
    readonly identity: IdentityService,
    readonly im: ImService,
    readonly overlay: OverlayService,
    readonly calls: CallService,
    /** The microphone and speaker of the UI, for the control adapters' audio frames. */
    readonly audio: UserAudio,
    api: ControlApi,
    private readonly startedAt: number,
  ) {
    this.api = api;
  }

  static async start(options: EngineOptions): Promise<Engine> {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    // Before the database opens: a second node on this dir stops here with one sentence.
    const lock = DataDirLock.acquire(options.dataDir);
    try {
      return await Engine.startLocked(options, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private static async startLocked(options: EngineOptions, lock: DataDirLock): Promise<Engine> {
    const log = options.log ?? createLogger();
    const startedAt = Date.now();
    const built: { engine?: Engine } = {};

    // Services report into the event log the control API serves.
    const events = new EventLog();
    // node.status follows every change that alters it, so a UI needs no polling.
    const publishStatus = () => {
      if (built.engine) events.publish('node.status', built.engine.status());
    };
    const supervisor = new Supervisor({
      timers: realTimers,
      onState: (view) => {
        events.publish('service.state', view);
        publishStatus();
      },
    });

    const db = await Database.open(path.join(options.dataDir, 'peerdial.sqlite3'));
    const settings = new SettingsRepository(db);
    const identity = new IdentityService(
      new IdentityRepository(db),
      (created) => {
        events.publish('identity.created', created);
        publishStatus();
        void overlay.register();
        nat.attachNow();
      },
      options.keyProtector,
    );
    try {
      await identity.load();
    } catch (error) {
      await db.close();
      throw error;
    }
    const bind = options.bind ?? '0.0.0.0';
    // A certificate of this run's own: its fingerprint travels in our signed binding records,
    // so peers pin it without a CA (docs/protocol.md, "SIP over TLS").
    const tls = await makeSelfSignedCertificate(`peerdial-node-${process.pid}`);
    // A limit met shows in node.status within a second, however many come.
    let limitPublishPending = false;
    const sip = new SipStack({
      bind,
      port: options.sipPort,
      tls,
      tlsPort: options.tlsPort,
      advertisedHost: advertisedAddress(bind),
      timers: realTimers,
      log: log.child('sip'),
      onFailure: (error) => supervisor.reportFailure('sip', error),
      requestLimits: options.requestLimits,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress,
      maxConnections: options.maxConnections,
      connectionIdleMs: options.connectionIdleMs,
      firstMessageMs: options.firstMessageMs,
      onLimited: () => {
        if (limitPublishPending) return;
        limitPublishPending = true;
        realTimers.set(1_000, () => {
          limitPublishPending = false;
          publishStatus();
        });
      },
    });
    const overlayRepository = new OverlayRepository(db);
    const roleOption = options.client ? 'client' : (options.role ?? 'auto');
    // overlay.changed at most every 250 ms: routing state can change many times a second.
    let overlayChangePending = false;
    // The DHT publishes this user's bindings when they change; it is made after the overlay.
    let locationChanged = (): void => undefined;
    const overlay = new OverlayService({
      stack: sip,
      identity,
      repository: overlayRepository,
      settings,
      // An overlay name from an accepted LAN configuration offer applies from the next start on.
      overlay: options.overlay ?? (await settings.get<string>('overlay.name')) ?? DEFAULT_OVERLAY,
      bootstrap: options.bootstrap ?? [],
      role: roleOption === 'client' ? 'client' : 'member',
      beforeJoin: roleOption === 'auto' ? (): Promise<void> => nat.decideBeforeJoin() : undefined,
      timers: realTimers,
      log: log.child('overlay'),
      config: options.overlayConfig,
      refreshMs: options.registrationRefreshMs,
      location: options.location,
      onChange: () => {
        locationChanged();
        if (overlayChangePending) return;
        overlayChangePending = true;
        realTimers.set(250, () => {
          overlayChangePending = false;
          events.publish('overlay.changed', overlayStatusView(overlay));
        });
      },
    });
    // Peerdial nodes on the LAN: a node alone joins them, with no address typed anywhere.
    const lanPeerListeners: Array<() => void> = [];
    const lan = new LanDiscoveryService({
      overlay,
      mdns: options.mdns,
      multicastRegister: options.multicastRegister,
      timers: realTimers,
      log: log.child('lan'),
      onChange: () => lanPeerListeners.forEach((listener) => listener()),
    });
    const dhtSaved = await settings.get<boolean>(DHT_ENABLED_KEY);
    if (options.dht !== undefined) await settings.set(DHT_ENABLED_KEY, options.dht);
    const dht = new DhtService({
      enabled: options.dht ?? dhtSaved ?? options.dhtByDefault ?? false,
      save: (enabled) => settings.set(DHT_ENABLED_KEY, enabled),
      bind: options.bind ?? '0.0.0.0',
      port: options.dhtPort ?? 0,
      bootstrap: options.dhtBootstrap?.length ? options.dhtBootstrap : undefined,
      overlay: {
        overlay: overlay.overlay,
        isMember: () => overlay.role === 'member',
        isAlone: () => {
          const table = overlay.node?.table;
          return !table || (table.successors.length === 0 && !table.predecessor);
        },
        sipPort: () => (sip.started ? sip.port : undefined),
        isSelf: (peer) => peer.port === sip.port && (peer.host === sip.host || peer.host === options.bind),
        mergeWith: (hostPort) => overlay.mergeWith(hostPort),
        ownLocation: () => overlay.ownLocation(),
        sign: (data) => Buffer.from(signEd25519(data, identity.signingKey!), 'base64url'),
      },
      location: options.location ?? 'both',
      start: startMainlineDht,
      timers: realTimers,
      log: log.child('dht'),
      onChange: () => events.publish('dht.changed', dht.view()),
    });
    locationChanged = () => dht.locationChanged();
    overlay.externalLocation = { active: () => dht.keepsLocations, find: (user, owner, maxAgeMs) => dht.findLocation(user, owner, maxAgeMs) };
    const messages = new MessageRepository(db);
    const publishMessage = (message: StoredMessage, change: 'added' | 'updated') => events.publish(change === 'added' ? 'message.added' : 'message.updated', message);
    // Strangers' texts wait in Requests (services/strangers); the service itself comes after the buddies it asks.
    const strangerRules = {
      isStranger: (peer: string) => strangers.relation(peer) === 'stranger',
      mailboxAllowed: () => strangers.settings.strangerMailbox,
      limits: REQUEST_LIMITS,
      onRequestsChanged: () => void strangers.requests().then((list) => events.publish('requests.changed', list), (error: unknown) => log.warn('requests not listed', { error: String(error) })),
    };
    const mailbox = new MailboxService({
      strangers: strangerRules,
      overlay,
      identity,
      messages,
      log: log.child('mailbox'),
      timers: realTimers,
      pollMs: options.mailboxPollMs,
      onMessage: (message, change) => {
        publishMessage(message, change);
        if (message.voice && message.direction === 'in' && change === 'added') void voicemail.countsChanged();
      },
      onDelivered: (sender, callIds) => void im.sendReceipt(sender, 'delivered', callIds).catch(() => undefined),
      onUnreadChanged: (peer) => buddies.unreadChanged(peer),
    });
    const im = new ImService({
      stack: sip,
      overlay,
      messages,
      identity,
      mailbox,
      timers: realTimers,
      onMessage: publishMessage,
      onOtherContent: (incoming) => buddies.onBuddyMessage(incoming),
      onServiceContent: (incoming) => rescue.onMessage(incoming) || relay.onMessage(incoming),
      onTyping: (peer, active) => buddies.setTyping(peer, active),
      onUnreadChanged: (peer) => buddies.unreadChanged(peer),
      onMailboxHint: () => void mailbox.poll(),
      pinnedKey: (aor) => buddies.buddyKey(aor),
      sendBlockReason: (peer) => buddies.sendBlockReason(peer),
      isBlocked: (peer) => buddies.isBlocked(peer),
      senderLimit: options.messageSenderLimit,
      strangers: strangerRules,
    });
    const buddies = new BuddyService({
      stack: sip,
      identity,
      overlay,
      repository: new BuddyRepository(db),
      timers: realTimers,
      log: log.child('buddies'),
      onChange: (view) => events.publish('buddy.changed', view),
      onRemoved: (aor) => events.publish('buddy.removed', { aor }),
      unreadCount: (peer) => messages.unreadCount(peer),
    });
    overlay.pinnedKey = (aor) => buddies.buddyKey(aor);
    const strangers = new StrangersService({
      messages,
      settings,
      buddies,
      onRequestsChanged: strangerRules.onRequestsChanged,
      onSettingsChanged: (view) => events.publish('strangers.settings', view),
      onAccepted: (peer) => buddies.unreadChanged(peer),
    });
    await strangers.load();
    // Before IM, the mailbox and calls start: who is a buddy, a stranger or blocked is known from the first request.
    await buddies.load();
    const presence = new PresenceService({
      stack: sip,
      identity,
      buddies,
      overlay,
      settings,
      timers: realTimers,
      log: log.child('presence'),
      onChange: (view) => events.publish('presence.changed', view),
      expiresSeconds: options.presenceExpiresSeconds,
      configSubscribe: (incoming) => lanOffers.onSubscribe(incoming),
      messageSummarySubscribe: (incoming) => phones.onMessageSummarySubscribe(incoming),
    });
    // lan.changed at most every 250 ms: discovery and offers may change in bursts.
    let lanChangePending = false;
    const lanOffers = new ConfigOfferService({
      stack: sip,
      identity,
      overlay,
      settings,
      timers: realTimers,
      log: log.child('lan-offers'),
      lanPeers: options.lanPeers ?? (() => lan.peers()),
      onPeersChanged: options.onLanPeersChanged ?? ((listener) => lanPeerListeners.push(listener)),
      methods: () => lan.methods,
      onSharingChanged: (sharing) => lan.setOffersConfig(sharing),
      expiresSeconds: options.configOfferExpiresSeconds,
      applyRescuePolicy: (policy) => rescue.configure(policy),
      onChange: () => {
        if (lanChangePending) return;
        lanChangePending = true;
        realTimers.set(250, () => {
          lanChangePending = false;
          events.publish('lan.changed', lanOffers.view());
        });
      },
    });

    let lastPublicAddress: string | undefined;
    const portMappingSaved = await settings.get<boolean>(PORT_MAPPING_KEY);
    if (options.portMapping !== undefined) await settings.set(PORT_MAPPING_KEY, options.portMapping);
    const nat: NatService = new NatService({
      stack: sip,
      portMapping: { enabled: options.portMapping ?? portMappingSaved ?? true, save: (enabled) => settings.set(PORT_MAPPING_KEY, enabled) },
      gateway: async () => (await gateway4async()).gateway,
      otherAddress: options.stunOtherAddress,
      servers: () => overlay.knownMembers(),
      partnerCandidates: () => overlay.knownMembers().filter((m) => m.port === sip.port && overlay.isRingNode(m)),
      isPartnerAcceptable: (address) => overlay.isRingNode(address),
      timers: realTimers,
      log: log.child('nat'),
      software: USER_AGENT,
      role: () => overlay.chosenRole,
      autoRole: roleOption === 'auto',
      becomeClient: () => overlay.becomeClient(),
      becomeMember: () => overlay.becomeMember(),
      inRing: () => overlay.role === 'member',
      onMember: () => void overlay.register(),
      memberUptimeMs: options.memberUptimeSeconds === undefined ? undefined : options.memberUptimeSeconds * 1000,
      user: () => identity.current?.userName,
      maxClients: options.maxClients,
      onAttached: (member) => {
        if (!member) return;
        overlay.setMember({ host: member.address, port: member.port });
        // Store the binding with the new contact at once, then learn more members from a lookup.
        void overlay.register().then(() => {
          const aor = overlay.ownAor();
          if (aor) void overlay.lookupAor(aor).catch(() => undefined);
        });
      },
      onChange: (view) => {
        events.publish('nat.changed', view);
        // A new role or address: the relay may start or stop, and the best relays may differ.
        void relay?.reconsider();
        if (view.publicAddress !== lastPublicAddress) {
          lastPublicAddress = view.publicAddress;
          void relayFinder?.refresh();
        }
      },
    });
    overlay.onClientRegister = (incoming) => nat.flows.onRegister(incoming);

    // The user's SIP phones: their registrar, and the proxy that routes for the overlay's domain.
    let refusalPublishPending = false;
    const phones = new PhonesService({
      stack: sip,
      phones: new PhoneRepository(db),
      identity,
      overlay,
      log: log.child('phones'),
      rateLimit: options.sipRateLimit,
      farmWanted: options.farm,
      settings,
      farm: {
        lanPeers: options.lanPeers ?? (() => lan.peers()),
        onPeersChanged: options.onLanPeersChanged ?? ((listener) => lanPeerListeners.push(listener)),
        announce: (id) => lan.setFarm(id),
        publishEveryMs: options.registrationRefreshMs ?? 60_000,
      },
      onChange: () => {
        events.publish('phones.changed', phones.list());
        publishStatus();
        // The phones' bindings go into the overlay with the user's own.
        if (identity.current) void overlay.register();
      },
      // A refusal shows in node.status within a second, however many come.
      onRefused: () => {
        if (refusalPublishPending) return;
        refusalPublishPending = true;
        realTimers.set(1_000, () => {
          refusalPublishPending = false;
          publishStatus();
        });
      },
    });
    overlay.onPhoneRegister = (incoming) => {
      if (!phones.isPhoneRegister(incoming.request)) return false;
      void phones.onRegister(incoming);
      return true;
    };
    overlay.phoneBindings = (contact) => phones.overlayBindings(contact);

    // "Relay calls for others" (members with a public address), and the relays our own calls use.
    const relay: RelayService = new RelayService({
      bind,
      advertisedHost: () => sip.host,
      port: options.relayPort,
      settings,
      initial: options.relay,
      overlay,
      nodeKey: () => overlayRepository.nodeKey(),
      eligible: () => relayEligibility(nat, overlay.role),
      contact: () => `sip:relay@${sip.host.includes(':') ? `[${sip.host}]` : sip.host}:${sip.port}`,
      allowLoopbackPeers: isLoopback(bind),
      timers: realTimers,
      log: log.child('relay'),
      onChange: () => {
        // Users on this LAN learn the relay from DNS-SD as well as from the overlay.
        const server = relay.view();
        lan.setRelayUrl(server.state === 'running' && server.address ? `turn:${server.address}` : undefined);
        events.publish('relay.changed', relayView());
      },
    });
    const relayFinder = new RelayFinder({
      overlay,
      stack: sip,
      identity: () => {
        const current = identity.current;
        const key = identity.signingKey;
        const aor = overlay.ownAor();
        return current && key && aor ? { aor, rawPublicKey: Buffer.from(current.publicKey, 'base64url'), privateKey: key } : undefined;
      },
      configured: options.turn,
      lanPeers: () => lan.peers().filter((p) => p.overlay === overlay.overlay),
      udpWorks: () => nat.view().behaviour?.udp !== false,
      ownRelay: () => relay.view().address,
      bind,
      timers: realTimers,
      log: log.child('relay-finder'),
      onChange: () => events.publish('relay.changed', relayView()),
    });
    const relayView = () => ({ settings: relay.currentSettings, server: relay.view(), finder: relayFinder.view() });
    /** Each call's TURN allocations, on the relays the finder keeps ready (none for a node that relays itself). */
    const callRelays = async (socket: CallSocket, held: { address: string; port: number }[]): Promise<RelayLeg[]> => {
      if (relay.view().state === 'running') return [];
      const wanted = () => relayFinder.relaysForCall().filter((r) => !held.some((h) => h.address === r.server.address && h.port === r.server.port));
      let servers = wanted();
      if (servers.length === 0 && held.length === 0) {
        // None ready yet (just started, or the last ones died): a quick look, within the gathering's time.
        await withDeadline(relayFinder.refresh(), 1_500, realTimers).catch(() => undefined);
        servers = wanted();
      }
      const legOptions = { timers: realTimers, log: log.child('relay-leg'), now: () => performance.now(), onLost: (leg: RelayLeg) => relayFinder.markLost(leg.server.address) };
      const legs = await Promise.all(servers.map((server) => allocateLeg(server, socket, legOptions)));
      return legs.filter((l): l is RelayLeg => l !== undefined);
    };

    const rescue = new RescueServer({
      stack: sip,
      overlay,
      settings,
      nodeKey: () => overlayRepository.nodeKey(),
      dataDir: options.dataDir,
      bind,
      advertisedHost: advertisedAddress(bind),
      port: options.rescuePort,
      httpsPort: options.rescueHttpsPort,
      publicUrl: options.rescueUrl,
      initial: options.rescue,
      advertiseOnLan: options.mdns === false ? undefined : (url) => lan.setRescueUrl(url),
      timers: realTimers,
      log: log.child('rescue'),
      onChange: (view) => events.publish('rescue.changed', view),
    });

    // Fail on a bad --play file before anything starts, with the file's problem in words.
    const played = options.playFile ? await WavFileSource.load(options.playFile) : undefined;
    // Converted now to every codec rate (G.711, G.722, Opus): done in a call's first tick, a long
    // file's conversion would hold up that tick's audio for every call.
    for (const rate of [8000, 16000, 48000]) played?.samplesAt(rate);
    const recorder = options.recordFile ? await WavRecorder.create(options.recordFile) : undefined;
    const audio = new UserAudio();
    const calls = new CallService({
      stack: sip,
      identity,
      overlay,
      calls: new CallRepository(db),
      openMedia: () =>
        MediaSession.open({
          bind,
          advertisedHost: sip.host,
          // The calls' media runs on the process's media worker threads (services/calls/media-workers.ts).
          log: log.child('media'),
          portRange: options.rtpPorts,
          silenceTimeoutMs: options.mediaSilenceTimeoutMs,
          timers: realTimers,
          // DTLS-SRTP with phones presents the certificate SIP over TLS does.
          dtls: tls,
          // Members' STUN (on their SIP port) gives each call's socket its public address.
          ice: () => ({ stunServers: overlay.knownMembers(), relays: callRelays, relayFailed: (address) => relayFinder.markLost(address), relayByDefault: nat.needsRelayForPlainPeers(), mapPort: (port) => nat.mapCallPort(port) }),
        }),
      audio,
      timers: realTimers,
      log: log.child('calls'),
      onChange: (view) => events.publish('call.changed', view),
      onHistory: (entry) => events.publish('call.history', entry),
      autoAnswer: options.autoAnswer,
      codecs: options.codecs,
      playSource: played && (() => played.again()),
      recorder,
      presenceNotify: (incoming) => void presence.onNotify(incoming),
      configNotify: (incoming) => lanOffers.onNotify(incoming),
      pinnedKey: (aor) => buddies.buddyKey(aor),
      encryptUserCalls: !options.plainCallsForBenchmark,
      sessionExpiresS: options.sessionExpiresS,
      minSessionExpiresS: options.minSessionExpiresS,
      voicemail: () => voicemail.settings,
      callerPolicy: (peer) => strangers.callPolicy(peer),
      unencryptedPhones: {
        allowed: (await settings.get<boolean>(UNENCRYPTED_PHONES_KEY)) ?? true,
        save: (allowed) => settings.set(UNENCRYPTED_PHONES_KEY, allowed),
      },
    });

    const voicemail = new VoicemailService({
      mailbox,
      messages,
      overlay,
      audio,
      playSource: played && (() => played.again()),
      recorder,
      settings,
      publishSettings: async (chosen) => {
        overlay.voicemailEnabled = chosen.enabled;
        if (identity.current) await overlay.register();
      },
      host: sip.host,
      log: log.child('voicemail'),
      timers: realTimers,
      onMessage: publishMessage,
      onRecording: (view) => events.publish('voicemail.recording', view),
      onPlayback: (view) => events.publish('voicemail.playback', view),
      sendReceipt: (peer, callIds) => im.sendReceipt(peer, 'read', callIds),
      sendMailboxHint: (peer) => im.sendMailboxHint(peer),
      onCountsChanged: (counts) => phones.messageWaiting(counts),
    });
    // The name claim says whether this user takes voice messages: known before the overlay starts.
    await voicemail.load();
    overlay.voicemailEnabled = voicemail.settings.enabled;

    const relayControl = {
      view: relayView,
      configure: async (change: Partial<RelaySettings>) => {
        await relay.configure(change);
        return relayView();
      },
    };
    const api: ControlApi = new ControlApi({ identity, im, overlay, calls, buddies, presence, lan: lanOffers, rescue, nat, relay: relayControl, phones, voicemail, dht, strangers, status: () => engine.status() }, events);
    const engine = new Engine(options, supervisor, sip, identity, im, overlay, calls, audio, api, startedAt);
    built.engine = engine;
    engine.buddies = buddies;
    engine.presence = presence;
    engine.lan = lan;
    engine.lanOffers = lanOffers;
    engine.rescue = rescue;
    engine.phones = phones;
    engine.mailbox = mailbox;
    engine.voicemail = voicemail;
    engine.dht = dht;

    try {
      // First in, last out: the lock goes only once everything else, the database included, is closed.
      await supervisor.add({ name: 'data-dir-lock', start: async () => undefined, stop: async () => lock.release() });
      await supervisor.add({ name: 'storage', start: async () => undefined, stop: () => db.close() });
      await supervisor.add({ name: 'sip', start: () => sip.start(), stop: () => sip.stop() });
      // NAT first: an auto node checks its NAT and reachability before it joins the ring.
      await supervisor.add({ name: 'nat', start: () => nat.start(), stop: () => nat.stop() });
      await supervisor.add({ name: 'overlay', start: () => overlay.start(), stop: () => overlay.stop() });
      await supervisor.add({ name: 'lan-discovery', start: () => lan.start(), stop: () => lan.stop() });
      await supervisor.add({ name: 'dht', start: () => dht.start(), stop: () => dht.stop() });
      await supervisor.add({ name: 'phones', start: () => phones.start(), stop: () => phones.stop() });
      await supervisor.add({ name: 'im', start: () => im.start(), stop: () => im.stop() });
      await supervisor.add({ name: 'mailbox', start: () => mailbox.start(), stop: () => mailbox.stop() });
      await supervisor.add({
        name: 'calls',
        start: () => calls.start(),
        stop: async () => {
          await calls.stop();
          await recorder?.close();
        },
      });
      // Added after calls, so stopped before them: a message being left is dropped and playback ends before the --record file closes.
      await supervisor.add({ name: 'voicemail', start: () => voicemail.start(), stop: () => voicemail.stop() });
      await supervisor.add({ name: 'buddies', start: () => buddies.start(), stop: () => buddies.stop() });
      await supervisor.add({ name: 'presence', start: () => presence.start(), stop: () => presence.stop() });
      await supervisor.add({ name: 'lan-offers', start: () => lanOffers.start(), stop: () => lanOffers.stop() });
      await supervisor.add({ name: 'rescue', start: () => rescue.start(), stop: () => rescue.stop() });
      if (options.user && !identity.current) await identity.create(options.user.displayName ?? options.user.userName, options.user.userName);
      await supervisor.add({ name: 'relay', start: () => relay.start(), stop: () => relay.stop() });
      await supervisor.add({ name: 'relay-finder', start: () => relayFinder.start(), stop: () => relayFinder.stop() });
      if (options.serveUi) await engine.startUi(settings, log);
    } catch (error) {
      await supervisor.stopAll();
      throw error;
    }
    return engine;
  }

  private async startUi(settings: SettingsRepository, log: Logger): Promise<void> {
    const token = await loadOrCreateToken(this.options.dataDir);
    const lastPort = await settings.get<number>('ui.port');
    const holder: { adapter?: WsControlAdapter } = {};
    const makeServer = (port: number) =>
      new UiServer({
        host: '127.0.0.1',
        port,
        token,
        rendererDir: this.options.rendererDir ?? DEFAULT_RENDERER_DIR,
        onUpgrade: (req, socket, head) => holder.adapter?.handleUpgrade(req, socket, head) ?? false,
      });
    let ui = makeServer(this.options.uiPort ?? lastPort ?? 0);
    holder.adapter = new WsControlAdapter({ endpoint: this.api, audio: this.audio, token, allowedOrigins: () => [ui.origin, `http://localhost:${ui.port}`] });
    try {
      await ui.start();
    } catch (error) {
      if (this.options.uiPort !== undefined || (error as { code?: string }).code !== 'PORT_IN_USE') throw error;
      log.info('last UI port is taken; using another', { port: lastPort });
      ui = makeServer(0);
      await ui.start();
    }
    this.ui = ui;
    await settings.set('ui.port', ui.port);
    const uiRef = ui;
    const ws = holder.adapter;
    await this.supervisor.add({
      name: 'ui',
      start: async () => undefined,
      stop: async () => {
        ws.close();
        await uiRef.stop();
      },
    });
  }

  get uiUrl(): string | undefined {
    return this.ui?.url;
  }

  /** `sip:USER@ADDR:PORT`, once an identity exists. */
  get sipContact(): string | undefined {
    return this.sip.started ? this.im.ownUri() : undefined;
  }

  status(): NodeStatus {
    const c = this.sip.counters;
    return {
      version: VERSION,
      online: !this.stopped && this.supervisor.views.every((v) => v.state === 'running'),
      sipContact: this.sipContact,
      sipAddress: this.sip.host,
      sipPort: this.sip.started ? this.sip.port : 0,
      transports: this.sip.tlsPort === undefined ? ['udp', 'tcp'] : ['udp', 'tcp', 'tls'],
      sipTlsPort: this.sip.tlsPort ?? 0,
      tls: { certificate: this.sip.certificate, ...this.sip.tlsStats },
      startedAt: this.startedAt,
      memory: memoryView(),
      services: this.supervisor.views,
      sip: {
        requestsIn: c.requestsIn,
        responsesIn: c.responsesIn,
        malformedDropped: c.malformedDropped,
        badRequestsAnswered: c.badRequestsAnswered,
        serverTransactions: this.sip.transactionCounts.servers,
        evictedTransactions: this.sip.transactionCounts.evicted,
      },
      routing: this.phones.status(),
      callSecurity: this.calls.securityView(),
      messageSecurity: this.im.sealingCounters,
      limits: this.sip.limits,
      strangers: {
        blockedMessages: this.im.blockedDropped,
        requestMessagesDropped: this.im.requestsDropped,
        callsRejected: this.calls.rejectedCalls,
        mailboxMessagesDropped: this.mailbox.stats.strangerDropped,
      },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.supervisor.stopAll();
  }
}

async function loadOrCreateToken(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'ui-token');
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(token)) return token;
  } catch {
    // first run
  }
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

/** The process's memory now (a flood must not grow it for good: see docs/protocol.md "Acceptance"). */
function memoryView(): { rssBytes: number; heapUsedBytes: number; externalBytes: number } {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external + m.arrayBuffers };
}
