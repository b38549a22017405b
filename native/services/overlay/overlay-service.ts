// The overlay service: this node's place in the Chord ring (or its attachment to a member, as a
// client), the records it stores for others (kept in sqlite), and this user's own registration:
// a signed name claim and a signed binding of the AOR to this device's contact, refreshed before
// they expire.
import { hostForUri, parseSipUri, pinnedTlsUri } from '../../wire/sip/uri.js';
import type { Logger } from '../../log.js';
import { ChordNode, DEFAULT_CHORD_CONFIG, LookupError, OverlayRequestError, type ChordConfig, type LookupResult, type MergeOutcome } from '../../proto/overlay/chord-node.js';
import { RecordStore, sourceNetwork } from '../../proto/overlay/record-store.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import { decodeOverlayRequest, isOverlayRequest, OVERLAY_CONTENT_TYPE, type NodeRef, type OpRequest, type OpResponse, type OverlayOp, type StoreResult } from '../../wire/overlay/messages.js';
import { nodeIdFromProof } from '../../wire/overlay/id-puzzle.js';
import { idFromHex, idToHex, keyForAor } from '../../wire/overlay/node-id.js';
import { PHONE_CONTACT_PARAM, parseRecord, recordSlotId, signRecord, verifyRecord, type BindingValue, type NameValue, type OverlayRecord, type UnsignedRecord } from '../../wire/overlay/record.js';
import type { OverlayRepository } from '../../storage/repositories/overlay-repository.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { UserError } from '../errors.js';
import { keyFingerprint, type IdentityService } from '../identity/index.js';
import { sipOverlayTransport } from './overlay-transport.js';
import { claimWorkInMemory, nameClaimWork, nodeIdProof } from './id-work.js';
import { EXTERNAL_GRACE_MS, EXTERNAL_REFRESH_MS, EXTERNAL_RETRY_MS, fresherOutside, newestBindingSeq, withinGrace, type ExternalAnswer, type ExternalLocation, type LocationMode } from './external-location.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';

export interface OverlayServiceOptions {
  stack: SipStack;
  identity: IdentityService;
  repository: OverlayRepository;
  settings: SettingsRepository;
  overlay: string;
  /** host:port of members to join through (from the command line); settings may add more. */
  bootstrap: string[];
  role: 'member' | 'client';
  /**
   * --role auto: runs before a would-be member joins (the NAT check); it may make this node a
   * client (becomeClient) so that a node others cannot reach is never in the ring.
   */
  beforeJoin?: () => Promise<void>;
  timers: TimerHost;
  log: Logger;
  onChange(): void;
  now?: () => number;
  config?: Partial<ChordConfig>;
  /** How often this user's binding is stored again (it lives three times as long). */
  refreshMs?: number;
  /** --location: where bindings are kept and looked for (default both; the DHT only takes part when it is on). */
  location?: LocationMode;
}

export type OverlayRole = 'member' | 'client' | 'joining' | 'offline';
export interface Registration {
  state: 'unregistered' | 'registering' | 'registered' | 'failed';
  lastRefresh?: number;
  error?: string;
}

export interface AorLookup {
  aor: string;
  key: string;
  /** The ring node responsible for the key (absent when only the DHT was asked). */
  responsible?: NodeRef;
  hops: number;
  ms: number;
  contacts: string[];
  /** The Ed25519 key (raw, base64url) of the user's name claim, when the claim was found: whose AOR it is. */
  owner?: string;
  /** The X25519 key (raw, base64url) the name claim publishes: messages kept while the user is offline are sealed to it. */
  x25519?: string;
  /** false when the name claim says the user takes no voice messages. */
  voicemail?: boolean;
  /** Where the contacts came from: the ring, or the owner's location item in the DHT (fresher, or the ring had none). */
  source: 'ring' | 'dht';
}

const NAME_TTL_MS = 24 * 3600_000;
const REJOIN_MS = 15_000;
/** How often a member checks that its configured bootstrap peers are in its ring. */
const MERGE_CHECK_MS = 60_000;
/** After a merge, this user's records are stored again once the ring has had this many stabilization rounds (and once more after a replication period). */
const MERGE_SETTLE_ROUNDS = 4;

export class OverlayService {
  /** Whether the name claim tells callers this user takes voice messages (Settings → Voicemail). */
  voicemailEnabled = true;
  private chord?: ChordNode;
  private store?: RecordStore;
  private selfRef?: NodeRef;
  private member?: NodeRef | { host: string; port: number };
  role: OverlayRole = 'joining';
  /** What this node means to be: set by --role, or by the NAT service for --role auto. */
  private wantedRole: 'member' | 'client' = 'member';
  registration: Registration = { state: 'unregistered' };
  private refreshTimer?: TimerHandle;
  private rejoinTimer?: TimerHandle;
  private mergeCheckTimer?: TimerHandle;
  private readonly mergeRefreshTimers = new Set<TimerHandle>();
  private joinInFlight?: Promise<boolean>;
  private readonly now: () => number;
  private readonly refreshMs: number;
  private stopping = false;
  private bootstrapList: string[] = [];
  private joinCandidates: string[] = [];
  /** Bindings kept outside the ring (the DHT), set by the engine. */
  externalLocation?: ExternalLocation;
  /** The key the user pinned for a buddy's AOR: the DHT is searched with it. */
  pinnedKey?: (aor: string) => string | undefined;
  /** The bindings this device stored at its last registration (the DHT publishes them too). */
  private ownBindings: Array<{ slot: string; value: BindingValue }> = [];
  /** Members a client met in its member's lookup answers (newest last). */
  private readonly membersSeen = new Map<string, { address: string; port: number }>();

