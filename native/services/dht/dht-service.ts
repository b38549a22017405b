// Finding the overlay through the BitTorrent mainline DHT (BEP 5), with no server of ours: a
// member announces its SIP port under the overlay's infohash (wire/dht/overlay-infohash.ts);
// a node looks that infohash up and merges with (or, alone, joins through) each peer it finds,
// through the overlay's own merge, which first checks over SIP that the address is a member of
// this overlay: an address the DHT gave is never trusted by itself.
//
// Respect for the shared DHT: while this node is alone in its ring it looks up after 2, 5, 10 and
// 30 s (installs started together find each other's announces) and then once a minute; in a ring,
// every 15 minutes; a member announces right after a lookup, at most every 15 minutes, on the
// nodes that lookup found (BEP 5 tokens last 10).
//
// The same DHT node keeps the user's location item (BEP 44, location-store.ts) when the location
// mode is dht or both: a buddy whose key is pinned is found there even from another ring, and the
// member a found binding names is merged with like a peer found by BEP 5.
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { DhtPeer, MainlineDht, MainlineDhtOptions } from '../../transport/mainline-dht.js';
import { overlayInfohash } from '../../wire/dht/overlay-infohash.js';
import { parseSipUri } from '../../wire/sip/uri.js';
import type { DhtView, LocationMode } from './dht-view.js';
import { LocationStore, type FoundLocation, type OwnLocation } from './location-store.js';

export const ALONE_LOOKUP_MS = 60_000;
/** The first lookups while alone come sooner: members started together announce meanwhile. */
const FIRST_ALONE_LOOKUPS_MS = [2_000, 5_000, 10_000, 30_000];
export const LOOKUP_MS = 15 * 60_000;
export const ANNOUNCE_MS = 15 * 60_000;
/** An address tried (and found no member, or one already in our ring) is not tried again sooner. */
const RETRY_PEER_MS = 10 * 60_000;
/**
 * Peers tried over SIP per lookup, one after another: one DHT node can name thousands (or a
 * flood of addresses that never answer); the rest wait for a later lookup, picked at random so
 * that the order a node gave them in does not decide who is tried.
 */
export const MAX_PEERS_PER_LOOKUP = 32;

/** What the DHT service needs of the overlay. */
export interface DhtOverlay {
  readonly overlay: string;
  /** A member (not a client behind a NAT): only members announce. */
  isMember(): boolean;
  /** Alone in a ring of one: look up often. */
  isAlone(): boolean;
  /** Our SIP port, announced. */
  sipPort(): number | undefined;
  isSelf(peer: DhtPeer): boolean;
  mergeWith(hostPort: string): Promise<void>;
  /** What this device publishes in its user's location item (undefined before it registers). */
  ownLocation(): OwnLocation | undefined;
  /** Signs with the user's identity key. */
  sign(data: Buffer): Buffer;
}

export interface DhtServiceOptions {
  /** On at start (the --dht flag, the saved setting, or the default: off headless, on in the desktop app). */
  enabled: boolean;
  /** Keeps the user's choice (Settings / Network: "Find Peerdial users through the BitTorrent DHT"). */
  save?(enabled: boolean): Promise<void>;
  bind: string;
  /** The DHT's UDP port (0: any free one). */
  port: number;
  /** Private DHT nodes to start from (tests, closed networks); the public routers when undefined. */
  bootstrap?: string[];
  overlay: DhtOverlay;
  /** Where users' bindings are kept and looked for (--location): the DHT takes part unless `ring`. */
  location: LocationMode;
  start(options: MainlineDhtOptions): Promise<MainlineDht>;
  timers: TimerHost;
  log: Logger;
  now?: () => number;
  onChange(): void;
}

export class DhtService {
  private dht?: MainlineDht;
  private state: DhtView['state'] = 'off';
  private timer?: TimerHandle;
  private publishTimer?: TimerHandle;
  private readonly location: LocationStore;
  private readonly mergedThrough = new WeakSet<FoundLocation>();
  private readonly tried = new Map<string, number>();
  private readonly now: () => number;
  private lastLookupAt?: number;
  private lastAnnounceAt?: number;
  private error?: string;
  private looking = false;
  readonly stats = { lookups: 0, announces: 0, peersFound: 0, merged: 0, refusedPrivate: 0, unverified: 0, notTried: 0 };

  constructor(private readonly options: DhtServiceOptions) {
    this.now = options.now ?? Date.now;
    this.enabled = options.enabled;
    this.location = new LocationStore({ overlay: options.overlay.overlay, own: () => options.overlay.ownLocation(), sign: (data) => options.overlay.sign(data), log: options.log, now: this.now });
  }

