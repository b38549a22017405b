// What a user sees of "help rescue sites" (the DotSlash volunteer side) and what a site owner
// sees of `peerdial origin`. The control API and the origin's status page serve these as they are.

/** How much this node gives while it helps rescue sites. */
export interface RescueDonation {
  /** Upload bandwidth given to rescues, Mbit/s (served bytes are paced to it). */
  donateMbit: number;
  /** Bytes served to rescues per day (UTC), GB; reaching it ends every rescue until the next day. */
  donateGbPerDay: number;
  /** Disk for the rescue cache, MB. */
  cacheMb: number;
}

export interface RescueSettings extends RescueDonation {
  enabled: boolean;
}

/** One site this node helps (or helped), as the Rescue screen lists it. */
export interface RescueSiteView {
  /** The origin's ID: 16 hex digits of SHA-256 over its Ed25519 key. */
  originId: string;
  /** The site's public URL (what its users typed), e.g. http://example.org/. */
  site: string;
  /** active: serving its redirected users; ended: released, shut down or expired. */
  state: 'active' | 'ended';
  /** Requests per second this node allowed the origin to send it. */
  allowedRps: number;
  /** The most its donation carries for this site (at least allowedRps): the origin may send past allowedRps, up to this, when every rescuer's allowance is spent. */
  maxRps?: number;
  requestsServed: number;
  bytesServed: number;
  cacheHits: number;
  startedAt: number;
  endedAt?: number;
  /** Why it ended, in words: "released by the site", "daily volume reached", ... */
  endReason?: string;
}

/** One point of the served-bandwidth chart: bytes served in the second that ends at `at`. */
export interface RescueSample {
  at: number;
  bytes: number;
  requests: number;
}

export interface RescueView {
  settings: RescueSettings;
  /** normal: not helping now (or switched off); rescue: serving at least one site. */
  state: 'off' | 'normal' | 'rescue';
  /** The URL origins redirect users to (http://HOST:PORT), while enabled. */
  httpUrl?: string;
  /** This node's key (base64url): what a site owner pins with `peerdial origin --trusted-rescuer KEY=HOST`. */
  nodeKey?: string;
  /** Whether this node's advertisement is stored in the overlay now, and whether mDNS carries it. */
  advertised: { overlay: boolean; mdns: boolean };
  sites: RescueSiteView[];
  totals: {
    requestsServed: number;
    bytesServed: number;
    cacheHits: number;
    /** cacheHits / requestsServed, 0 when nothing was served. */
    hitRatio: number;
    /** Bytes served today (UTC) against the daily cap. */
    bytesToday: number;
    /** Bytes the cache holds on disk. */
    cacheBytes: number;
    /** SOS requests refused (caps, off, bad signature). */
    refused: number;
    /** Cache misses filled from another rescue server of the same site instead of the site itself. */
    filledFromPeers: number;
    /** Requests for a Host name no site gave this node (DNS round robin), refused with 421. */
    refusedHosts: number;
  };
  /** The last 120 one-second samples, oldest first. */
  samples: RescueSample[];
}

/** The origin side: `peerdial origin` in front of a web server. */
export type OriginState = 'normal' | 'sos';

export interface RescuerView {
  /** The rescuer's node key fingerprint. */
  id: string;
  httpUrl: string;
  sipContact: string;
  allowedRps: number;
  /** The most its donation carries, used only when every rescuer's allowance is spent. */
  maxRps?: number;
  /** Redirects sent to it. */
  redirected: number;
  rttMs?: number;
  state: 'asking' | 'active' | 'released' | 'dropped';
  /** Why it was dropped (altered content, shut down, unreachable). */
  reason?: string;
  /** Requests it served that came by the site's name (DNS round robin), from its load reports. */
  byName?: number;
  /** Requests for Host names no site gave it, which it refused (421), from its load reports. */
  refusedHosts?: number;
}

/** DNS round robin at the origin (`--dns-update`): the zone, and the rescuers' addresses in it now. */
export interface DnsRoundRobinView {
  /** The site's name the addresses go to, e.g. www.example.org. */
  name: string;
  zone: string;
  /** The server updates are sent to, HOST:PORT. */
  server: string;
  ttl: number;
  /** checking: the key not tried yet; ready: the last update worked; failed: it did not (redirects only until one works). */
  state: 'checking' | 'ready' | 'failed';
  /** What the last failure was, in words (a refused key, no answer). */
  lastError?: string;
  lastSuccess?: number;
  /** Rescuers' addresses this origin has in the zone now. */
  addresses: string[];
  updates: number;
  failures: number;
}

export interface OriginView {
  originId: string;
  state: OriginState;
  /** Smoothed load in [0, 1+]: the largest of egress against capacity, CPU and upstream latency. */
  load: number;
  band: { low: number; high: number };
  /** Probability with which a redirectable request is redirected now. */
  redirectProbability: number;
  requestsPerSecond: number;
  egressMbps: number;
  capacityMbps: number;
  upstreamLatencyMs: number;
  cpu: number;
  rescuers: RescuerView[];
  /** fromReserve: redirects past a rescuer's allowance, into the reserve of its donation (every allowance was spent). */
  totals: { requests: number; redirected: number; served: number; upstreamErrors: number; spotChecks: number; spotCheckFailures: number; byName: number; refusedHosts: number; fromReserve?: number };
  /** DNS round robin, when `--dns-update` is given. */
  dns?: DnsRoundRobinView;
  /** Recent state changes and rescuer events, newest last. */
  log: Array<{ at: number; text: string }>;
  /** Trusted rescue (HTTPS, marked API paths), when the site pinned rescuers. */
  trust?: TrustView;
}

/** A rescuer the site pinned by key, as the origin's status page shows it. */
export interface TrustedRescuerView {
  id: string;
  /** Its rescue host name (HTTPS sites). */
  host?: string;
  /** waiting: certificate sent, not verified yet; verified: users go there; refused: certificate expired or did not verify, or a purge not taken; ended: released. */
  state: 'waiting' | 'verified' | 'refused' | 'ended';
  /** Where users are sent: https://HOST:PORT. */
  url?: string;
  certificateNotAfter?: number;
  /** The last purge it reported applied, and the forged or replayed purges it refused. */
  purgeSeq: number;
  purgesRefused: number;
  reason?: string;
}

export interface TrustView {
  https: boolean;
  /** Marked API path prefixes. */
  dynamic: string[];
  pinned: Array<{ id: string; host?: string }>;
  rescuers: TrustedRescuerView[];
  totals: {
    certificatesIssued: number;
    /** Certificates a trusted rescuer served that did not verify (expired ones included). */
    certificatesRefused: number;
    expiredCertificates: number;
    purgesSent: number;
    /** Purges a trusted rescuer did not take (it was dropped). */
    purgesNotTaken: number;
    /** Forged or replayed purges of this site that rescuers refused, as their load reports say. */
    purgesRefusedAtRescuers: number;
    lastPurgeSeq: number;
  };
}