  constructor(private readonly options: OverlayServiceOptions) {
    this.now = options.now ?? Date.now;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.wantedRole = options.role;
  }

  get overlay(): string {
    return this.options.overlay;
  }
  /** The Chord settings in force, defaults filled in (the puzzles' difficulties are read before the node exists). */
  private get config(): ChordConfig {
    return { ...DEFAULT_CHORD_CONFIG, ...this.options.config };
  }
  get self(): NodeRef | undefined {
    return this.selfRef;
  }
  get node(): ChordNode | undefined {
    return this.chord;
  }
  get bootstrap(): string[] {
    return this.bootstrapList;
  }
  get memberRef(): { host: string; port: number; id?: string } | undefined {
    return this.member;
  }

  /**
   * Members this node knows, for STUN and NAT checks: its member (as a client), the configured
   * bootstrap peers, then the ring's nodes it routes through. Never itself.
   */
  knownMembers(): { address: string; port: number }[] {
    const self = this.selfRef && `${this.selfRef.host}:${this.selfRef.port}`;
    const out = new Map<string, { address: string; port: number }>();
    const add = (host: string, port: number) => {
      const key = `${host}:${port}`;
      if (key !== self && !out.has(key)) out.set(key, { address: host, port });
    };
    if (this.member) add(this.member.host, this.member.port);
    for (const b of this.bootstrapList) {
      const parsed = parseHostPort(b);
      if (parsed) add(parsed.host, parsed.port);
    }
    for (const n of this.chord?.table.knownNodes() ?? []) add(n.host, n.port);
    for (const m of [...this.membersSeen.values()].reverse()) add(m.address, m.port);
    return [...out.values()];
  }

  /** Whether host:port is a node of our ring that we route through. */
  isRingNode(address: { address: string; port: number }): boolean {
    return (this.chord?.table.knownNodes() ?? []).some((n) => n.host === address.address && n.port === address.port);
  }

  /** The role this node means to have: member, or client (from the start, or since the NAT check). */
  get chosenRole(): 'member' | 'client' {
    return this.wantedRole;
  }

