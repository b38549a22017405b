// What a user sees of the LAN: the Peerdial nodes found there and how, and the configuration
// offers they make. The control API serves these as they are.

export type LanDiscoveryMethod = 'mdns' | 'multicast-register';

export interface LanPeerView {
  /** Overlay node ID (40 hex digits), from the TXT record or the REGISTER answer. */
  nodeId: string;
  /** The overlay it belongs to (the domain of its AORs). */
  overlay: string;
  /** Where its SIP listens. */
  host: string;
  port: number;
  /** The user on that node, when it said (AOR). */
  aor?: string;
  /** Every way it was found. */
  via: LanDiscoveryMethod[];
  lastSeen: number;
  /** It offers a configuration to this LAN ("Share my settings with this LAN"). */
  offersConfig: boolean;
  /** Its TURN relay (turn:HOST:PORT), when it relays calls for others. */
  relay?: string;
  /** The server farm it serves (farm mode), by ID. */
  farm?: string;
}

/** The settings an offer can carry; each is optional, and only those present are applied. */
export interface SharedConfig {
  /** The overlay to be part of. */
  overlay?: string;
  /** Bootstrap peers outside the LAN, host:port. */
  bootstrap?: string[];
  /** STUN servers, host:port. */
  stun?: string[];
  /** TURN relays. */
  turn?: Array<{ address: string; username?: string; password?: string }>;
  /** Rescue policy ("help rescue sites"): whether to donate, and how much. */
  rescue?: { enabled: boolean; donateMbit?: number; donateGbPerDay?: number; cacheMb?: number };
  /** Who may call: anyone, buddies only. */
  callerPolicy?: 'anyone' | 'buddies';
}

export interface ConfigOfferView {
  /** The signer's key fingerprint (same format as IdentityView.fingerprint): the offer's identity. */
  signerFingerprint: string;
  signerName?: string;
  signerAor?: string;
  /** Grows with every change the signer makes; an older one is ignored. */
  version: number;
  config: SharedConfig;
  /** available: seen, not accepted; following: accepted, later versions apply by themselves; stopped: the user stopped following it. */
  state: 'available' | 'following' | 'stopped';
  receivedAt: number;
}

export interface LanView {
  peers: LanPeerView[];
  offers: ConfigOfferView[];
  /** This node's own offer, when the user shares their settings. */
  sharing?: { version: number; config: SharedConfig };
  /** Discovery methods running (both unless turned off). */
  methods: LanDiscoveryMethod[];
}
