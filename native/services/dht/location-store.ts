// The user's location kept in the BitTorrent mainline DHT (BEP 44): this device publishes its
// bindings in one mutable item signed by the user's identity key (wire/dht/location-item.ts), and
// finds a buddy's item by the buddy's pinned key. Only the key's owner can write the item, so an
// answer from the DHT needs no trust in whoever stored or served it; a replay of an older item is
// refused by its seq. Names stay in the ring: the DHT cannot give first-come claims.
//
// The user's devices share one item: a device reads it, keeps the other devices' live bindings,
// replaces its own, and writes it back with BEP 44's compare-and-swap on the seq it read.
//
// Respect for the shared DHT: at most one put a minute (a changed binding), else one every 30
// minutes (bindings live 65); a buddy's item is fetched at most once in 30 s, once in 15 s while
// not found, once in 10 minutes while the ring finds the buddy (services/overlay/external-location.ts).
import type { Logger } from '../../log.js';
import type { MainlineDht } from '../../transport/mainline-dht.js';
import { decodeLocationItem, deviceTag, encodeLocationItem, locationSalt, type LocationBinding, type LocationItem } from '../../wire/dht/location-item.js';
import type { BindingValue } from '../../wire/overlay/record.js';

export const PUBLISH_MS = 30 * 60_000;
export const MIN_PUBLISH_GAP_MS = 60_000;
export const BINDING_TTL_MS = 65 * 60_000;
/** A buddy not found (offline, or not yet published) is asked for again after this long at the soonest. */
const NOT_FOUND_CACHE_MS = 15_000;
/** Owners whose highest seq seen is remembered (the buddies looked up). */
const MAX_REMEMBERED_OWNERS = 1_000;

/** What this device publishes: the user and the bindings it stores in the ring for itself and its phones. */
export interface OwnLocation {
  /** The user's Ed25519 public key, raw, base64url. */
  publicKey: string;
  user: string;
  x25519?: string;
  voicemail?: false;
  bindings: Array<{ slot: string; value: BindingValue }>;
}

/** A buddy's location as found in the DHT. */
export interface FoundLocation {
  /** BEP 44 seq: the time the owner signed it (ms). */
  seq: number;
  x25519?: string;
  voicemail?: false;
  /** Live bindings, as the ring would hold them. */
  bindings: BindingValue[];
}

export interface LocationStoreOptions {
  overlay: string;
  own(): OwnLocation | undefined;
  /** Signs with the user's identity key (Ed25519). */
  sign(data: Buffer): Buffer;
  log: Logger;
  now: () => number;
}

export class LocationStore {
  readonly stats = { publishes: 0, publishFailures: 0, found: 0, notFound: 0, refused: 0, stale: 0 };
  lastPublishAt?: number;
  private lastShape?: string;
  private publishing?: Promise<void>;
  private readonly highestSeq = new Map<string, number>();
  private readonly recent = new Map<string, { at: number; answer: Promise<FoundLocation | undefined>; empty?: boolean }>();

  constructor(private readonly options: LocationStoreOptions) {}

  /** Milliseconds until a publish may go out: 0 when one is due now (changed, or 30 minutes old). */
  publishDueIn(): number | undefined {
    const own = this.options.own();
    if (!own || !own.bindings.length) return undefined;
    const now = this.options.now();
    const since = this.lastPublishAt === undefined ? Infinity : now - this.lastPublishAt;
    if (shapeOf(own) === this.lastShape && since < PUBLISH_MS) return PUBLISH_MS - since;
    return Math.max(0, MIN_PUBLISH_GAP_MS - since);
  }

  /** Writes this device's bindings into the user's item (read, merge, compare-and-swap). */
  publish(dht: MainlineDht): Promise<void> {
    this.publishing ??= this.write(dht).finally(() => (this.publishing = undefined));
    return this.publishing;
  }

