// A TURN client (RFC 8656) for one allocation on one server, sans-IO: the caller owns the socket
// or TCP connection towards the server, gives send() and the timers, and hands every message from
// the server to receive(). It authenticates with long-term credentials (RFC 8489 9.2), keeps the
// allocation, its permissions and its channels fresh until close(), and carries application data
// to and from peers as Send/Data indications or, once a channel is bound, as ChannelData.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { TimerHandle, TimerHost } from '../sip/timers.js';
import { longTermKey, verifyIntegrity } from '../../wire/stun/integrity.js';
import {
  ALLOCATE,
  ATTR,
  CHANNEL_BIND,
  CREATE_PERMISSION,
  DATA,
  REFRESH,
  SEND,
  attribute,
  decodeAddress,
  decodeErrorCode,
  decodeXorAddress,
  encodeXorAddress,
  parseStun,
  serializeStun,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../wire/stun/message.js';
import {
  MAX_CHANNEL,
  MIN_CHANNEL,
  TRANSPORT_UDP,
  decodeUint32,
  encodeChannelData,
  encodeChannelNumber,
  encodeRequestedTransport,
  encodeUint32,
  looksLikeChannelData,
  parseChannelData,
} from '../../wire/stun/turn.js';

/** RFC 8656 9: a permission lives 300 s; refreshing a minute early survives a lost request. */
export const PERMISSION_REFRESH_MS = 240_000;
/** RFC 8656 12: a channel binding lives 600 s. */
export const CHANNEL_REFRESH_MS = 540_000;
/** RFC 8656 7.2: what the server grants when it does not say. */
const DEFAULT_LIFETIME_S = 600;
/** RFC 8489 14.15 ALTERNATE-SERVER (plain address form), carried by 300 Try Alternate. */
const ALTERNATE_SERVER = 0x8023;
/** RFC 8489 6.2.1: the last wait is Rm times the first RTO. */
const LAST_WAIT_FACTOR = 16;
/** A server that keeps saying 438 is not going to stop; a few new nonces are enough. */
const STALE_NONCE_RETRIES = 3;
/** STUN and ChannelData lengths are 16 bits; leave room for the Send indication's attributes. */
const MAX_DATA = 65_500;

export interface TurnClientOptions {
  server: TransportAddress;
  transport: 'udp' | 'tcp';
  username: string;
  password: string;
  timers: TimerHost;
  now(): number;
  /** Towards the server. Over TCP the caller writes it to the stream. */
  send(bytes: Buffer): void;
  /** Application data a peer sent through the relay. */
  onData(data: Buffer, from: TransportAddress): void;
  /** The allocation is lost (a refresh failed, the server stopped answering). Not called by close(). */
  onFailed?(reason: string): void;
  /** UDP only: the first retransmission wait, doubled each time (RFC 8489 6.2.1: 500 ms). */
  rtoMs?: number;
  /** UDP only: how many times a request is sent (RFC 8489 6.2.1 Rc: 7). */
  sends?: number;
  /** TCP only: no retransmissions, one deadline (RFC 8489 6.2.2: 39.5 s). */
  tcpTimeoutMs?: number;
  /** LIFETIME asked for in Allocate and Refresh, in seconds; the server's default when absent. */
  lifetimeS?: number;
}

export type AllocateOutcome =
  | { ok: true; relayed: TransportAddress; mapped: TransportAddress; lifetimeS: number; rttMs: number }
  | { ok: false; code?: number; reason: string; alternate?: TransportAddress };

export type TurnClientState = 'idle' | 'allocating' | 'allocated' | 'closing' | 'closed' | 'failed';

type Exchange = { message: StunMessage; rttMs: number } | { failure: string };
type Answer = { ok: true; message: StunMessage; rttMs: number } | { ok: false; code?: number; reason: string; message?: StunMessage };

interface Transaction {
  method: number;
  /** The long-term key the request was signed with: its answer must be signed with it too. */
  key?: Buffer;
  sentAt: number;
  timer?: TimerHandle;
  settle(exchange: Exchange): void;
}

interface Credentials {
  realm: string;
  nonce: string;
  key: Buffer;
}

interface Permission {
  ip: string;
  /** Any address of the peer: XOR-PEER-ADDRESS needs a port, the permission ignores it (RFC 8656 9). */
  peer: TransportAddress;
  installed: boolean;
  pending?: Promise<boolean>;
  timer?: TimerHandle;
}

interface Channel {
  number: number;
  peer: TransportAddress;
  bound: boolean;
  pending?: Promise<boolean>;
  timer?: TimerHandle;
}

const REASONS: Record<number, string> = {
  300: 'the TURN server sends us to another server',
  401: 'the TURN server refused the username or password',
  403: 'the TURN server forbids it',
  437: 'the TURN server has no allocation of ours any more',
  438: 'the TURN server kept rejecting our nonce',
  440: 'the TURN server does not relay that address family',
  441: 'the TURN server says the credentials do not match the allocation',
  442: 'the TURN server does not relay that transport',
  443: 'the peer address family does not match the relayed address',
  486: 'the TURN server has reached its allocation quota for this user',
  508: 'the TURN server has no capacity for another allocation',
};

export class TurnClient {
  readonly counters = {
    /** Transactions started (a retry after 401 or 438 is a new one). */
    requests: 0,
    retransmissions: 0,
    timeouts: 0,
    /** 401s answered with credentials. */
    challenges: 0,
    staleNonces: 0,
    /** Answers to our transactions whose MESSAGE-INTEGRITY did not verify, or signed successes missing it: dropped. */
    forged: 0,
    /** Bytes that are neither a STUN message nor ChannelData, or lack what their kind must carry: dropped. */
    malformed: 0,
    /** Answers to no transaction of ours (late duplicates after a retransmission, strays). */
    unmatched: 0,
    refreshes: 0,
    permissionRefreshes: 0,
    channelRefreshes: 0,
    channelBindFailures: 0,
    sendIndications: 0,
    channelDataSent: 0,
    /** sendTo() a peer without a permission, before allocation, after close, or too big: dropped. */
    droppedSends: 0,
    dataIndications: 0,
    channelDataReceived: 0,
    /** Data from a peer we never permitted, or on a channel we never bound: dropped. */
    unexpectedData: 0,
    /** The caller's send() threw (a closed socket): the request times out like a lost one. */
    sendErrors: 0,
  };

  private status: TurnClientState = 'idle';
  private credentials?: Credentials;
  private allocation?: { relayed: TransportAddress; mapped: TransportAddress };
  private refreshTimer?: TimerHandle;
  private readonly transactions = new Map<string, Transaction>();
  private readonly permissions = new Map<string, Permission>();
  private readonly channels = new Map<string, Channel>();
  private readonly channelsByNumber = new Map<number, Channel>();
  private nextChannel = MIN_CHANNEL;
  private closing?: Promise<void>;

  constructor(private readonly options: TurnClientOptions) {}

  get state(): TurnClientState {
    return this.status;
  }
  get relayed(): TransportAddress | undefined {
    return this.allocation?.relayed;
  }
  get mapped(): TransportAddress | undefined {
    return this.allocation?.mapped;
  }

  /** RFC 8656 7.1. One allocation per client: after a failure, make a new client. */
  async allocate(): Promise<AllocateOutcome> {
    if (this.status !== 'idle') return { ok: false, reason: `cannot allocate: the TURN client is ${this.status}` };
    this.status = 'allocating';
    const answer = await this.request(ALLOCATE, () => [
      { type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(TRANSPORT_UDP) },
      ...this.lifetimeAttribute(),
    ]);
    if (this.status !== 'allocating') return { ok: false, reason: 'the TURN client was closed' };
    if (!answer.ok) {
      this.status = 'failed';
      const alternateValue = answer.code === 300 ? answer.message && attribute(answer.message, ALTERNATE_SERVER) : undefined;
      const alternate = alternateValue && decodeAddress(alternateValue);
      return { ok: false, reason: answer.reason, ...(answer.code !== undefined && { code: answer.code }), ...(alternate && { alternate }) };
    }
    const m = answer.message;
    const relayedValue = attribute(m, ATTR.XOR_RELAYED_ADDRESS);
    const mappedValue = attribute(m, ATTR.XOR_MAPPED_ADDRESS);
    const relayed = relayedValue && decodeXorAddress(relayedValue, m.transactionId);
    const mapped = mappedValue && decodeXorAddress(mappedValue, m.transactionId);
    if (!relayed || !mapped) {
      this.status = 'failed';
      return { ok: false, reason: 'the TURN server accepted the Allocate without saying the relayed and mapped addresses (RFC 8656 7.3)' };
    }
    const lifetimeS = decodeUint32(attribute(m, ATTR.LIFETIME)) ?? DEFAULT_LIFETIME_S;
    this.allocation = { relayed, mapped };
    this.status = 'allocated';
    this.scheduleRefresh(lifetimeS);
    return { ok: true, relayed, mapped, lifetimeS, rttMs: answer.rttMs };
  }

  /**
   * RFC 8656 9 and 12: installs a permission for the peer's IP (CreatePermission), then binds a
   * channel to its address (ChannelBind) so data goes as ChannelData; both are refreshed until
   * close(). Resolves once both were tried: true when the permission is installed (a failed
   * ChannelBind only leaves data going as Send indications).
   */
  async permit(peer: TransportAddress): Promise<boolean> {
    if (this.status !== 'allocated' || !validAddress(peer)) return false;
    if (!(await this.ensurePermission(peer))) return false;
    await this.ensureChannel(peer);
    return this.status === 'allocated' && this.permissions.get(peer.address)?.installed === true;
  }

  /** ChannelData when a channel is bound to the peer, else a Send indication (RFC 8656 11.1, 12.6). */
  sendTo(peer: TransportAddress, data: Buffer): void {
    if (this.status !== 'allocated' || !this.permissions.get(peer.address)?.installed || data.length > MAX_DATA || !validAddress(peer)) {
      this.counters.droppedSends++;
      return;
    }
    const channel = this.channels.get(addressKey(peer));
    if (channel?.bound) {
      this.counters.channelDataSent++;
      this.emit(encodeChannelData(channel.number, data, this.options.transport === 'tcp'));
      return;
    }
    const transactionId = randomBytes(12);
    this.counters.sendIndications++;
    this.emit(
      serializeStun({
        method: SEND,
        klass: 'indication',
        transactionId,
        attributes: [
          { type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, transactionId) },
          { type: ATTR.DATA, value: data },
        ],
      }),
    );
  }

  /**
   * Every datagram from the server (UDP: the caller checks the source), or every message the
   * TurnStreamReader cut from the connection (TCP). False when it is not TURN traffic of ours or
   * was dropped (malformed, forged, unexpected: see counters). Never throws.
   */
  receive(bytes: Buffer): boolean {
    if (this.status === 'idle' || this.status === 'closed' || this.status === 'failed') return false;
    if (looksLikeChannelData(bytes)) return this.receiveChannelData(bytes);
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformed++;
      return false;
    }
    const message = parsed.message;
    if (message.klass === 'indication' && message.method === DATA) return this.receiveDataIndication(message);
    if (message.klass !== 'success' && message.klass !== 'error') {
      this.counters.unmatched++;
      return false;
    }
    const id = message.transactionId.toString('hex');
    const transaction = this.transactions.get(id);
    if (!transaction || transaction.method !== message.method) {
      this.counters.unmatched++;
      return false;
    }
    if (!authentic(bytes, message, transaction)) {
      // RFC 8489 9.2.5: an answer that fails the integrity check is discarded as if never received.
      this.counters.forged++;
      return false;
    }
    transaction.settle({ message, rttMs: this.options.now() - transaction.sentAt });
    return true;
  }

  /** RFC 8656 7.2: a Refresh with LIFETIME 0 deletes the allocation. Stops every timer; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const held = this.status === 'allocated';
    if (this.status !== 'failed') this.status = 'closing';
    this.stopEverything('the TURN client was closed');
    if (held) await this.request(REFRESH, () => [{ type: ATTR.LIFETIME, value: encodeUint32(0) }], true);
    this.status = 'closed';
    this.stopEverything('the TURN client was closed');
  }

  // --- the allocation's life ---------------------------------------------------------------

  private scheduleRefresh(lifetimeS: number): void {
    // RFC 8656 8: refresh before the lifetime runs out; a minute early leaves room for UDP's
    // 39.5 s of retransmissions, half the lifetime when it is too short for that.
    const afterS = lifetimeS > 120 ? lifetimeS - 60 : lifetimeS / 2;
    this.refreshTimer = this.options.timers.set(afterS * 1000, () => void this.refreshAllocation());
  }

  private async refreshAllocation(): Promise<void> {
    this.refreshTimer = undefined;
    const answer = await this.request(REFRESH, () => this.lifetimeAttribute());
    if (this.status !== 'allocated') return;
    if (!answer.ok) return this.fail(`refreshing the allocation failed: ${answer.reason}`);
    const lifetimeS = decodeUint32(attribute(answer.message, ATTR.LIFETIME)) ?? DEFAULT_LIFETIME_S;
    if (lifetimeS === 0) return this.fail('the TURN server ended the allocation');
    this.counters.refreshes++;
    this.scheduleRefresh(lifetimeS);
  }

  private lifetimeAttribute(): StunAttribute[] {
    const s = this.options.lifetimeS;
    return s === undefined ? [] : [{ type: ATTR.LIFETIME, value: encodeUint32(s) }];
  }

  private fail(reason: string): void {
    if (this.status === 'failed' || this.status === 'closed') return;
    this.status = 'failed';
    this.stopEverything(reason);
    this.options.onFailed?.(reason);
  }

  private stopEverything(reason: string): void {
    if (this.refreshTimer) this.options.timers.clear(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const p of this.permissions.values()) if (p.timer) this.options.timers.clear(p.timer);
    for (const c of this.channels.values()) if (c.timer) this.options.timers.clear(c.timer);
    this.permissions.clear();
    this.channels.clear();
    this.channelsByNumber.clear();
    this.allocation = undefined;
    for (const t of [...this.transactions.values()]) t.settle({ failure: reason });
  }

  /** A refresh answer that means the allocation is gone: 437, or no answer at all (RFC 8656 7.3). */
  private allocationLost(answer: Answer): boolean {
    if (answer.ok || (answer.code !== undefined && answer.code !== 437)) return false;
    this.fail(answer.code === 437 ? REASONS[437] : `the TURN server stopped answering (${answer.reason})`);
    return true;
  }

  // --- permissions and channels ------------------------------------------------------------

  private ensurePermission(peer: TransportAddress): Promise<boolean> {
    const existing = this.permissions.get(peer.address);
    if (existing?.installed) return Promise.resolve(true);
    if (existing?.pending) return existing.pending;
    const permission: Permission = { ip: peer.address, peer, installed: false };
    this.permissions.set(peer.address, permission);
    permission.pending = this.createPermission(peer).then((answer) => {
      permission.pending = undefined;
      if (this.permissions.get(permission.ip) !== permission) return false;
      if (!answer.ok) {
        this.permissions.delete(permission.ip);
        return false;
      }
      permission.installed = true;
      this.schedulePermissionRefresh(permission);
      return true;
    });
    return permission.pending;
  }

  private createPermission(peer: TransportAddress): Promise<Answer> {
    return this.request(CREATE_PERMISSION, (transactionId) => [{ type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, transactionId) }]);
  }

  private schedulePermissionRefresh(permission: Permission): void {
    permission.timer = this.options.timers.set(PERMISSION_REFRESH_MS, async () => {
      permission.timer = undefined;
      const answer = await this.createPermission(permission.peer);
      if (this.status !== 'allocated' || this.permissions.get(permission.ip) !== permission) return;
      if (answer.ok) {
        this.counters.permissionRefreshes++;
        this.schedulePermissionRefresh(permission);
        return;
      }
      if (this.allocationLost(answer)) return;
      // Refused for this peer only (403 and the like): stop sending to it, channels included.
      this.permissions.delete(permission.ip);
      for (const [key, channel] of this.channels) if (channel.peer.address === permission.ip) this.dropChannel(key, channel);
    });
  }

  private ensureChannel(peer: TransportAddress): Promise<boolean> {
    const key = addressKey(peer);
    let channel = this.channels.get(key);
    if (channel?.bound) return Promise.resolve(true);
    if (channel?.pending) return channel.pending;
    if (!channel) {
      // RFC 8656 12: numbers are never rebound to another peer while in use; 4096 of them will
      // outlast any ICE session, and past that data just goes as Send indications.
      if (this.nextChannel > MAX_CHANNEL) return Promise.resolve(false);
      channel = { number: this.nextChannel++, peer, bound: false };
      this.channels.set(key, channel);
      // Known before the answer: over UDP the server's first ChannelData may overtake it.
      this.channelsByNumber.set(channel.number, channel);
    }
    const c = channel;
    c.pending = this.bindChannel(c).then((answer) => {
      c.pending = undefined;
      if (this.channels.get(key) !== c) return false;
      if (!answer.ok) {
        this.counters.channelBindFailures++;
        this.dropChannel(key, c);
        return false;
      }
      c.bound = true;
      this.scheduleChannelRefresh(key, c);
      return true;
    });
    return c.pending;
  }

  private bindChannel(channel: Channel): Promise<Answer> {
    return this.request(CHANNEL_BIND, (transactionId) => [
      { type: ATTR.CHANNEL_NUMBER, value: encodeChannelNumber(channel.number) },
      { type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(channel.peer, transactionId) },
    ]);
  }

  private scheduleChannelRefresh(key: string, channel: Channel): void {
    // RFC 8656 12.2: a ChannelBind for the same number and peer refreshes the binding.
    channel.timer = this.options.timers.set(CHANNEL_REFRESH_MS, async () => {
      channel.timer = undefined;
      const answer = await this.bindChannel(channel);
      if (this.status !== 'allocated' || this.channels.get(key) !== channel) return;
      if (answer.ok) {
        this.counters.channelRefreshes++;
        this.scheduleChannelRefresh(key, channel);
        return;
      }
      if (this.allocationLost(answer)) return;
      this.counters.channelBindFailures++;
      this.dropChannel(key, channel);
    });
  }

  private dropChannel(key: string, channel: Channel): void {
    if (channel.timer) this.options.timers.clear(channel.timer);
    this.channels.delete(key);
    this.channelsByNumber.delete(channel.number);
  }

  // --- data from peers ---------------------------------------------------------------------

  private receiveChannelData(bytes: Buffer): boolean {
    const message = parseChannelData(bytes);
    if (!message) {
      this.counters.malformed++;
      return false;
    }
    const channel = this.channelsByNumber.get(message.channel);
    if (!channel) {
      this.counters.unexpectedData++;
      return false;
    }
    this.counters.channelDataReceived++;
    this.options.onData(message.data, channel.peer);
    return true;
  }

  private receiveDataIndication(message: StunMessage): boolean {
    // RFC 8656 11.6: XOR-PEER-ADDRESS and DATA must both be there, else the indication is dropped.
    const peerValue = attribute(message, ATTR.XOR_PEER_ADDRESS);
    const data = attribute(message, ATTR.DATA);
    const from = peerValue && decodeXorAddress(peerValue, message.transactionId);
    if (!from || !data) {
      this.counters.malformed++;
      return false;
    }
    if (!this.permissions.get(from.address)?.installed) {
      this.counters.unexpectedData++;
      return false;
    }
    this.counters.dataIndications++;
    this.options.onData(data, from);
    return true;
  }

  // --- transactions ------------------------------------------------------------------------

  /**
   * One request until a final answer, following the long-term credential mechanism (RFC 8489
   * 9.2.5): a 401 with REALM and NONCE is answered once with credentials; 438 Stale Nonce is
   * retried with the new nonce, which every later request then carries. `attributes` is asked
   * again for each transaction because XOR addresses depend on its ID.
   */
  private async request(method: number, attributes: (transactionId: Buffer) => StunAttribute[], duringClose = false): Promise<Answer> {
    let challenged = false;
    let staleRetries = 0;
    for (;;) {
      const result = await this.transact(method, attributes, duringClose);
      if ('failure' in result) return { ok: false, reason: result.failure };
      const message = result.message;
      if (message.klass === 'success') return { ok: true, message, rttMs: result.rttMs };
      const errorValue = attribute(message, ATTR.ERROR_CODE);
      const error = errorValue && decodeErrorCode(errorValue);
      const realm = attribute(message, ATTR.REALM)?.toString('utf8');
      const nonce = attribute(message, ATTR.NONCE)?.toString('utf8');
      if (error?.code === 401 && !challenged && realm && nonce) {
        challenged = true;
        this.counters.challenges++;
        this.useCredentials(realm, nonce);
        continue;
      }
      if (error?.code === 438 && nonce && this.credentials && staleRetries < STALE_NONCE_RETRIES) {
        staleRetries++;
        this.counters.staleNonces++;
        this.useCredentials(realm ?? this.credentials.realm, nonce);
        continue;
      }
      if (!error) return { ok: false, reason: 'the TURN server answered with an error without ERROR-CODE', message };
      const sentence = REASONS[error.code] ?? 'the TURN server refused the request';
      // coturn ends its reason phrases with a NUL.
      const phrase = error.reason.replace(/\0+$/, '');
      return { ok: false, code: error.code, reason: `${sentence} (${error.code}${phrase ? ` ${phrase}` : ''})`, message };
    }
  }

  private emit(bytes: Buffer): void {
    try {
      this.options.send(bytes);
    } catch {
      this.counters.sendErrors++;
    }
  }

  private useCredentials(realm: string, nonce: string): void {
    const key = this.credentials?.realm === realm ? this.credentials.key : longTermKey(this.options.username, realm, this.options.password);
    this.credentials = { realm, nonce, key };
  }

  /** RFC 8489 6.2.1 (UDP: resend after RTO, 2 RTO, ...; give up Rm RTO after the last) and 6.2.2 (TCP: send once). */
  private transact(method: number, attributes: (transactionId: Buffer) => StunAttribute[], duringClose: boolean): Promise<Exchange> {
    const open = this.status === 'allocating' || this.status === 'allocated' || (this.status === 'closing' && duringClose);
    if (!open) return Promise.resolve({ failure: `the TURN client is ${this.status}` });
    const transactionId = randomBytes(12);
    const credentials = this.credentials;
    const all = attributes(transactionId);
    if (credentials) {
      all.push(
        { type: ATTR.USERNAME, value: Buffer.from(this.options.username, 'utf8') },
        { type: ATTR.REALM, value: Buffer.from(credentials.realm, 'utf8') },
        { type: ATTR.NONCE, value: Buffer.from(credentials.nonce, 'utf8') },
      );
    }
    const bytes = serializeStun({ method, klass: 'request', transactionId, attributes: all }, { integrityKey: credentials?.key, fingerprint: true });
    const id = transactionId.toString('hex');
    const timers = this.options.timers;
    return new Promise<Exchange>((resolve) => {
      const transaction: Transaction = {
        method,
        key: credentials?.key,
        sentAt: this.options.now(),
        settle: (exchange) => {
          if (transaction.timer) timers.clear(transaction.timer);
          this.transactions.delete(id);
          resolve(exchange);
        },
      };
      this.transactions.set(id, transaction);
      this.counters.requests++;
      this.emit(bytes);
      const timeOut = () => {
        this.counters.timeouts++;
        transaction.settle({ failure: 'no answer from the TURN server' });
      };
      if (this.options.transport === 'tcp') {
        transaction.timer = timers.set(this.options.tcpTimeoutMs ?? 39_500, timeOut);
        return;
      }
      const rto = this.options.rtoMs ?? 500;
      const sends = this.options.sends ?? 7;
      let wait = rto;
      let sent = 1;
      const arm = () => {
        if (sent >= sends) {
          transaction.timer = timers.set(rto * LAST_WAIT_FACTOR, timeOut);
          return;
        }
        transaction.timer = timers.set(wait, () => {
          this.counters.retransmissions++;
          this.emit(bytes);
          sent++;
          wait *= 2;
          arm();
        });
      };
      arm();
    });
  }
}

/**
 * RFC 8489 9.2.5: an answer to a signed request is believed only if its MESSAGE-INTEGRITY
 * verifies with the same key. A success must carry it; an error may not (the server cannot sign a
 * 401 or 438 when it no longer accepts our nonce), but one that carries a bad one is forged.
 */
function authentic(bytes: Buffer, message: StunMessage, transaction: Transaction): boolean {
  if (!transaction.key) return true;
  const verdict = verifyIntegrity(bytes, transaction.key);
  if (verdict === 'bad') return false;
  return verdict === 'ok' || message.klass === 'error';
}

function validAddress(a: TransportAddress): boolean {
  return isIP(a.address) !== 0 && Number.isInteger(a.port) && a.port >= 0 && a.port <= 0xffff;
}

function addressKey(a: TransportAddress): string {
  return `${a.address}|${a.port}`;
}
