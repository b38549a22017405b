// The TURN server's face to its host (sockets, passwords, clock) and to its operator (policy,
// statistics): plain types, so the binding in services/nat and the tests read them alone.
import type { Logger } from '../../log.js';
import type { TimerHost } from '../sip/timers.js';
import type { TransportAddress } from '../../wire/stun/message.js';

/** The client side of a 5-tuple (RFC 8656 2): where a client's messages came from and to. */
export interface ClientPath {
  transport: 'udp' | 'tcp';
  /** The client's address as this server sees it. */
  client: TransportAddress;
  /** Our listening address the client sent to. */
  server: TransportAddress;
  /** TCP: the accepted connection's key (each connection is its own 5-tuple). */
  connection?: string;
}

export interface RelayPortRequest {
  allocationId: string;
  family: 4 | 6;
  /** RFC 8656 18.7 EVEN-PORT: the relay port must be even... */
  even: boolean;
  /** ...and with the R bit, the next port up is held for a later allocation. */
  reserveNext: boolean;
  /** A port held by an earlier EVEN-PORT R request, claimed with its RESERVATION-TOKEN. */
  reserved?: TransportAddress;
}

export interface RelayPortGrant {
  relay: TransportAddress;
  /** The port held for a later allocation (reserveNext). */
  reserved?: TransportAddress;
}

export interface TurnServerHost {
  sendToClient(path: ClientPath, bytes: Buffer): void;
  /** Sends `bytes` from the allocation's relay port to a peer. */
  sendToPeer(allocationId: string, peer: TransportAddress, bytes: Buffer): void;
  /** Binds a relay port; rejects when none can be had (the Allocate then gets 508). A failed claim releases `reserved`. */
  openRelay(request: RelayPortRequest): Promise<RelayPortGrant>;
  closeRelay(allocationId: string): void;
  /** A reserved port nobody claimed in time (RFC 8656 7.2: about 30 s). */
  releaseReserved(port: TransportAddress): void;
  /** The long-term password of a username, or undefined for an unknown (or expired) one. */
  password(username: string): string | undefined;
  timers: TimerHost;
  now(): number;
  log?: Logger;
}

/** A member's donation limits; 0 means "no limit" for the two rates. */
export interface TurnPolicy {
  /** 486 Allocation Quota Reached beyond this many allocations for one username. */
  maxAllocationsPerUser: number;
  /** 508 Insufficient Capacity beyond this many allocations in all. */
  maxAllocations: number;
  /** Relayed payload, both directions, all allocations together; over it packets are dropped. */
  bandwidthBitsPerSecond: number;
  /** Relayed payload per UTC day; once reached, relaying stops and new allocations get 508. */
  dailyVolumeBytes: number;
  /** Peers no permission may name (403): CIDR prefixes or single addresses. */
  deniedPeers: string[];
  /** Exceptions to deniedPeers (e.g. loopback for tests on one host). */
  allowedPeers: string[];
}

export interface TurnServerOptions {
  realm: string;
  software?: string;
  /** Secret for the stateless nonces; random per server by default. */
  nonceSecret?: Buffer;
  /** After this a nonce is stale (438) and the client retries with a new one. */
  nonceLifetimeSeconds?: number;
  /** RFC 8656 7.2: the server's maximum allocation lifetime (3600 s recommended). */
  maxLifetimeSeconds?: number;
  /** The address family relay ports are bound in. */
  relayFamily?: 4 | 6;
  /**
   * Also accept RFC 5766's channel numbers 0x5000-0x7FFF (default true). RFC 8656 12 keeps them
   * for RFC 7983 demultiplexing, which concerns sockets that mix TURN with DTLS or RTP, not a
   * TURN server's port; clients still pick from the old range (Debian 12's coturn 4.6 uclient does).
   */
  rfc5766Channels?: boolean;
  policy?: Partial<TurnPolicy>;
}

export interface TurnCounters {
  /** 401 to a request with no MESSAGE-INTEGRITY: the normal first step, not a failure. */
  challenged: number;
  /** 401 for an unknown or expired username, or a MESSAGE-INTEGRITY that does not verify. */
  badCredentials: number;
  staleNonce: number;
  /** 441: another username on a 5-tuple that has an allocation. */
  wrongCredentials: number;
  badRequest: number;
  unknownAttribute: number;
  unsupportedTransport: number;
  /** 440 and 443. */
  addressFamily: number;
  allocationMismatch: number;
  userQuota: number;
  /** 508: all allocations in use, daily volume reached, no relay port, bad reservation token. */
  capacity: number;
  forbiddenPeer: number;
  /** Dropped packets. */
  malformed: number;
  unexpectedMessage: number;
  noAllocation: number;
  noPermission: number;
  unboundChannel: number;
  overBandwidth: number;
  overVolume: number;
}

export interface TurnAllocationStats {
  id: string;
  username: string;
  transport: 'udp' | 'tcp';
  client: TransportAddress;
  relay: TransportAddress;
  createdAt: number;
  expiresAt: number;
  permissions: number;
  channels: number;
  /** Payload bytes relayed client -> peer and peer -> client. */
  bytesUp: number;
  bytesDown: number;
}

export interface TurnStats {
  allocations: number;
  bytesToday: { up: number; down: number };
  bytesTotal: { up: number; down: number };
  volumeReached: boolean;
  perAllocation: TurnAllocationStats[];
  counters: TurnCounters;
  policy: TurnPolicy;
}