  private async write(dht: MainlineDht, retry = true): Promise<void> {
    const own = this.options.own();
    if (!own || !own.bindings.length) return;
    const now = this.options.now();
    const publicKey = Buffer.from(own.publicKey, 'base64url');
    const salt = locationSalt(this.options.overlay);
    const previous = await dht.getMutable(publicKey, salt).catch(() => undefined);
    const before = previous && decodeLocationItem(previous.value);
    const mine: LocationBinding[] = own.bindings.map(({ slot, value }) => ({
      device: deviceTag(slot),
      contact: value.contact,
      ...(value.via ? { via: value.via } : {}),
      ...(value.tls ? { tls: value.tls } : {}),
      expires: now + BINDING_TTL_MS,
    }));
    // The user's other devices: their live bindings stay.
    const others = typeof before === 'object' && before.user === own.user ? before.bindings.filter((b) => b.expires > now && !mine.some((m) => m.device === b.device || m.contact === b.contact)) : [];
    const item: LocationItem = { user: own.user, ...(own.x25519 ? { x25519: own.x25519 } : {}), ...(own.voicemail === false ? { voicemail: false as const } : {}), bindings: [...mine, ...others] };
    const { value, dropped } = encodeLocationItem(item);
    if (dropped) this.options.log.info('bindings left out of the DHT location item (1000 bytes at most)', { dropped });
    const seq = Math.max(now, (previous?.seq ?? 0) + 1);
    try {
      const stored = await dht.putMutable({ publicKey, salt, seq, value, ...(previous ? { cas: previous.seq } : {}), sign: this.options.sign });
      this.stats.publishes++;
      this.lastPublishAt = now;
      this.lastShape = shapeOf(own);
      this.options.log.debug('published our location in the DHT', { seq, stored, bindings: item.bindings.length - dropped });
    } catch (error) {
      // Another device of the user wrote between our read and our write: read again, once.
      if (retry && /CAS|sequence number/i.test((error as Error).message)) return this.write(dht, false);
      this.stats.publishFailures++;
      this.lastPublishAt = now;
      this.options.log.debug('could not publish our location in the DHT', { error: String(error) });
    }
  }

  /** The location `owner` (raw Ed25519 key, base64url) published for `user`, when it is valid and live. */
  find(dht: MainlineDht, user: string, owner: string, maxAgeMs: number): Promise<FoundLocation | undefined> {
    const now = this.options.now();
    const cacheKey = `${owner}/${user}`;
    const recent = this.recent.get(cacheKey);
    if (recent && now - recent.at < (recent.empty ? Math.min(maxAgeMs, NOT_FOUND_CACHE_MS) : maxAgeMs)) return recent.answer;
    const entry: { at: number; answer: Promise<FoundLocation | undefined>; empty?: boolean } = { at: now, answer: this.read(dht, user, owner) };
    void entry.answer.then((found) => (entry.empty = !found?.bindings.length));
    this.recent.delete(cacheKey);
    this.recent.set(cacheKey, entry);
    while (this.recent.size > MAX_REMEMBERED_OWNERS) this.recent.delete(this.recent.keys().next().value!);
    return entry.answer;
  }

  private async read(dht: MainlineDht, user: string, owner: string): Promise<FoundLocation | undefined> {
    const publicKey = Buffer.from(owner, 'base64url');
    if (publicKey.length !== 32) return undefined;
    const found = await dht.getMutable(publicKey, locationSalt(this.options.overlay)).catch(() => undefined);
    if (!found) {
      this.stats.notFound++;
      return undefined;
    }
    const item = decodeLocationItem(found.value);
    if (typeof item === 'string' || item.user !== user) {
      this.stats.refused++;
      this.options.log.info('refused a location item from the DHT', { user, why: typeof item === 'string' ? item : `it names ${item.user}` });
      return undefined;
    }
    const highest = this.highestSeq.get(owner) ?? 0;
    if (found.seq < highest) {
      // A replay of an item older than one we already saw.
      this.stats.stale++;
      return undefined;
    }
    this.highestSeq.delete(owner);
    this.highestSeq.set(owner, found.seq);
    if (this.highestSeq.size > MAX_REMEMBERED_OWNERS) this.highestSeq.delete(this.highestSeq.keys().next().value!);
    this.stats.found++;
    const now = this.options.now();
    return {
      seq: found.seq,
      ...(item.x25519 ? { x25519: item.x25519 } : {}),
      ...(item.voicemail === false ? { voicemail: false as const } : {}),
      bindings: item.bindings
        .filter((b) => b.expires > now)
        .map((b) => ({ user, overlay: this.options.overlay, contact: b.contact, ...(b.via ? { via: b.via } : {}), ...(b.tls ? { tls: b.tls } : {}) })),
    };
  }
}

/** What a publish says, without its times: a change makes a publish due. */
function shapeOf(own: OwnLocation): string {
  return JSON.stringify([own.user, own.x25519, own.voicemail, own.bindings.map((b) => [b.slot, b.value.contact, b.value.via, b.value.tls])]);
}