  /** Whether bindings go to (and are looked for in) the DHT now: the DHT is ready and --location is not `ring`. */
  get keepsLocations(): boolean {
    return this.state === 'ready' && this.options.location !== 'ring';
  }

  /** Starts the DHT node in the background: its bootstrap takes seconds, and nothing else waits for it. */
  async start(): Promise<void> {
    if (!this.enabled || this.state === 'starting' || this.state === 'ready') return;
    this.state = 'starting';
    this.options.onChange();
    this.starting = this.boot();
  }

  private starting?: Promise<void>;
  private enabled: boolean;

  /** Turns the DHT on (it boots in the background) or off (its socket closes at once); kept. */
  async configure(enabled: boolean): Promise<DhtView> {
    await this.options.save?.(enabled);
    if (enabled !== this.enabled) {
      this.enabled = enabled;
      if (enabled) await this.start();
      else await this.stop();
      this.options.onChange();
    }
    return this.view();
  }

  private async boot(): Promise<void> {
    try {
      this.dht = await this.options.start({ bind: this.options.bind, port: this.options.port, bootstrap: this.options.bootstrap });
    } catch (error) {
      this.state = 'failed';
      this.error = (error as Error).message;
      this.options.onChange();
      return;
    }
    if (this.state !== 'starting') {
      // Stopped while it booted.
      await this.dht.close();
      this.dht = undefined;
      return;
    }
    this.state = 'ready';
    this.options.log.info('the mainline DHT is ready', { endpoint: this.endpoint, nodes: this.dht.nodeCount() });
    this.options.onChange();
    // The first announce follows the first lookup, on the nodes its traversal found (not a second traversal).
    this.scheduleLookup(0);
    this.locationChanged();
  }

  /** This user's bindings changed (or were first stored): publish them, as soon as the rate allows. */
  locationChanged(): void {
    if (!this.dht || !this.keepsLocations) return;
    const due = this.location.publishDueIn();
    if (this.publishTimer) this.options.timers.clear(this.publishTimer);
    this.publishTimer = undefined;
    if (due === undefined) return;
    this.publishTimer = this.options.timers.set(due, () => {
      this.publishTimer = undefined;
      const dht = this.dht;
      if (!dht) return;
      void this.location.publish(dht).finally(() => {
        this.options.onChange();
        this.locationChanged();
      });
    });
  }

  /**
   * `user`'s location as its owner (raw Ed25519 key, base64url) published it in the DHT, when valid
   * and live. The members its bindings name are merged with (checked over SIP first, as always).
   */
  async findLocation(user: string, owner: string, maxAgeMs: number): Promise<FoundLocation | undefined> {
    const dht = this.dht;
    if (!dht || !this.keepsLocations) return undefined;
    const found = await this.location.find(dht, user, owner, maxAgeMs);
    // Each answer once: a cached one was merged through when it came.
    if (!found || this.mergedThrough.has(found)) return found;
    this.mergedThrough.add(found);
    for (const binding of found.bindings) {
      const member = binding.via ? parseHostPort(binding.via) : hostPortOf(binding.contact);
      if (member) void this.consider(member);
    }
    return found;
  }

  async stop(): Promise<void> {
    if (this.timer) this.options.timers.clear(this.timer);
    if (this.publishTimer) this.options.timers.clear(this.publishTimer);
    this.timer = this.publishTimer = undefined;
    this.state = 'off';
    await this.starting;
    const dht = this.dht;
    this.dht = undefined;
    await dht?.close();
  }

