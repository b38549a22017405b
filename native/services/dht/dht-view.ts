// What a user sees of the mainline DHT; the control API serves this as it is.

/** Where users' bindings are kept and looked for (--location): the ring, the DHT (BEP 44), or both. */
export type LocationMode = 'ring' | 'dht' | 'both';

export interface DhtView {
  /** "Find Peerdial users through the BitTorrent DHT". */
  enabled: boolean;
  state: 'off' | 'starting' | 'ready' | 'failed';
  /** HOST:PORT our DHT node listens on. */
  endpoint?: string;
  /** DHT nodes in our routing table. */
  nodes: number;
  lastLookupAt?: number;
  lastAnnounceAt?: number;
  location: LocationMode;
  /** When this device last wrote the user's location item (BEP 44). */
  lastPublishAt?: number;
  /** Why the DHT could not start. */
  error?: string;
  stats: {
    lookups: number;
    announces: number;
    /** Peers the lookups named (the same one found again counts again). */
    peersFound: number;
    /** Peers merged with or joined through (each checked over SIP first). */
    merged: number;
    /** Private or loopback addresses from the public DHT, not tried. */
    refusedPrivate: number;
    /** Peers that did not answer as members of this overlay. */
    unverified: number;
    /** Peers past the first MAX_PEERS_PER_LOOKUP (32) a lookup named, left for a later lookup. */
    notTried: number;
    /** Malformed or unexpected KRPC the DHT node dropped. */
    malformed: number;
    /** Location items this device wrote (BEP 44 puts), and puts that failed. */
    published: number;
    publishFailures: number;
    /** Buddies' location items found valid and live, or not found. */
    locationsFound: number;
    locationsNotFound: number;
    /** Items refused: a bad signature, not our format, another user's name, or older than one already seen. */
    locationsRefused: number;
  };
}
