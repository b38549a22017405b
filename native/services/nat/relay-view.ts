// What a user sees of relaying: the member's own TURN server ("Relay calls for others") and the
// relays this node would use for its own calls (the relay finder).

/** "Relay calls for others": on by default for members, with what it may give. */
export interface RelaySettings {
  enabled: boolean;
  /** Bandwidth cap in Mbit/s, both directions of all relayed calls together. */
  maxMbit: number;
  /** Volume cap per day (UTC), GB. */
  maxGbPerDay: number;
}

export interface RelayServerView {
  /** running: relaying for others; off: the setting is off; not-eligible: why in `reason`; failed: could not start. */
  state: 'running' | 'off' | 'not-eligible' | 'failed';
  reason: string;
  /** host:port of the TURN server (UDP and TCP). */
  address?: string;
  /** Whether the overlay holds our relay advertisement now. */
  advertised: boolean;
  allocations: number;
  /** Relayed payload today (UTC) and since start, bytes, both directions. */
  bytesToday: number;
  bytesTotal: number;
  /** Relayed payload over the last few seconds, bit/s. */
  bitsPerSecond: number;
  /** Requests refused and packets dropped, by reason. */
  counters: Record<string, number>;
}

export interface RelayCandidateView {
  /** Who runs it: a member's address, or "your TURN server". */
  label: string;
  /** host:port of its TURN server. */
  address: string;
  transport: 'udp' | 'tcp';
  /** Where it was learned: its signed advertisement in the overlay, a member on this LAN (DNS-SD), or --turn. */
  source: 'overlay' | 'lan' | 'configured';
  rttMs?: number;
  /** Allocations it carries and its spare bandwidth, as it advertised them. */
  load?: number;
  headroomMbit?: number;
  /** Credentials in hand: a call can allocate on it at once. */
  ready: boolean;
  /** Why it is not used (no answer, refused our credential request). */
  note?: string;
}

export interface RelayView {
  settings: RelaySettings;
  server: RelayServerView;
  /** The relay finder: relays for our own calls, best first; the first two are kept ready. */
  finder: {
    relays: RelayCandidateView[];
    measuredAt?: number;
    /** The user's own TURN server (--turn), without its password. */
    configured?: string;
  };
}