  /** This user's AOR in the overlay, once an identity exists. */
  ownAor(): string | undefined {
    const identity = this.options.identity.current;
    return identity ? `sip:${identity.userName}@${this.overlay}` : undefined;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.wantedRole = this.options.role;
    const { publicKey } = await this.options.repository.nodeKey();
    // The ring ID comes from the key and a proof of work (id-puzzle.ts), solved once per key.
    const rawKey = publicKey.subarray(publicKey.length - 32);
    const proof = await nodeIdProof(this.options.settings, rawKey, this.config.idDifficulty);
    const id = idToHex(nodeIdFromProof(rawKey, proof.nonce));
    this.selfRef = { id, host: this.options.stack.host, port: this.options.stack.port, pk: rawKey.toString('base64url'), nonce: proof.nonce };
    const repo = this.options.repository;
    this.store = new RecordStore({
      overlay: this.overlay,
      nameDifficulty: this.config.nameDifficulty,
      now: this.now,
      onStored: (r) => void repo.save({ slotId: recordSlotId(r), json: JSON.stringify(r), expires: r.expires }).catch((e) => this.options.log.warn('could not save a record', { error: String(e) })),
      onDropped: (r) => void repo.remove(recordSlotId(r)).catch(() => undefined),
    });
    // A page at a time, longest-lived first (as restore() wants them). Records beyond today's
    // quotas (kept by an older version, or by a flood before them) go from disk too.
    let leftOut = 0;
    for await (const page of repo.recordPages(this.now())) {
      const kept = page.map((row) => parseRecord(JSON.parse(row.json))).filter((r): r is OverlayRecord => typeof r !== 'string' && verifyRecord(r));
      const left = this.store.restore(kept);
      for (const r of left) await repo.remove(recordSlotId(r));
      leftOut += left.length;
    }
    if (leftOut) this.options.log.info('records over quota not restored', { count: leftOut });
    const self = this.selfRef;
    this.chord = new ChordNode({
      self,
      transport: sipOverlayTransport(this.options.stack, () => self, this.overlay),
      timers: this.options.timers,
      store: this.store,
      now: this.now,
      config: this.options.config,
      onChange: () => this.options.onChange(),
      onMerge: () => this.refreshAfterMerge(),
    });
    this.options.stack.handle('REGISTER', (incoming) => this.onRegister(incoming));
    const saved = (await this.options.settings.get<string[]>('overlay.bootstrap')) ?? [];
    this.bootstrapList = [...new Set([...this.options.bootstrap, ...saved])];
    // Members we knew last time come after the configured peers: a restart finds its ring again.
    const known = ((await this.options.settings.get<string[]>('overlay.knownPeers')) ?? []).filter((p) => !this.bootstrapList.includes(p));
    this.joinCandidates = [...this.bootstrapList, ...known];
    if (this.wantedRole === 'member' && this.bootstrapList.length && this.options.beforeJoin) await this.options.beforeJoin();

    if (this.wantedRole === 'client') {
      const first = this.bootstrapList[0];
      if (!first) throw new UserError('INVALID_ARGUMENT', 'A client needs a member to attach to: give --bootstrap HOST:PORT.');
      const member = parseHostPort(first);
      if (!member) throw new UserError('INVALID_ARGUMENT', `--bootstrap ${first} is not HOST:PORT.`);
      this.member = member;
      try {
        const answer = await this.chord.handleRemote(member, 'ping', {});
        this.member = answer.node;
      } catch (error) {
        this.options.log.warn('member did not answer yet', { member: first, error: String(error) });
      }
      this.role = 'client';
    } else {
      await this.joinOrCreate();
      if (this.wantedRole === 'member') this.scheduleMergeCheck();
    }
    this.options.onChange();
    this.scheduleRefresh(0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.rememberPeers();
    if (this.refreshTimer) this.options.timers.clear(this.refreshTimer);
    if (this.rejoinTimer) this.options.timers.clear(this.rejoinTimer);
    if (this.mergeCheckTimer) this.options.timers.clear(this.mergeCheckTimer);
    for (const t of this.mergeRefreshTimers) this.options.timers.clear(t);
    this.mergeRefreshTimers.clear();
    if (this.chord && this.role === 'member') await this.chord.leave().catch(() => undefined);
    this.chord?.stop();
    this.role = 'offline';
  }

  /**
   * Adds a bootstrap peer (kept in settings) and brings this node's ring together with its ring:
   * joins through it when alone, merges the two rings when they differ. An unreachable peer is
   * kept and tried again by the periodic merge check.
   */
  async addBootstrap(address: string): Promise<void> {
    const parsed = parseHostPort(address);
    if (!parsed) throw new UserError('INVALID_ARGUMENT', `"${address}" is not HOST:PORT, e.g. 192.0.2.10:5060.`);
    this.bootstrapList = [...new Set([...this.bootstrapList, address])];
    await this.options.settings.set('overlay.bootstrap', this.bootstrapList.filter((b) => !this.options.bootstrap.includes(b)));
    if (this.wantedRole === 'member') {
      await this.mergeWith(address).catch((error: unknown) => this.options.log.warn('the new bootstrap peer did not answer', { address, error: String((error as Error).message ?? error) }));
    }
    this.options.onChange();
  }

  /**
   * Brings this node's ring together with the ring of the overlay node at `hostPort` (found on the
   * LAN, or a new bootstrap peer). Alone, this node joins through it. In a ring, it asks its own
   * ring whether that node is a member; if not, the two rings merge into one (ChordNode.mergeWith),
   * and every node's records move to their new holders. A node already in our ring costs a ping and
   * a lookup. A client, or a node that is stopping, does nothing. Rejects with INVALID_ARGUMENT for
   * an address that is not HOST:PORT, and UNAVAILABLE when the node does not answer.
   */
  async mergeWith(hostPort: string): Promise<void> {
    const target = parseHostPort(hostPort);
    if (!target) throw new UserError('INVALID_ARGUMENT', `"${hostPort}" is not HOST:PORT, e.g. 192.0.2.10:5060.`);
    const chord = this.chord;
    const self = this.selfRef;
    if (!chord || !self || this.stopping || this.wantedRole === 'client') return;
    if (sameAddress(target, self)) return;
    if (this.alone()) {
      // Several peers found at once must not start several joins.
      const ownJoin = !this.joinInFlight;
      const joining = this.joinInFlight ?? (this.joinInFlight = this.tryJoin([hostPort]).finally(() => (this.joinInFlight = undefined)));
      const joined = await joining;
      if (ownJoin) {
        if (!joined) throw new UserError('UNAVAILABLE', `Could not join overlay ${this.overlay} through ${hostPort}.`);
        void this.register();
        return;
      }
      if (this.alone()) return;
    }
    let outcome: MergeOutcome;
    try {
      outcome = await chord.mergeWith(target);
    } catch (error) {
      throw new UserError('UNAVAILABLE', `The overlay node at ${hostPort} did not answer: ${(error as Error).message}`);
    }
    if (outcome === 'merging') this.options.log.info('merging with another ring of the overlay', { overlay: this.overlay, through: hostPort });
  }

  /**
   * After a merge the node responsible for this user's key may have changed: store the name claim
   * and binding again once the ring has settled, and once more after a replication period, rather
   * than at the next refresh. (The records also move by themselves; this does not wait for them.)
   */
  private refreshAfterMerge(): void {
    if (this.stopping || !this.chord) return;
    for (const t of this.mergeRefreshTimers) this.options.timers.clear(t);
    this.mergeRefreshTimers.clear();
    const { stabilizeMs, replicateMs } = this.chord.config;
    for (const delay of [MERGE_SETTLE_ROUNDS * stabilizeMs, replicateMs + MERGE_SETTLE_ROUNDS * stabilizeMs]) {
      const timer = this.options.timers.set(delay, () => {
        this.mergeRefreshTimers.delete(timer);
        if (!this.stopping && this.role === 'member') void this.register();
      });
      this.mergeRefreshTimers.add(timer);
    }
  }

  /**
   * A member checks now and then that its configured bootstrap peers are in its ring, so a ring
   * formed while they were unreachable (or split from theirs) merges back.
   */
  private scheduleMergeCheck(): void {
    if (this.mergeCheckTimer) this.options.timers.clear(this.mergeCheckTimer);
    this.mergeCheckTimer = this.options.timers.set(MERGE_CHECK_MS * (0.9 + 0.2 * Math.random()), () => {
      if (this.stopping) return;
      void this.checkBootstrapRings().finally(() => {
        if (!this.stopping) this.scheduleMergeCheck();
      });
    });
  }

  private async checkBootstrapRings(): Promise<void> {
    // Alone, the rejoin timer is already trying them.
    if (this.role !== 'member' || this.alone()) return;
    for (const address of this.bootstrapList) await this.mergeWith(address).catch(() => undefined);
  }

  /** LAN discovery: joins through a peer found on the LAN when alone in a ring of one (nothing is saved); true when it joined. */
  async joinThroughIfAlone(address: string): Promise<boolean> {
    if (this.stopping || this.wantedRole !== 'member' || this.role !== 'member' || !this.alone() || !parseHostPort(address)) return false;
    const joined = await this.tryJoin([address]);
    // Our records were stored in the ring of one: store them again where the new ring keeps them.
    if (joined) void this.register();
    this.options.onChange();
    return joined;
  }

  private alone(): boolean {
    return !this.chord || this.chord.table.successors.length === 0;
  }

  /** Joins through the first bootstrap peer that answers; with none, starts a ring of one and keeps trying. */
  private async joinOrCreate(): Promise<void> {
    if (this.joinCandidates.length && (await this.tryJoin(this.joinCandidates))) return;
    // The NAT check made us a client while we tried (tryJoin has moved us already).
    if (this.wantedRole === 'client') return;
    this.chord!.create();
    await this.settleJoin();
    if (this.joinCandidates.length && this.wantedRole === 'member') this.scheduleRejoin();
  }

  /** Remembers some members of the ring, to find it again after a restart or a crash. */
  private async rememberPeers(): Promise<void> {
    const table = this.chord?.table;
    if (!table || this.role !== 'member') return;
    const peers = [table.predecessor, ...table.successors].filter((n): n is NodeRef => !!n).map((n) => `${hostForUri(n.host)}:${n.port}`);
    if (peers.length) await this.options.settings.set('overlay.knownPeers', [...new Set(peers)].slice(0, 8)).catch(() => undefined);
  }

  /** Asks every candidate at once and joins through the first that answers. */
  private async tryJoin(addresses: string[]): Promise<boolean> {
    const targets = addresses
      .map((a) => ({ address: a, target: parseHostPort(a) }))
      .filter((c): c is { address: string; target: { host: string; port: number } } => !!c.target && !sameAddress(c.target, this.selfRef!));
    if (!targets.length) return false;
    this.role = 'joining';
    let through: { address: string; target: { host: string; port: number } } | undefined;
    try {
      through = await Promise.any(targets.map(async (c) => (await this.chord!.handleRemote(c.target, 'ping', {}), c)));
    } catch {
      this.options.log.warn('no bootstrap peer answered', { tried: addresses });
    }
    if (through) {
      try {
        await this.chord!.join(through.target);
        this.options.log.info('joined the overlay', { overlay: this.overlay, through: through.address });
        await this.settleJoin();
        return true;
      } catch (error) {
        this.options.log.warn('could not join through bootstrap', { address: through.address, error: String((error as Error).message ?? error) });
      }
    }
    await this.settleJoin();
    return false;
  }

  /** A ring of one with bootstrap peers configured tries them again now and then, to merge. */
  private scheduleRejoin(): void {
    this.rejoinTimer = this.options.timers.set(REJOIN_MS, () => {
      if (this.stopping || !this.alone()) return;
      void this.tryJoin(this.joinCandidates).then((joined) => {
        if (joined) void this.register();
        else this.scheduleRejoin();
      });
    });
  }

  private scheduleRefresh(delay: number): void {
    if (this.refreshTimer) this.options.timers.clear(this.refreshTimer);
    this.refreshTimer = this.options.timers.set(delay, () => {
      if (this.stopping) return;
      void this.register().finally(() => {
        if (!this.stopping) this.scheduleRefresh(this.registration.state === 'registered' ? this.refreshMs : Math.min(this.refreshMs, 5_000));
      });
    });
  }

  /** Stores (again) this user's name claim and this device's binding, signed by the user's key. */
  async register(): Promise<Registration> {
    await this.rememberPeers();
    const identity = this.options.identity.current;
    const signingKey = this.options.identity.signingKey;
    if (!identity || !signingKey || !this.selfRef) {
      this.registration = { state: 'unregistered' };
      return this.registration;
    }
    if (this.registration.state !== 'registered') this.registration = { state: 'registering' };
    const now = this.now();
    const key = idToHex(keyForAor(identity.userName, this.overlay));
    // The sequence number is the time of signing: it grows across restarts without being stored.
    const base = { key, owner: identity.publicKey, seq: now };
    const agreement = this.options.identity.agreementKey;
    // Without it the claim is refused (name-work) and the registration says so.
    const work = await this.nameWork(identity.publicKey, identity.userName).catch(() => undefined);
    const nameValue: NameValue = {
      user: identity.userName,
      overlay: this.overlay,
      displayName: identity.displayName,
      ...(agreement ? { x25519: agreement.publicKey.toString('base64url') } : {}),
      ...(this.voicemailEnabled ? {} : { voicemail: false }),
      ...(work !== undefined ? { work } : {}),
    };
    const name: UnsignedRecord = { ...base, type: 'name', slot: '', expires: now + NAME_TTL_MS, value: nameValue };
    const value: BindingValue = { user: identity.userName, overlay: this.overlay, contact: this.options.stack.contactFor(identity.userName) };
    if (this.role === 'client' && this.member) value.via = `${hostForUri(this.member.host)}:${this.member.port}`;
    const tls = this.role === 'client' ? undefined : this.options.stack.reachableTls;
    if (tls) value.tls = tls;
    const binding: UnsignedRecord = { ...base, type: 'binding', slot: this.selfRef.id, expires: now + 3 * this.refreshMs, value };
    // The user's SIP phones registered here: each a device of the user, reached through this node.
    const phones = (this.phoneBindings?.(value.contact) ?? []).map(
      (p): UnsignedRecord => ({ ...base, type: 'binding', slot: p.slot, expires: now + 3 * this.refreshMs, value: { ...value, contact: p.contact } }),
    );
    this.ownBindings = [binding, ...phones].map((r) => ({ slot: r.slot, value: r.value as BindingValue }));
    // --location dht: the ring keeps the name claim, the DHT the bindings (while the DHT is up).
    const bindingsInRing = this.locationMode !== 'dht' || !this.externalLocation?.active();
    try {
      const records = [signRecord(name, signingKey), ...(bindingsInRing ? [binding, ...phones].map((r) => signRecord(r, signingKey)) : [])];
      const result = this.role === 'client' ? await this.viaMember('put', { records }) : await this.chord!.put(records);
      const refused = result.rejected[0];
      if (refused) {
        const why = refused.reason === 'name-taken' || refused.reason === 'not-name-owner' ? `The name "${identity.userName}" is already claimed in overlay ${this.overlay} by another key.` : `The overlay refused the registration (${refused.reason}).`;
        this.registration = { state: 'failed', error: why, lastRefresh: now };
      } else {
        this.registration = { state: 'registered', lastRefresh: now };
      }
    } catch (error) {
      this.registration = { state: 'failed', error: `Could not reach the overlay: ${(error as Error).message}`, lastRefresh: this.registration.lastRefresh };
    }
    this.options.onChange();
    return this.registration;
  }

  /** The name claim's proof of work (undefined when the overlay asks none); one solve at a time, kept in settings. */
  private nameWork(owner: string, user: string): Promise<number | undefined> {
    const difficulty = this.config.nameDifficulty;
    if (difficulty <= 0) return Promise.resolve(undefined);
    const wanted = `${owner} ${user}`;
    if (this.nameWorkInFlight?.wanted !== wanted) {
      const promise = nameClaimWork(this.options.settings, owner, user, this.overlay, difficulty).then((s) => s.nonce);
      this.nameWorkInFlight = { wanted, promise };
      // A failed solve (settings unavailable) is tried again at the next registration.
      void promise.catch(() => (this.nameWorkInFlight = undefined));
    }
    return this.nameWorkInFlight.promise;
  }
  private nameWorkInFlight?: { wanted: string; promise: Promise<number> };

  /** The proof of work for a name claim this node signs for another name (a phone farm's users); undefined when the overlay asks none. */
  async claimWork(owner: string, user: string): Promise<number | undefined> {
    const difficulty = this.config.nameDifficulty;
    return difficulty <= 0 ? undefined : claimWorkInMemory(this.claimWorks, owner, user, this.overlay, difficulty);
  }
  private readonly claimWorks = new Map<string, Promise<number>>();

  get locationMode(): LocationMode {
    return this.options.location ?? 'both';
  }

  /** What this device publishes in the user's location item outside the ring. */
  ownLocation(): { publicKey: string; user: string; x25519?: string; voicemail?: false; bindings: Array<{ slot: string; value: BindingValue }> } | undefined {
    const identity = this.options.identity.current;
    if (!identity || !this.options.identity.signingKey || this.registration.state !== 'registered' || !this.ownBindings.length) return undefined;
    const agreement = this.options.identity.agreementKey;
    return {
      publicKey: identity.publicKey,
      user: identity.userName,
      ...(agreement ? { x25519: agreement.publicKey.toString('base64url') } : {}),
      ...(this.voicemailEnabled ? {} : { voicemail: false as const }),
      bindings: this.ownBindings,
    };
  }

  /**
   * Resolves `bob`, `bob@overlay` or `sip:bob@overlay` to the user's live contacts, newest first.
   * With the DHT in use, a buddy whose key is pinned is also looked for there, beside the ring,
   * and the freshest valid answer is taken (external-location.ts); a user found by name in the
   * ring whose bindings are not there is looked for in the DHT under the name claim's key.
   */
  async lookupAor(text: string): Promise<AorLookup> {
    const user = parseAorUser(text, this.overlay);
    if (!user) throw new UserError('INVALID_URI', `"${text}" is not a user of overlay ${this.overlay} (write bob or sip:bob@${this.overlay}).`);
    const external = this.externalLocation?.active() ? this.externalLocation : undefined;
    const pinned = external && this.pinnedKey?.(`sip:${user}@${this.overlay}`);
    const early = pinned ? external.find(user, pinned, EXTERNAL_REFRESH_MS) : undefined;
    const started = performance.now();
    let ring: AorLookup | undefined;
    let ringSeq = 0;
    let ringError: unknown;
    if (!pinned || this.locationMode !== 'dht') {
      try {
        ({ found: ring, newestSeq: ringSeq } = await this.lookupInRing(user));
      } catch (error) {
        ringError = error;
      }
    }
    const owner = pinned || ring?.owner;
    let answer: ExternalAnswer | undefined;
    // A buddy (key pinned) is looked for in both, the freshest answer winning; anyone else only
    // when the ring has the name but no live device (a relay's credential check, say, needs only
    // the claim, and must not cost a DHT traversal).
    if (external && owner) {
      answer = ring?.contacts.length ? early && (await withinGrace(early, EXTERNAL_GRACE_MS, this.options.timers)) : await early;
      if (!ring?.contacts.length && !answer?.bindings.length) answer = await external.find(user, owner, EXTERNAL_RETRY_MS);
    }
    if (!ring && !answer) {
      if (ringError) throw ringError;
      return { aor: `sip:${user}@${this.overlay}`, key: idToHex(keyForAor(user, this.overlay)), hops: 0, ms: performance.now() - started, contacts: [], ...(pinned ? { owner: pinned } : {}), source: 'dht' };
    }
    if (answer && fresherOutside(answer, ring ? ringSeq : undefined)) {
      return {
        aor: `sip:${user}@${this.overlay}`,
        key: idToHex(keyForAor(user, this.overlay)),
        ...(ring?.responsible ? { responsible: ring.responsible } : {}),
        hops: ring?.hops ?? 0,
        ms: performance.now() - started,
        contacts: answer.bindings.sort((a, b) => phoneRank(a.contact) - phoneRank(b.contact)).map(contactOf),
        // The ring's claim names the owner when it has one: a key-change flag must still see it.
        owner: ring?.owner ?? owner!,
        ...((ring?.x25519 ?? answer.x25519) ? { x25519: ring?.x25519 ?? answer.x25519 } : {}),
        ...((ring ? ring.voicemail : answer.voicemail) === false ? { voicemail: false } : {}),
        source: 'dht',
      };
    }
    return ring!;
  }

  /** The ring's answer, and the newest seq of its bindings (compared with the DHT's answer). */
  private async lookupInRing(user: string): Promise<{ found: AorLookup; newestSeq: number }> {
    const key = keyForAor(user, this.overlay);
    const started = performance.now();
    let found: LookupResult;
    let records: OverlayRecord[];
    try {
      if (this.role === 'client') {
        const routed = await this.viaMember('lookup', { key: idToHex(key) });
        found = routed;
        records = (await this.viaMember('get', { key: idToHex(key) })).records;
      } else {
        if (!this.chord) throw new UserError('UNAVAILABLE', 'The overlay is not running.');
        // Checked against the key's replicas, and over disjoint paths when they hold nothing (ChordNode.findRecords).
        ({ found, records } = await this.chord.findRecords(key));
      }
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError('UNAVAILABLE', `Could not look ${user} up in overlay ${this.overlay}: ${(error as Error).message}`);
    }
    const ms = performance.now() - started;
    const claim = records.find((r) => r.type === 'name' && r.key === idToHex(key) && r.expires > this.now() && verifyRecord(r));
    return {
      newestSeq: newestBindingSeq(records, idToHex(key), this.now()),
      found: {
      aor: `sip:${user}@${this.overlay}`,
      key: idToHex(key),
      responsible: found.node,
      hops: found.hops,
      ms,
      contacts: liveContacts(records, idToHex(key), this.overlay, this.now()),
      ...(claim ? { owner: claim.owner } : {}),
      ...(claim && (claim.value as NameValue).x25519 ? { x25519: (claim.value as NameValue).x25519 } : {}),
      ...(claim && (claim.value as NameValue).voicemail === false ? { voicemail: false } : {}),
      source: 'ring',
      },
    };
  }

  /** Stores signed records at the nodes responsible for their keys (through the member, for a client). */
  async putRecords(records: OverlayRecord[]): Promise<StoreResult> {
    try {
      if (this.role === 'client') return await this.viaMember('put', { records });
      if (!this.chord) throw new UserError('UNAVAILABLE', 'The overlay is not running.');
      return await this.chord.put(records);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError('UNAVAILABLE', `Could not reach the overlay: ${(error as Error).message}`);
    }
  }

  /**
   * The live records under a ring key (40 hex digits), from the node responsible for it or its
   * replicas. `slot` asks for one record only (a voice chunk); an answer `accept` refuses makes a
   * member ask the next replica (a client, asking through its member, gets what the member found).
   */
  async fetchRecords(key: string, options: { slot?: string; accept?: (records: OverlayRecord[]) => boolean; onForged?: () => void } = {}): Promise<OverlayRecord[]> {
    const id = idFromHex(key);
    if (id === undefined) throw new UserError('INVALID_ARGUMENT', `"${key}" is not a ring key.`);
    try {
      if (this.role === 'client') return (await this.viaMember('get', { key, ...(options.slot !== undefined ? { slot: options.slot } : {}) })).records;
      if (!this.chord) throw new UserError('UNAVAILABLE', 'The overlay is not running.');
      return await this.chord.get(id, undefined, options.slot, options.accept, options.onForged);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError('UNAVAILABLE', `Could not reach the overlay: ${(error as Error).message}`);
    }
  }

  /** True when `uri`'s host is this overlay's name: an AOR to resolve rather than an address. */
  isOverlayUri(uri: { host: string }): boolean {
    return uri.host.toLowerCase() === this.overlay.toLowerCase();
  }

  private async viaMember<O extends 'put' | 'get' | 'lookup'>(op: O, body: OpRequest<O>): Promise<OpResponse<O>> {
    if (!this.member || !this.chord) throw new LookupError('no member to ask');
    const answer = await this.chord.handleRemote(this.member, op, body);
    if (op === 'lookup') {
      // The members a lookup meets are where a client goes when its member dies.
      const found = answer as OpResponse<'lookup'>;
      for (const n of [found.node, ...found.successors]) this.membersSeen.set(`${n.host}:${n.port}`, { address: n.host, port: n.port });
      while (this.membersSeen.size > 16) this.membersSeen.delete(this.membersSeen.keys().next().value!);
    }
    return answer;
  }

  /**
   * Stops being a ring member (the NAT service found that others cannot reach this node): our
   * records go to our successor as in a graceful leave, and from now on a member is asked for
   * everything. The ring's nodes we knew become the members a client may attach to.
   */
  async becomeClient(): Promise<void> {
    if (this.wantedRole === 'client' || !this.chord) return;
    this.wantedRole = 'client';
    // Still joining (or not yet started): the join finishes the move when it ends (settleJoin).
    if (this.role === 'joining') return;
    await this.leaveForClient();
  }

  private async leaveForClient(): Promise<void> {
    const chord = this.chord!;
    for (const t of [this.mergeCheckTimer, this.rejoinTimer]) if (t) this.options.timers.clear(t);
    for (const n of chord.table.knownNodes()) this.membersSeen.set(`${n.host}:${n.port}`, { address: n.host, port: n.port });
    if (this.role === 'member') await chord.leave().catch(() => undefined);
    chord.stop();
    chord.table.predecessor = undefined;
    chord.table.successors = [];
    chord.table.fingers.fill(undefined);
    if (this.selfRef) this.selfRef.host = this.options.stack.host;
    this.role = 'client';
    const first = this.knownMembers()[0];
    if (first) this.member = { host: first.address, port: first.port };
    this.options.log.info('now a client of the ring', { member: first });
    this.options.onChange();
  }

  /**
   * A client that others can now reach directly (it moved onto a network without NAT, and
   * members' probes reach it) joins the ring through the members it knows. False, and still a
   * client, when none of them lets it join.
   */
  async becomeMember(): Promise<boolean> {
    if (this.wantedRole === 'member' || !this.chord || this.stopping) return false;
    const member = this.member;
    const candidates = this.knownMembers().map((m) => `${hostForUri(m.address)}:${m.port}`);
    this.wantedRole = 'member';
    this.member = undefined;
    // Behind a router that forwards our port, the ring must know us by the public address.
    if (this.selfRef) this.selfRef.host = this.options.stack.host;
    if (await this.tryJoin(candidates)) {
      this.scheduleMergeCheck();
      this.options.log.info('now a member of the ring');
      this.options.onChange();
      return true;
    }
    this.chord.stop();
    this.wantedRole = 'client';
    this.role = 'client';
    this.member = member;
    return false;
  }

  /** A join (or the ring of one) ended: a member, unless the NAT check made us a client meanwhile. */
  private async settleJoin(): Promise<void> {
    this.role = 'member';
    if (this.wantedRole === 'client') await this.leaveForClient();
  }

  /** A client's member changed (the NAT service attached elsewhere): ask it from now on. */
  setMember(member: { host: string; port: number }): void {
    if (this.member && sameAddress(this.member, member)) return;
    this.member = member;
    this.options.onChange();
    // Learn its ring ID too (the Network screen shows it).
    void this.chord
      ?.handleRemote(member, 'ping', {})
      .then((answer) => {
        if (this.member === member) {
          this.member = answer.node;
          this.options.onChange();
        }
      })
      .catch(() => undefined);
  }

  /** A REGISTER with `Supported: outbound` that is no overlay operation: a client attaching (the NAT service's). */
  onClientRegister?: (incoming: IncomingRequest) => void;
  /** A REGISTER from one of the user's SIP phones (the phones service's), when it is one. */
  onPhoneRegister?: (incoming: IncomingRequest) => boolean;
  /** The bindings to publish for the user's registered phones, given this device's contact. */
  phoneBindings?: (contact: string) => Array<{ slot: string; contact: string }>;

  private async onRegister(incoming: IncomingRequest): Promise<void> {
    const { request, respond, discard } = incoming;
    if (!isOverlayRequest(request)) {
      if (this.onPhoneRegister?.(incoming)) return;
      if (this.onClientRegister && /\boutbound\b/i.test(String(request.headers.supported ?? ''))) return this.onClientRegister(incoming);
      respond(403, { reason: `Forbidden (register a phone as sip:USER@${this.overlay} with the credentials its user made for it)` });
      return;
    }
    const decoded = decodeOverlayRequest(request);
    if (!decoded.ok) {
      // RFC 3261 21.4.13: a 415 lists the body types that would be accepted.
      respond(decoded.status, { reason: decoded.reason, headers: decoded.status === 415 ? { Accept: OVERLAY_CONTENT_TYPE } : {} });
      return;
    }
    if (decoded.overlay.toLowerCase() !== this.overlay.toLowerCase()) {
      // A multicast REGISTER (RFC 3261 10.2.6) from a node of another overlay is not for us:
      // every node of every overlay on the LAN hears it, and none of them should answer.
      if (/^sip:sip\.mcast\.net\b/i.test(request.uri)) return discard();
      respond(404, { reason: `Not Found (this node is in overlay ${this.overlay})` });
      return;
    }
    const chord = this.chord;
    // A joining node takes part as soon as its Chord node runs: its successor hands it records
    // right after the join's notify, before this service has called it a member.
    if (!chord || ((this.role === 'client' || !chord.joined) && decoded.op !== 'ping')) {
      respond(503, { reason: this.role === 'client' ? 'Service Unavailable (a client, not a ring member)' : 'Service Unavailable (not in the ring yet)', headers: { 'retry-after': 2 } });
      return;
    }
    try {
      const answer = await chord.handle(decoded.op, decoded.body as OpRequest<OverlayOp>, decoded.sender, sourceNetwork(incoming.remote.address));
      if (decoded.op === 'store' && (answer as StoreResult).rejected.some((r) => r.reason === 'owner-quota' || r.reason === 'source-quota')) {
        this.options.stack.noteLimited(incoming.remote.address, 'records');
      }
      respond(200, { headers: { 'Content-Type': OVERLAY_CONTENT_TYPE, 'P2P-Op': decoded.op }, body: JSON.stringify(answer), compact: true });
    } catch (error) {
      const lookupFailed = error instanceof LookupError || error instanceof OverlayRequestError;
      respond(lookupFailed ? 504 : 500, { reason: lookupFailed ? 'Server Time-out (overlay lookup failed)' : 'Server Internal Error' });
    }
  }
}

function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

export function isHostPort(text: string): boolean {
  return parseHostPort(text) !== undefined;
}

function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.port === b.port && a.host.toLowerCase() === b.host.toLowerCase();
}

