// The TURN server a member runs to relay media for NAT'd users (RFC 8656), sans-IO: bytes from
// clients and from relay ports come in through receive() and relayReceived(); what to send, and
// which relay ports to open or close, goes out through the injected host, which owns the sockets.
//
// What it accepts: the long-term credential mechanism (RFC 8489 9.2) with stateless nonces,
// Allocate with UDP relaying only (RFC 8656 7), Refresh (8), CreatePermission (10), Send and Data
// indications (11), ChannelBind and ChannelData (12). On top of the RFC, a member's donation
// limits: allocations per user and in all, a shared bandwidth cap and a daily volume cap, all
// changeable while running. Bad input is counted and dropped; nothing here throws at a sender.
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { longTermKey, verifyIntegrity } from '../../wire/stun/integrity.js';
import {
  ALLOCATE,
  ATTR,
  BINDING,
  CHANNEL_BIND,
  CREATE_PERMISSION,
  DATA,
  REFRESH,
  SEND,
  attribute,
  decodeXorAddress,
  encodeErrorCode,
  encodeXorAddress,
  looksLikeStun,
  parseStun,
  serializeStun,
  unknownRequiredAttributes,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../wire/stun/message.js';
import {
  MAX_CHANNEL,
  MIN_CHANNEL,
  TRANSPORT_UDP,
  decodeChannelNumber,
  decodeRequestedTransport,
  decodeUint32,
  encodeChannelData,
  encodeUint32,
  looksLikeChannelData,
  parseChannelData,
} from '../../wire/stun/turn.js';
import type { TimerHandle } from '../sip/timers.js';
import { DEFAULT_DENIED_PEERS, PeerFilter } from './peer-filter.js';
import { RelayBudget } from './relay-budget.js';
import { TurnNonces } from './turn-nonces.js';

export { DEFAULT_DENIED_PEERS } from './peer-filter.js';

import type { ClientPath, RelayPortGrant, RelayPortRequest, TurnCounters, TurnPolicy, TurnServerHost, TurnServerOptions, TurnStats } from './turn-server-types.js';

export type * from './turn-server-types.js';

/** RFC 8656 7.2: the default lifetime; a client may ask for more, never less. */
export const DEFAULT_LIFETIME_S = 600;
export const MAX_LIFETIME_S = 3600;
/** RFC 8656 9: a permission lives 300 s; 12: a channel binding 10 minutes. */
export const PERMISSION_LIFETIME_S = 300;
export const CHANNEL_LIFETIME_S = 600;
/** RFC 8656 7.2: a reserved port is held for about 30 s. */
export const RESERVATION_LIFETIME_S = 30;
const NONCE_LIFETIME_S = 3600;

/** Attributes a TURN request may carry that we understand (RFC 8489 15: others below 0x8000 get 420). */
const KNOWN_ATTRIBUTES: readonly number[] = [
  ATTR.USERNAME,
  ATTR.MESSAGE_INTEGRITY,
  ATTR.REALM,
  ATTR.NONCE,
  ATTR.LIFETIME,
  ATTR.REQUESTED_TRANSPORT,
  ATTR.REQUESTED_ADDRESS_FAMILY,
  ATTR.EVEN_PORT,
  ATTR.RESERVATION_TOKEN,
  ATTR.XOR_PEER_ADDRESS,
  ATTR.CHANNEL_NUMBER,
  ATTR.DATA,
  // Not DONT-FRAGMENT: Node cannot set the DF bit, and RFC 8656 7.2 step 4 then has us treat it as unknown.
];

/** RFC 5766 11: channel numbers went up to 0x7FFF before RFC 8656 reserved 0x5000 up. */
const RFC5766_MAX_CHANNEL = 0x7fff;

/** RFC 8656 18.12, comprehension-optional. */
const ADDRESS_ERROR_CODE = 0x8001;
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  508: 'Insufficient Capacity',
};

interface Credentials {
  username: string;
  key: Buffer;
}

interface ChannelBinding {
  peer: TransportAddress;
  expiresAt: number;
}

interface Allocation {
  id: string;
  tuple: string;
  path: ClientPath;
  username: string;
  relay: TransportAddress;
  family: 4 | 6;
  createdAt: number;
  expiresAt: number;
  timer: TimerHandle;
  /** Peer IP -> expiry (RFC 8656 9: permissions are per IP address, any port). */
  permissions: Map<string, number>;
  channels: Map<number, ChannelBinding>;
  channelOfPeer: Map<string, number>;
  /** The client used FINGERPRINT: our indications to it carry one too. */
  fingerprint: boolean;
  /** The answer to the Allocate that made it, for that request's retransmissions. */
  answer: { transactionId: Buffer; bytes: Buffer };
  bytesUp: number;
  bytesDown: number;
}