  /** HOST:PORT of our DHT node, once it listens. */
  get endpoint(): string | undefined {
    const a = this.dht?.address();
    return a && `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  view(): DhtView {
    return {
      enabled: this.enabled,
      state: this.state,
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      nodes: this.dht?.nodeCount() ?? 0,
      ...(this.lastLookupAt ? { lastLookupAt: this.lastLookupAt } : {}),
      ...(this.lastAnnounceAt ? { lastAnnounceAt: this.lastAnnounceAt } : {}),
      location: this.options.location,
      ...(this.location.lastPublishAt ? { lastPublishAt: this.location.lastPublishAt } : {}),
      ...(this.error ? { error: this.error } : {}),
      stats: {
        ...this.stats,
        malformed: this.dht?.counters.dropped ?? 0,
        published: this.location.stats.publishes,
        publishFailures: this.location.stats.publishFailures,
        locationsFound: this.location.stats.found,
        locationsNotFound: this.location.stats.notFound,
        locationsRefused: this.location.stats.refused + this.location.stats.stale + (this.dht?.counters.badSignatures ?? 0),
      },
    };
  }

  /** Looks the overlay up now (the Network screen's "Look again"). */
  async lookupNow(): Promise<void> {
    await this.lookup();
  }

  private scheduleLookup(delay: number): void {
    if (this.timer) this.options.timers.clear(this.timer);
    this.timer = this.options.timers.set(delay, () => {
      void this.lookup().finally(() => {
        if (this.dht) this.scheduleLookup(this.options.overlay.isAlone() ? (FIRST_ALONE_LOOKUPS_MS[this.stats.lookups - 1] ?? ALONE_LOOKUP_MS) : LOOKUP_MS);
      });
    });
  }

  private async lookup(): Promise<void> {
    const dht = this.dht;
    if (!dht || this.looking) return;
    this.looking = true;
    this.stats.lookups++;
    // Each address named is judged once; alone, the first worth trying is tried at once: joining
    // does not wait for the traversal's end.
    const seen = new Set<string>();
    const candidates: DhtPeer[] = [];
    let first: Promise<void> | undefined;
    try {
      await dht.lookup(overlayInfohash(this.options.overlay.overlay), (peer) => {
        const key = `${peer.host}:${peer.port}`;
        if (seen.has(key)) return;
        seen.add(key);
        if (!this.worthTrying(peer)) return;
        if (!first && this.options.overlay.isAlone()) first = this.tryPeer(peer);
        else candidates.push(peer);
      });
    } catch (error) {
      this.options.log.debug('DHT lookup failed', { error: String(error) });
    } finally {
      this.looking = false;
      this.lastLookupAt = this.now();
    }
    // Announce when due, right after the lookup of the same infohash: its traversal's nodes take it.
    if (this.lastAnnounceAt === undefined || this.now() - this.lastAnnounceAt >= ANNOUNCE_MS) await this.announce();
    await first;
    shuffle(candidates);
    const budget = MAX_PEERS_PER_LOOKUP - (first ? 1 : 0);
    this.stats.notTried += Math.max(0, candidates.length - budget);
    for (const peer of candidates.slice(0, budget)) await this.tryPeer(peer);
    this.options.onChange();
  }

  private async announce(): Promise<void> {
    const dht = this.dht;
    const port = this.options.overlay.sipPort();
    if (!dht || !port || !this.options.overlay.isMember()) return;
    try {
      await dht.announce(overlayInfohash(this.options.overlay.overlay), port);
      this.stats.announces++;
      this.lastAnnounceAt = this.now();
      this.options.onChange();
    } catch (error) {
      this.options.log.debug('DHT announce failed', { error: String(error) });
    }
  }

  /** A peer the DHT named: merged with when it answers over SIP as a member of this overlay. */
  private async consider(peer: DhtPeer): Promise<void> {
    if (this.worthTrying(peer)) await this.tryPeer(peer);
  }

  /** Not ourselves, not private when the DHT is the public one, not tried lately. */
  private worthTrying(peer: DhtPeer): boolean {
    this.stats.peersFound++;
    if (this.options.overlay.isSelf(peer)) return false;
    // From the public DHT, an address of a private network is nobody we can reach, or a trap.
    if (!this.options.bootstrap && !isPublicAddress(peer.host)) {
      this.stats.refusedPrivate++;
      return false;
    }
    const last = this.tried.get(`${peer.host}:${peer.port}`);
    return last === undefined || this.now() - last >= RETRY_PEER_MS;
  }

  /** Merged with when it answers over SIP as a member of this overlay. */
  private async tryPeer(peer: DhtPeer): Promise<void> {
    const key = `${peer.host}:${peer.port}`;
    const now = this.now();
    for (const [k, at] of this.tried) if (now - at >= RETRY_PEER_MS) this.tried.delete(k);
    this.tried.set(key, now);
    try {
      await this.options.overlay.mergeWith(peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : key);
      this.stats.merged++;
    } catch (error) {
      this.stats.unverified++;
      this.options.log.debug('a DHT peer is no member of this overlay', { peer: key, error: String(error) });
    }
  }
}

function parseHostPort(text: string): DhtPeer | undefined {
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(text);
  return m ? { host: m[1], port: Number(m[2]) } : undefined;
}

/** The host and port of a binding's SIP contact (the device's node: a member, unless it has a `via`). */
function hostPortOf(contact: string): DhtPeer | undefined {
  const uri = parseSipUri(contact);
  return uri ? { host: uri.host, port: uri.port ?? 5060 } : undefined;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Not loopback, private (RFC 1918, RFC 4193), link-local, CGNAT, unspecified or multicast. */
export function isPublicAddress(host: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
    if (a === 169 && b === 254) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    return true;
  }
  const v6 = host.toLowerCase();
  if (v6 === '::' || v6 === '::1' || v6.startsWith('fe80:') || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('ff')) return false;
  return v6.includes(':');
}