/** `bob`, `bob@overlay`, `sip:bob@overlay` -> `bob` (only within this overlay). */
export function parseAorUser(text: string, overlay: string): string | undefined {
  const m = /^(?:sips?:)?([a-z0-9][a-z0-9._-]{0,31})(?:@([^;>\s]+))?$/i.exec(text.trim().replace(/^<(.*)>$/, '$1'));
  if (!m) return undefined;
  if (m[2] && m[2].toLowerCase() !== overlay.toLowerCase()) return undefined;
  return m[1].toLowerCase();
}

/** The contacts of valid, live bindings whose owner holds the name (when a name record was found). */
export function liveContacts(records: OverlayRecord[], key: string, overlay: string, now: number): string[] {
  const valid = records.filter((r) => r.key === key && r.expires > now && r.value.overlay.toLowerCase() === overlay.toLowerCase() && verifyRecord(r));
  const name = valid.find((r) => r.type === 'name');
  return valid
    .filter((r): r is OverlayRecord & { value: BindingValue } => r.type === 'binding' && (!name || r.owner === name.owner))
    .sort((a, b) => phoneRank(a.value.contact) - phoneRank(b.value.contact) || b.seq - a.seq)
    .map((r) => contactOf(r.value));
}

/**
 * Where to send to a binding: over TLS, with its certificate pinned, when the device publishes a
 * TLS listener and is reached directly (docs/protocol.md, "SIP over TLS"); else its contact.
 */
export function contactOf(binding: BindingValue): string {
  const uri = binding.tls && !binding.via ? parseSipUri(binding.contact) : undefined;
  if (!uri || !binding.tls || uri.params.transport) return binding.contact;
  return pinnedTlsUri(uri, binding.tls.port, binding.tls.certificate);
}

/** Apps before phones: a caller trying one contact reaches an app, and the app's node rings its phones too. */
function phoneRank(contact: string): number {
  return new RegExp(`;${PHONE_CONTACT_PARAM}=`, 'i').test(contact) ? 1 : 0;
}

/** A record owner's fingerprint, in the same format as IdentityView.fingerprint. */
export function fingerprintOf(ownerBase64Url: string): string {
  return keyFingerprint(Buffer.from(ownerBase64Url, 'base64url'));
}