interface PendingAllocation {
  transactionId: Buffer;
  username: string;
  allocationId: string;
}

interface Reservation {
  port: TransportAddress;
  timer: TimerHandle;
}

export class TurnServer {
  private readonly realm: string;
  private readonly software?: Buffer;
  private readonly nonces: TurnNonces;
  private readonly maxLifetimeS: number;
  private readonly relayFamily: 4 | 6;
  private readonly maxChannel: number;
  private policy: TurnPolicy;
  private readonly peers = new PeerFilter();
  private readonly budget: RelayBudget;

  private readonly allocations = new Map<string, Allocation>();
  private readonly byId = new Map<string, Allocation>();
  private readonly pending = new Map<string, PendingAllocation>();
  private readonly reservations = new Map<string, Reservation>();
  private nextAllocation = 1;
  private nextIndication = 0;
  private readonly indicationPrefix = randomBytes(4);

  private readonly counters: TurnCounters = {
    challenged: 0,
    badCredentials: 0,
    staleNonce: 0,
    wrongCredentials: 0,
    badRequest: 0,
    unknownAttribute: 0,
    unsupportedTransport: 0,
    addressFamily: 0,
    allocationMismatch: 0,
    userQuota: 0,
    capacity: 0,
    forbiddenPeer: 0,
    malformed: 0,
    unexpectedMessage: 0,
    noAllocation: 0,
    noPermission: 0,
    unboundChannel: 0,
    overBandwidth: 0,
    overVolume: 0,
  };

  constructor(
    private readonly host: TurnServerHost,
    options: TurnServerOptions,
  ) {
    this.realm = options.realm;
    this.software = options.software ? Buffer.from(options.software, 'utf8') : undefined;
    this.nonces = new TurnNonces(options.nonceLifetimeSeconds ?? NONCE_LIFETIME_S, () => host.now(), options.nonceSecret);
    this.budget = new RelayBudget(() => host.now());
    this.maxLifetimeS = options.maxLifetimeSeconds ?? MAX_LIFETIME_S;
    this.relayFamily = options.relayFamily ?? 4;
    this.maxChannel = options.rfc5766Channels === false ? MAX_CHANNEL : RFC5766_MAX_CHANNEL;
    this.policy = {
      maxAllocationsPerUser: 10,
      maxAllocations: 200,
      bandwidthBitsPerSecond: 0,
      dailyVolumeBytes: 0,
      deniedPeers: [...DEFAULT_DENIED_PEERS],
      allowedPeers: [],
    };
    this.configure(options.policy ?? {});
  }

  /** Changes limits while running; a bad peer prefix throws (it is the operator's input, not a packet). */
  configure(change: Partial<TurnPolicy>): void {
    const next = { ...this.policy, ...definedOnly(change) };
    this.peers.set(next.deniedPeers, next.allowedPeers);
    this.budget.setLimits(next.bandwidthBitsPerSecond, next.dailyVolumeBytes);
    this.policy = next;
  }

  /** Bytes from a client: a STUN message, or ChannelData (RFC 7983 tells them apart). */
  receive(bytes: Buffer, path: ClientPath): void {
    try {
      if (looksLikeStun(bytes)) this.stunFromClient(bytes, path);
      else if (this.isChannelData(bytes)) this.channelDataFromClient(bytes, path);
      else this.counters.malformed++;
    } catch (error) {
      // A bug must not take the relay down with it: count the packet and say what happened.
      this.counters.malformed++;
      this.host.log?.warn('turn: dropped a client packet that broke the server', { error: String(error), from: path.client });
    }
  }

  /** A datagram arrived at an allocation's relay port. */
  relayReceived(allocationId: string, bytes: Buffer, from: TransportAddress): void {
    try {
      this.fromPeer(allocationId, bytes, from);
    } catch (error) {
      this.counters.malformed++;
      this.host.log?.warn('turn: dropped a peer packet that broke the server', { error: String(error), from });
    }
  }

  /** A client's TCP connection closed: its 5-tuple is gone, and so are its allocations. */
  connectionClosed(connection: string): void {
    for (const tuple of [...this.pending.keys()]) if (tuple.startsWith(`tcp|${connection}|`)) this.pending.delete(tuple);
    for (const allocation of [...this.allocations.values()]) if (allocation.path.connection === connection) this.deleteAllocation(allocation);
  }

  stop(): void {
    for (const allocation of [...this.allocations.values()]) this.deleteAllocation(allocation);
    this.pending.clear();
    for (const [token, reservation] of this.reservations) {
      this.host.timers.clear(reservation.timer);
      this.host.releaseReserved(reservation.port);
      this.reservations.delete(token);
    }
  }

  stats(): TurnStats {
    const now = this.host.now();
    return {
      allocations: this.allocations.size,
      bytesToday: this.budget.today(),
      bytesTotal: { ...this.budget.total },
      volumeReached: this.budget.volumeLeft() <= 0,
      perAllocation: [...this.allocations.values()].map((a) => ({
        id: a.id,
        username: a.username,
        transport: a.path.transport,
        client: { ...a.path.client },
        relay: { ...a.relay },
        createdAt: a.createdAt,
        expiresAt: a.expiresAt,
        permissions: [...a.permissions.values()].filter((at) => at > now).length,
        channels: [...a.channels.values()].filter((c) => c.expiresAt > now).length,
        bytesUp: a.bytesUp,
        bytesDown: a.bytesDown,
      })),
      counters: { ...this.counters },
      policy: { ...this.policy, deniedPeers: [...this.policy.deniedPeers], allowedPeers: [...this.policy.allowedPeers] },
    };
  }

  // --- STUN from clients -------------------------------------------------------------------

  private stunFromClient(bytes: Buffer, path: ClientPath): void {
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformed++;
      return;
    }
    const message = parsed.message;
    if (message.klass === 'indication') {
      if (message.method === SEND) this.sendIndication(message, path);
      else this.counters.unexpectedMessage++;
      return;
    }
    if (message.klass !== 'request') {
      this.counters.unexpectedMessage++;
      return;
    }
    if (message.method === BINDING) {
      // A TURN server is a STUN server too (RFC 8656 3): Binding needs no credentials.
      this.reply(path, message, 'success', [{ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(path.client, message.transactionId) }]);
      return;
    }
    if (![ALLOCATE, REFRESH, CREATE_PERMISSION, CHANNEL_BIND].includes(message.method)) {
      this.counters.badRequest++;
      this.fail(path, message, 400);
      return;
    }
    const credentials = this.authenticate(message, bytes, path);
    if (!credentials) return;
    const tuple = tupleOf(path);
    const allocation = this.allocations.get(tuple);
    // RFC 8656 5: every request on an allocation's 5-tuple uses the username that made it.
    const owner = allocation?.username ?? this.pending.get(tuple)?.username;
    if (owner !== undefined && owner !== credentials.username) {
      this.counters.wrongCredentials++;
      this.fail(path, message, 441, credentials.key);
      return;
    }
    // RFC 8489 6.3.1: unknown comprehension-required attributes are looked for after authentication.
    const unknown = unknownRequiredAttributes(message, KNOWN_ATTRIBUTES);
    if (unknown.length) {
      this.counters.unknownAttribute++;
      const list = Buffer.alloc(unknown.length * 2);
      unknown.forEach((t, i) => list.writeUInt16BE(t, i * 2));
      this.fail(path, message, 420, credentials.key, [{ type: ATTR.UNKNOWN_ATTRIBUTES, value: list }]);
      return;
    }
    if (message.method === ALLOCATE) return this.allocate(message, path, credentials, allocation);
    if (!allocation) {
      // RFC 8656 8.2, 10.2, 12.2: a request on a 5-tuple with no allocation.
      this.counters.allocationMismatch++;
      this.fail(path, message, 437, credentials.key);
      return;
    }
    if (message.method === REFRESH) this.refresh(message, allocation, credentials);
    else if (message.method === CREATE_PERMISSION) this.createPermission(message, allocation, credentials);
    else this.channelBind(message, allocation, credentials);
  }

  /** RFC 8489 9.2.4: the long-term credential checks, in the RFC's order. */
  private authenticate(message: StunMessage, bytes: Buffer, path: ClientPath): Credentials | undefined {
    if (!attribute(message, ATTR.MESSAGE_INTEGRITY)) {
      this.counters.challenged++;
      this.fail(path, message, 401, undefined, this.challengeAttributes(path));
      return undefined;
    }
    const username = attribute(message, ATTR.USERNAME);
    const realm = attribute(message, ATTR.REALM);
    const nonce = attribute(message, ATTR.NONCE);
    if (!username || !realm || !nonce) {
      this.counters.badRequest++;
      this.fail(path, message, 400);
      return undefined;
    }
    if (!this.nonces.isValid(nonce.toString('utf8'), path)) {
      this.counters.staleNonce++;
      this.fail(path, message, 438, undefined, this.challengeAttributes(path));
      return undefined;
    }
    const user = username.toString('utf8');
    // A REALM other than ours cannot verify with our key: the same 401 as a wrong password.
    const password = realm.toString('utf8') === this.realm ? this.host.password(user) : undefined;
    const key = password === undefined ? undefined : longTermKey(user, this.realm, password);
    if (!key || verifyIntegrity(bytes, key) !== 'ok') {
      this.counters.badCredentials++;
      this.host.log?.debug('turn: refused credentials', { username: user, from: path.client });
      this.fail(path, message, 401, undefined, this.challengeAttributes(path));
      return undefined;
    }
    return { username: user, key };
  }

  private challengeAttributes(path: ClientPath): StunAttribute[] {
    return [
      { type: ATTR.REALM, value: Buffer.from(this.realm, 'utf8') },
      { type: ATTR.NONCE, value: Buffer.from(this.nonces.issue(path), 'utf8') },
    ];
  }


  // --- Allocate (RFC 8656 7.2) ---------------------------------------------------------------

  private allocate(message: StunMessage, path: ClientPath, credentials: Credentials, existing: Allocation | undefined): void {
    const tuple = tupleOf(path);
    const key = credentials.key;
    if (existing) {
      // Step 2: the 5-tuple is in use. A retransmission of the request that made it is answered again.
      if (existing.answer.transactionId.equals(message.transactionId)) this.host.sendToClient(path, existing.answer.bytes);
      else this.mismatch(path, message, key);
      return;
    }
    const pending = this.pending.get(tuple);
    if (pending) {
      // The relay port is being opened: a retransmission waits for that answer.
      if (!pending.transactionId.equals(message.transactionId)) this.mismatch(path, message, key);
      return;
    }
    // Step 3: UDP relaying only.
    const transport = decodeRequestedTransport(attribute(message, ATTR.REQUESTED_TRANSPORT));
    if (transport === undefined) return this.badRequest(path, message, key, 'no REQUESTED-TRANSPORT');
    if (transport !== TRANSPORT_UDP) {
      this.counters.unsupportedTransport++;
      this.fail(path, message, 442, key);
      return;
    }
    const evenValue = attribute(message, ATTR.EVEN_PORT);
    const tokenValue = attribute(message, ATTR.RESERVATION_TOKEN);
    const familyValue = attribute(message, ATTR.REQUESTED_ADDRESS_FAMILY);
    const additionalValue = attribute(message, ATTR.ADDITIONAL_ADDRESS_FAMILY);
    if (evenValue && evenValue.length !== 1) return this.badRequest(path, message, key, 'bad EVEN-PORT');
    const reserveNext = evenValue !== undefined && (evenValue[0] & 0x80) !== 0;
    // Step 5: a token names a port already chosen, so it comes alone.
    let reserved: TransportAddress | undefined;
    if (tokenValue) {
      if (evenValue || familyValue || additionalValue || tokenValue.length !== 8) return this.badRequest(path, message, key, 'RESERVATION-TOKEN with EVEN-PORT or an address family');
      const reservation = this.reservations.get(tokenValue.toString('hex'));
      if (!reservation) return this.insufficient(path, message, key, 'unknown or expired reservation token');
      this.host.timers.clear(reservation.timer);
      this.reservations.delete(tokenValue.toString('hex'));
      reserved = reservation.port;
    }
    // Steps 6 and 7: one family, ours.
    if (familyValue && additionalValue) return this.badRequest(path, message, key, 'REQUESTED-ADDRESS-FAMILY with ADDITIONAL-ADDRESS-FAMILY');
    let addressError: StunAttribute | undefined;
    if (familyValue) {
      const family = familyOf(familyValue);
      if (family === undefined) return this.badRequest(path, message, key, 'bad REQUESTED-ADDRESS-FAMILY');
      if (family !== this.relayFamily) return this.releaseAndFail(reserved, () => this.familyError(path, message, key, 440));
    } else if (this.relayFamily !== 4 && !reserved) {
      return this.familyError(path, message, key, 440);
    }
    // Steps 8 and 9: ADDITIONAL-ADDRESS-FAMILY asks for IPv6 besides IPv4; we relay in one family.
    if (additionalValue) {
      const family = familyOf(additionalValue);
      if (family !== 6 || reserveNext) return this.badRequest(path, message, key, 'bad ADDITIONAL-ADDRESS-FAMILY');
      if (this.relayFamily === 4) {
        const value = encodeErrorCode(440, REASONS[440]);
        value[0] = FAMILY_IPV6;
        addressError = { type: ADDRESS_ERROR_CODE, value };
      }
    }
    const requested = attribute(message, ATTR.LIFETIME);
    const lifetimeAsked = decodeUint32(requested);
    if (requested && lifetimeAsked === undefined) return this.releaseAndFail(reserved, () => this.badRequest(path, message, key, 'bad LIFETIME'));
    // Steps 10 and 11: the member's own limits.
    if (this.budget.volumeLeft() <= 0) return this.releaseAndFail(reserved, () => this.insufficient(path, message, key, 'daily relay volume reached'));
    if (this.allocations.size + this.pending.size >= this.policy.maxAllocations) {
      return this.releaseAndFail(reserved, () => this.insufficient(path, message, key, 'all allocations in use'));
    }
    if (this.allocationsOf(credentials.username) >= this.policy.maxAllocationsPerUser) {
      this.counters.userQuota++;
      return this.releaseAndFail(reserved, () => this.fail(path, message, 486, key));
    }

    const allocationId = `turn-${this.nextAllocation++}`;
    const lifetime = this.grantedLifetime(lifetimeAsked);
    this.pending.set(tuple, { transactionId: message.transactionId, username: credentials.username, allocationId });
    const request: RelayPortRequest = { allocationId, family: this.relayFamily, even: evenValue !== undefined, reserveNext, reserved };
    this.host.openRelay(request).then(
      (grant) => this.relayOpened(allocationId, message, path, credentials, grant, lifetime, addressError),
      (error: unknown) => {
        if (this.pending.get(tuple)?.allocationId !== allocationId) return;
        this.pending.delete(tuple);
        this.host.log?.info('turn: no relay port for an allocation', { error: String(error) });
        this.insufficient(path, message, key, 'no relay port');
      },
    );
  }

  private relayOpened(
    allocationId: string,
    message: StunMessage,
    path: ClientPath,
    credentials: Credentials,
    grant: RelayPortGrant,
    lifetime: number,
    addressError?: StunAttribute,
  ): void {
    const tuple = tupleOf(path);
    if (this.pending.get(tuple)?.allocationId !== allocationId) {
      // The connection closed or the server stopped while the port was being opened.
      this.host.closeRelay(allocationId);
      if (grant.reserved) this.host.releaseReserved(grant.reserved);
      return;
    }
    this.pending.delete(tuple);
    const now = this.host.now();
    const attributes: StunAttribute[] = [
      { type: ATTR.XOR_RELAYED_ADDRESS, value: encodeXorAddress(grant.relay, message.transactionId) },
      { type: ATTR.LIFETIME, value: encodeUint32(lifetime) },
    ];
    if (grant.reserved) {
      const token = randomBytes(8);
      const hex = token.toString('hex');
      const port = grant.reserved;
      const timer = this.host.timers.set(RESERVATION_LIFETIME_S * 1000, () => {
        if (this.reservations.delete(hex)) this.host.releaseReserved(port);
      });
      this.reservations.set(hex, { port, timer });
      attributes.push({ type: ATTR.RESERVATION_TOKEN, value: token });
    }
    attributes.push({ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(path.client, message.transactionId) });
    if (addressError) attributes.push(addressError);
    const bytes = this.reply(path, message, 'success', attributes, credentials.key);
    const allocation: Allocation = {
      id: allocationId,
      tuple,
      path,
      username: credentials.username,
      relay: grant.relay,
      family: this.relayFamily,
      createdAt: now,
      expiresAt: now + lifetime * 1000,
      timer: this.expiryTimer(allocationId, lifetime),
      permissions: new Map(),
      channels: new Map(),
      channelOfPeer: new Map(),
      fingerprint: hasFingerprint(message),
      answer: { transactionId: message.transactionId, bytes },
      bytesUp: 0,
      bytesDown: 0,
    };
    this.allocations.set(tuple, allocation);
    this.byId.set(allocation.id, allocation);
    this.host.log?.debug('turn: allocated', { id: allocation.id, username: allocation.username, relay: grant.relay, lifetime });
  }

  private expiryTimer(allocationId: string, lifetimeS: number): TimerHandle {
    return this.host.timers.set(lifetimeS * 1000, () => {
      const allocation = this.byId.get(allocationId);
      if (allocation) this.deleteAllocation(allocation);
    });
  }

  /** RFC 8656 7.2 (and 8.2): min(asked, maximum), but never below the default. */
  private grantedLifetime(asked: number | undefined): number {
    const ceiling = Math.max(1, this.maxLifetimeS);
    const floor = Math.min(DEFAULT_LIFETIME_S, ceiling);
    if (asked === undefined) return floor;
    return Math.max(Math.min(asked, ceiling), floor);
  }

  private deleteAllocation(allocation: Allocation): void {
    this.host.timers.clear(allocation.timer);
    this.allocations.delete(allocation.tuple);
    this.byId.delete(allocation.id);
    this.host.closeRelay(allocation.id);
  }

  private allocationsOf(username: string): number {
    let n = 0;
    for (const a of this.allocations.values()) if (a.username === username) n++;
    for (const p of this.pending.values()) if (p.username === username) n++;
    return n;
  }

  // --- Refresh, CreatePermission, ChannelBind ---------------------------------------------------

  /** RFC 8656 8.2. */
  private refresh(message: StunMessage, allocation: Allocation, credentials: Credentials): void {
    const path = allocation.path;
    const familyValue = attribute(message, ATTR.REQUESTED_ADDRESS_FAMILY);
    if (familyValue && familyOf(familyValue) !== allocation.family) return this.familyError(path, message, credentials.key, 443);
    const requested = attribute(message, ATTR.LIFETIME);
    const asked = decodeUint32(requested);
    if (requested && asked === undefined) return this.badRequest(path, message, credentials.key, 'bad LIFETIME');
    if (asked === 0) {
      this.deleteAllocation(allocation);
      this.reply(path, message, 'success', [{ type: ATTR.LIFETIME, value: encodeUint32(0) }], credentials.key);
      return;
    }
    const lifetime = this.grantedLifetime(asked);
    this.host.timers.clear(allocation.timer);
    allocation.timer = this.expiryTimer(allocation.id, lifetime);
    allocation.expiresAt = this.host.now() + lifetime * 1000;
    this.reply(path, message, 'success', [{ type: ATTR.LIFETIME, value: encodeUint32(lifetime) }], credentials.key);
  }

  /** RFC 8656 10.2: all the peers' permissions are installed, or none. */
  private createPermission(message: StunMessage, allocation: Allocation, credentials: Credentials): void {
    const path = allocation.path;
    const values = message.attributes.filter((a) => a.type === ATTR.XOR_PEER_ADDRESS);
    const peers = values.map((a) => decodeXorAddress(a.value, message.transactionId));
    if (!peers.length || peers.some((p) => !p)) return this.badRequest(path, message, credentials.key, 'no or bad XOR-PEER-ADDRESS');
    const valid = peers as TransportAddress[];
    if (valid.some((p) => familyOfAddress(p.address) !== allocation.family)) return this.familyError(path, message, credentials.key, 443);
    if (valid.some((p) => this.peers.forbids(p.address))) return this.forbidden(path, message, credentials.key);
    const now = this.host.now();
    this.prune(allocation, now);
    for (const peer of valid) allocation.permissions.set(peer.address, now + PERMISSION_LIFETIME_S * 1000);
    this.reply(path, message, 'success', [], credentials.key);
  }

  /** RFC 8656 12.2. */
  private channelBind(message: StunMessage, allocation: Allocation, credentials: Credentials): void {
    const path = allocation.path;
    const key = credentials.key;
    const channel = decodeChannelNumber(attribute(message, ATTR.CHANNEL_NUMBER));
    const peerValue = attribute(message, ATTR.XOR_PEER_ADDRESS);
    const peer = peerValue && decodeXorAddress(peerValue, message.transactionId);
    if (channel === undefined || channel < MIN_CHANNEL || channel > this.maxChannel || !peer) return this.badRequest(path, message, key, 'bad CHANNEL-NUMBER or XOR-PEER-ADDRESS');
    if (familyOfAddress(peer.address) !== allocation.family) return this.familyError(path, message, key, 443);
    if (this.peers.forbids(peer.address)) return this.forbidden(path, message, key);
    const now = this.host.now();
    this.prune(allocation, now);
    // A live binding is never moved: neither the number to another peer nor the peer to another number.
    const bound = allocation.channels.get(channel);
    if (bound && !sameAddress(bound.peer, peer)) return this.badRequest(path, message, key, 'channel bound to another peer');
    const numberOfPeer = allocation.channelOfPeer.get(addressKey(peer));
    if (numberOfPeer !== undefined && numberOfPeer !== channel) return this.badRequest(path, message, key, 'peer bound to another channel');
    allocation.channels.set(channel, { peer, expiresAt: now + CHANNEL_LIFETIME_S * 1000 });
    allocation.channelOfPeer.set(addressKey(peer), channel);
    // The binding installs or refreshes the peer's permission too.
    allocation.permissions.set(peer.address, now + PERMISSION_LIFETIME_S * 1000);
    this.reply(path, message, 'success', [], key);
  }

  /** Expired permissions and bindings go (the RFC lets a client rebind an expired channel). */
  private prune(allocation: Allocation, now: number): void {
    for (const [ip, at] of allocation.permissions) if (at <= now) allocation.permissions.delete(ip);
    for (const [number, binding] of allocation.channels) {
      if (binding.expiresAt > now) continue;
      allocation.channels.delete(number);
      allocation.channelOfPeer.delete(addressKey(binding.peer));
    }
  }

  // --- Data both ways --------------------------------------------------------------------------

  /** RFC 8656 11.2: a Send indication with no allocation, peer, data or permission is discarded. */
  private sendIndication(message: StunMessage, path: ClientPath): void {
    const allocation = this.allocations.get(tupleOf(path));
    if (!allocation) {
      this.counters.noAllocation++;
      return;
    }
    // RFC 8489 6.3.2: an indication with an unknown comprehension-required attribute (DONT-FRAGMENT among them) is dropped.
    if (unknownRequiredAttributes(message, KNOWN_ATTRIBUTES).length) {
      this.counters.unknownAttribute++;
      return;
    }
    const peerValue = attribute(message, ATTR.XOR_PEER_ADDRESS);
    const peer = peerValue && decodeXorAddress(peerValue, message.transactionId);
    const data = attribute(message, ATTR.DATA);
    if (!peer || !data) {
      this.counters.malformed++;
      return;
    }
    if (!this.hasPermission(allocation, peer.address)) {
      this.counters.noPermission++;
      return;
    }
    this.relayToPeer(allocation, peer, data);
  }

  /** RFC 7983: a first byte of 64-79 (RFC 5766: up to 127) is ChannelData. */
  isChannelData(bytes: Buffer): boolean {
    return bytes.length >= 4 && bytes[0] >= MIN_CHANNEL >> 8 && bytes[0] <= this.maxChannel >> 8;
  }

  /** RFC 8656 12.6. */
  private channelDataFromClient(bytes: Buffer, path: ClientPath): void {
    const message = this.parseChannelData(bytes);
    if (!message) {
      this.counters.malformed++;
      return;
    }
    const allocation = this.allocations.get(tupleOf(path));
    if (!allocation) {
      this.counters.noAllocation++;
      return;
    }
    const binding = allocation.channels.get(message.channel);
    if (!binding || binding.expiresAt <= this.host.now()) {
      this.counters.unboundChannel++;
      return;
    }
    if (!this.hasPermission(allocation, binding.peer.address)) {
      this.counters.noPermission++;
      return;
    }
    this.relayToPeer(allocation, binding.peer, message.data);
  }

  /** The codec's parser for RFC 8656 numbers; the same framing for the RFC 5766 ones. */
  private parseChannelData(bytes: Buffer): { channel: number; data: Buffer } | undefined {
    if (looksLikeChannelData(bytes)) return parseChannelData(bytes);
    const channel = bytes.readUInt16BE(0);
    const length = bytes.readUInt16BE(2);
    if (channel > this.maxChannel || 4 + length > bytes.length) return undefined;
    return { channel, data: bytes.subarray(4, 4 + length) };
  }

  /** RFC 8656 11.3 and 12.7: from a permitted peer, as ChannelData when a channel is bound, else a Data indication. */
  private fromPeer(allocationId: string, data: Buffer, from: TransportAddress): void {
    const allocation = this.byId.get(allocationId);
    if (!allocation) {
      this.counters.noAllocation++;
      return;
    }
    if (!this.hasPermission(allocation, from.address)) {
      this.counters.noPermission++;
      return;
    }
    if (!this.admit(data.length)) return;
    const now = this.host.now();
    const number = allocation.channelOfPeer.get(addressKey(from));
    const binding = number === undefined ? undefined : allocation.channels.get(number);
    let bytes: Buffer;
    if (number !== undefined && binding && binding.expiresAt > now) {
      // RFC 8656 12.5: over TCP, ChannelData is padded to a multiple of four.
      bytes = encodeChannelData(number, data, allocation.path.transport === 'tcp');
    } else {
      const transactionId = Buffer.alloc(12);
      this.indicationPrefix.copy(transactionId, 0);
      transactionId.writeUInt32BE(this.nextIndication >>> 0, 8);
      transactionId.writeUInt32BE(Math.floor(this.nextIndication++ / 2 ** 32) >>> 0, 4);
      const indication: StunMessage = {
        method: DATA,
        klass: 'indication',
        transactionId,
        attributes: [
          { type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(from, transactionId) },
          { type: ATTR.DATA, value: data },
        ],
      };
      bytes = serializeStun(indication, { fingerprint: allocation.fingerprint });
    }
    allocation.bytesDown += data.length;
    this.budget.carried('down', data.length);
    this.host.sendToClient(allocation.path, bytes);
  }

  private relayToPeer(allocation: Allocation, peer: TransportAddress, data: Buffer): void {
    if (!this.admit(data.length)) return;
    allocation.bytesUp += data.length;
    this.budget.carried('up', data.length);
    this.host.sendToPeer(allocation.id, peer, data);
  }

  /** RFC 8656 9: data does not refresh a permission; only CreatePermission and ChannelBind do. */
  private hasPermission(allocation: Allocation, ip: string): boolean {
    const until = allocation.permissions.get(ip);
    return until !== undefined && until > this.host.now();
  }

  /** The daily volume cap, then the shared token bucket; a refusal is counted. */
  private admit(bytes: number): boolean {
    const admission = this.budget.admit(bytes);
    if (admission === 'over-volume') this.counters.overVolume++;
    if (admission === 'over-bandwidth') this.counters.overBandwidth++;
    return admission === 'ok';
  }

  // --- Answers ---------------------------------------------------------------------------------

  /** Serialises and sends an answer: MESSAGE-INTEGRITY with the request's key (RFC 8489 9.2.4), FINGERPRINT when the request had one. */
  private reply(path: ClientPath, request: StunMessage, klass: 'success' | 'error', attributes: StunAttribute[], key?: Buffer): Buffer {
    if (this.software) attributes = [...attributes, { type: ATTR.SOFTWARE, value: this.software }];
    const bytes = serializeStun(
      { method: request.method, klass, transactionId: request.transactionId, attributes },
      { integrityKey: key, fingerprint: hasFingerprint(request) },
    );
    this.host.sendToClient(path, bytes);
    return bytes;
  }

  private fail(path: ClientPath, request: StunMessage, code: number, key?: Buffer, extra: StunAttribute[] = []): void {
    this.reply(path, request, 'error', [{ type: ATTR.ERROR_CODE, value: encodeErrorCode(code, REASONS[code] ?? 'Error') }, ...extra], key);
  }

  private badRequest(path: ClientPath, request: StunMessage, key: Buffer, why: string): void {
    this.counters.badRequest++;
    this.host.log?.debug(`turn: 400 ${why}`, { from: path.client });
    this.fail(path, request, 400, key);
  }
  private mismatch(path: ClientPath, request: StunMessage, key: Buffer): void {
    this.counters.allocationMismatch++;
    this.fail(path, request, 437, key);
  }
  private insufficient(path: ClientPath, request: StunMessage, key: Buffer, why: string): void {
    this.counters.capacity++;
    this.host.log?.debug(`turn: 508 ${why}`, { from: path.client });
    this.fail(path, request, 508, key);
  }
  private forbidden(path: ClientPath, request: StunMessage, key: Buffer): void {
    this.counters.forbiddenPeer++;
    this.fail(path, request, 403, key);
  }
  private familyError(path: ClientPath, request: StunMessage, key: Buffer, code: 440 | 443): void {
    this.counters.addressFamily++;
    this.fail(path, request, code, key);
  }

  /** A refused Allocate that had claimed a reserved port gives it back. */
  private releaseAndFail(reserved: TransportAddress | undefined, refuse: () => void): void {
    if (reserved) this.host.releaseReserved(reserved);
    refuse();
  }
}

function tupleOf(path: ClientPath): string {
  return `${path.transport}|${path.connection ?? ''}|${path.client.address}|${path.client.port}|${path.server.address}|${path.server.port}`;
}

function addressKey(a: TransportAddress): string {
  return `${a.address}|${a.port}`;
}

function sameAddress(a: TransportAddress, b: TransportAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

function hasFingerprint(message: StunMessage): boolean {
  return message.attributes.some((a) => a.type === ATTR.FINGERPRINT);
}

/** REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY (RFC 8656 18.6, 18.11): a family byte, three reserved. */
function familyOf(value: Buffer): 4 | 6 | undefined {
  if (value.length !== 4) return undefined;
  return value[0] === FAMILY_IPV4 ? 4 : value[0] === FAMILY_IPV6 ? 6 : undefined;
}

function familyOfAddress(ip: string): 4 | 6 | undefined {
  return isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : undefined;
}

function definedOnly<T extends object>(change: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as Partial<T>;
}
