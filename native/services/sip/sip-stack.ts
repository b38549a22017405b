// The SIP service: sockets, codec and transaction layer wired together. Other services
// register a handler per method and send requests through `request()`.
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import type { ClientOutcome } from '../../proto/sip/non-invite-client-transaction.js';
import { T1, T2, type TimerHandle, type TimerHost } from '../../proto/sip/timers.js';
import { TransactionLayer } from '../../proto/sip/transaction-layer.js';
import type { InviteServerTransaction } from '../../proto/sip/invite-server-transaction.js';
import {
  encodeBody,
  generateBranch,
  generateCallId,
  makeResponse,
  parseSipMessage,
  randomTag,
  serializeSipMessage,
  type SipRequest,
  type SipResponse,
} from '../../wire/sip/message.js';
import { CERTIFICATE_URI_PARAM, hostForUri, isTlsUri, parseSipUri, pinnedTlsUri, type SipUri } from '../../wire/sip/uri.js';
import type { TlsCredentials } from '../../wire/crypto/certificate.js';
import { locateSipServers, type SipDns } from '../../proto/sip/rfc3263.js';
import { systemSipDns } from '../../transport/dns.js';
import { SipSockets, TlsCertificateError, type Remote, type SipProtocol } from '../../transport/sip-sockets.js';
import { limitClassOf, RequestLimiter, type RequestLimitsConfig } from '../../proto/sip/request-limits.js';
import { isOverlayRequest } from '../../wire/overlay/messages.js';
import type { LimitsView } from './limits-view.js';

export const USER_AGENT = 'Peerdial/0.1';

export interface ResponseOptions {
  reason?: string;
  headers?: Record<string, unknown>;
  body?: string;
  /** Compact header names and no User-Agent: the overlay's own traffic (RFC 3261 7.3.3). */
  compact?: boolean;
}

export interface IncomingRequest {
  request: SipRequest;
  remote: Remote;
  /** The To tag our responses carry (the dialog's local tag for an INVITE). */
  toTag: string;
  respond(status: number, options?: ResponseOptions): void;
  /** Answers nothing and forgets the request (a multicast request that is not for us). */
  discard(): void;
  /** INVITE only, set by the handler: the caller CANCELled before our final response; the stack has answered 487. */
  onCancel?: () => void;
  /**
   * INVITE only, set by the handler: after our 2xx (which the stack retransmits, RFC 3261
   * 13.3.1.4), the ACK that stopped it, or undefined when none came within 64*T1.
   */
  onAck?: (ack: SipRequest | undefined) => void;
  /**
   * A proxy's answer (RFC 3261 16.7 step 9): a response from downstream, our Via already taken
   * off, sent back through this request's server transaction. A 2xx after the first is sent as
   * it comes (RFC 6026 7.1: the accepted state passes every 2xx upstream).
   */
  relay(response: SipResponse): void;
}
/** Takes a message (returns true) to forward it statelessly instead of handling it here. */
export interface MessageForwarder {
  request(request: SipRequest, remote: Remote): boolean;
  response(response: SipResponse, remote: Remote): boolean;
}
export type RequestHandler = (incoming: IncomingRequest) => void | Promise<void>;
/** Takes a new request (returns true) to proxy it, before the method's handler sees it. */
export type RequestRouter = (incoming: IncomingRequest) => boolean;

/** A request a proxy sent on (RFC 3261 16.6) in its own client transaction. */
export interface ForwardedRequest {
  request: SipRequest;
  remote: Remote;
  outcome: Promise<RequestOutcome>;
  /** INVITE only: CANCEL this branch (RFC 3261 16.10), once it has had a provisional response. */
  cancel(): void;
}

export interface OutgoingRequest {
  method: string;
  /** Request-URI and To. */
  to: string;
  /** From, without tag (one is added). */
  from: string;
  /** The display name shown with From. */
  fromName?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, unknown>;
  /** A Call-ID chosen by the caller (to store before sending); one is generated otherwise. */
  callId?: string;
  /** Where the request goes, when not to the URI in `to` (e.g. a contact found for an AOR). */
  requestUri?: string;
  /** The Contact header's URI, when the request should carry one. */
  contact?: string;
  /** Give up sooner than Timer F (32 s): the outcome is then a timeout. */
  timeoutMs?: number;
  /** A request within a dialog (RFC 3261 12.2.1.1): its tags, CSeq and route set. `requestUri` is the remote target. */
  dialog?: { callId: string; localTag: string; remoteTag: string; cseq: number; routeSet: string[] };
  /** Where a request without a route set goes instead of the Request-URI's host: the flow a peer behind a NAT talks to us on. */
  flow?: Remote;
  /** Compact header names and no User-Agent: the overlay's own traffic, sent many times a minute (RFC 3261 7.3.3). */
  compact?: boolean;
}

/** An INVITE on its way: its outcome, and CANCEL while no final response has come. */
export interface OutgoingInvite {
  request: SipRequest;
  /** Where it was sent: its 2xx comes back on this flow. */
  remote: Remote;
  /** Resolves with the first final response, or a failure. */
  outcome: Promise<RequestOutcome>;
  /** RFC 3261 9.1: sent once a provisional response has come (or at once if one has). */
  cancel(): void;
  /** Some response has come (the target is alive: no other target is tried). */
  readonly answered?: boolean;
}

export type RequestOutcome =
  | { kind: 'final'; response: SipResponse }
  | { kind: 'timeout' }
  | { kind: 'transport-error'; error: Error }
  | { kind: 'unresolvable'; error: Error };

export interface SipStackOptions {
  bind: string;
  port?: number;
  /** The host written in Via and Contact: an address peers can reach. */
  advertisedHost: string;
  timers: TimerHost;
  log: Logger;
  maxServerTransactions?: number;
  onFailure?(error: Error): void;
  /** The DNS for RFC 3263 lookups (the system's by default). */
  dns?: SipDns;
  /** SIP over TLS too, with this certificate (wire/crypto/certificate.ts). */
  tls?: TlsCredentials;
  /** The TLS port; by default 5061 beside SIP on 5060 (if free), else any free port. */
  tlsPort?: number;
  /** Per-source request limits by class (proto/sip/request-limits.ts); a class left out keeps its default, undefined turns it off. */
  requestLimits?: Partial<RequestLimitsConfig>;
  /** One address, all its ports together, gets this many times a source's room (default 10; 0: no per-address limit). */
  addressFactor?: number;
  /** Stream connections one address may open to us at once (default 64). */
  maxConnectionsPerAddress?: number;
  /** Stream connections at once (default 1,000). */
  maxConnections?: number;
  /** A stream connection idle this long is closed (default 120 s). */
  connectionIdleMs?: number;
  /** A connection a peer opened and sent nothing whole on this long is closed (default 10 s). */
  firstMessageMs?: number;
  /** A request or connection was refused by a limit (node.status shows it). */
  onLimited?(): void;
  /** Wall-clock ms (the limits' buckets and the limited sources' times). */
  now?: () => number;
}

/** Option tags a request may Require of us (RFC 3261 8.2.2.3): session timers (RFC 4028). */
const SUPPORTED_OPTIONS = ['timer'];

/** RFC 3263 4.3: an INVITE to a target that gives no answer at all this soon goes to the next. */
const SILENT_TARGET_MS = 4_000;

export class SipStack {
  private sockets?: SipSockets;
  private boundPort?: number;
  private boundTlsPort?: number;
  private transactions: TransactionLayer;
  private readonly handlers = new Map<string, RequestHandler>();
  /** Requests sent with compact header names: a retry to another target is sent so too. */
  private readonly compactRequests = new WeakSet<SipRequest>();
  private stunHandler?: (bytes: Buffer, remote: Remote) => void;
  private readonly forwarders: MessageForwarder[] = [];
  private router?: RequestRouter;
  private publicHost?: string;
  private flowContact?: string;
  private tcpOnly = false;
  readonly counters = {
    requestsIn: 0,
    responsesIn: 0,
    malformedDropped: 0,
    badRequestsAnswered: 0,
    strayResponses: 0,
    retransmissionsAbsorbed: 0,
    overloadedRejected: 0,
    handlerErrors: 0,
    /** ACKs for a 2xx that matched no answered INVITE. */
    strayAcks: 0,
  };
  /** Our 2xx responses to INVITEs, retransmitted until their ACK (key: Call-ID and CSeq). */
  private readonly unacked = new Map<string, { incoming: IncomingRequest; timer?: TimerHandle; giveUp: TimerHandle }>();
  private readonly inviteRequests = new WeakMap<InviteServerTransaction, IncomingRequest>();
  private dns?: SipDns;
  private readonly limiter: RequestLimiter;
  /** Counted here for limits kept elsewhere: MESSAGE bodies too large, senders over their rate (services/im), overlay stores over a record quota (services/overlay). */
  private readonly elsewhere = { tooLarge: 0, sendersLimited: 0, recordsRefused: 0 };
  /** Socket counters of sockets closed before (a restart of the SIP service keeps the totals). */
  private readonly closedSocketStats = { tcpRefused: 0, tcpEvicted: 0, tcpIdleClosed: 0 };
  private readonly now: () => number;

  constructor(private readonly options: SipStackOptions) {
    this.transactions = new TransactionLayer({ timers: options.timers, maxServerTransactions: options.maxServerTransactions });
    this.limiter = new RequestLimiter(options.requestLimits, options.addressFactor);
    this.now = options.now ?? Date.now;
  }

  /** What the limits refused, and from whom (node.status `limits`). */
  get limits(): LimitsView {
    const stats = this.sockets?.stats;
    return {
      refused: { ...this.limiter.refused },
      unanswered: this.limiter.unanswered,
      tcpRefused: (stats?.tcpRefused ?? 0) + this.closedSocketStats.tcpRefused,
      tcpEvicted: (stats?.tcpEvicted ?? 0) + this.closedSocketStats.tcpEvicted,
      tcpIdleClosed: (stats?.tcpIdleClosed ?? 0) + this.closedSocketStats.tcpIdleClosed,
      tooLarge: this.elsewhere.tooLarge,
      sendersLimited: this.elsewhere.sendersLimited,
      recordsRefused: this.elsewhere.recordsRefused,
      sources: this.limiter.sources(),
    };
  }

  /**
   * A service refused a request from `address` by a limit of its own: `message-size` (413) or
   * `message-sender` (a sender over its rate) or `records` (an overlay store whose records met
   * their owner's or source network's quota); counted and listed with the stack's.
   */
  noteLimited(address: string, limit: 'message-size' | 'message-sender' | 'records'): void {
    if (limit === 'message-size') this.elsewhere.tooLarge++;
    else if (limit === 'records') this.elsewhere.recordsRefused++;
    else this.elsewhere.sendersLimited++;
    this.limiter.note(address, limit, this.now());
    this.options.onLimited?.();
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('SIP stack not started');
    return this.boundPort;
  }
  /** True once the sockets have been bound (the port is known from then on). */
  get started(): boolean {
    return this.boundPort !== undefined;
  }
  /** The host in our Via and Contact: the public address while a router forwards our SIP port to us (setPublicHost). */
  get host(): string {
    return this.publicHost ?? this.options.advertisedHost;
  }
  /** The address of this host the SIP sockets answer on (what `host` is without a public address). */
  get localHost(): string {
    return this.options.advertisedHost;
  }

  /**
   * A member behind a NAT that forwards its SIP port to it (a port mapping on the router, or a
   * full cone), with the same port number outside: its public address goes into Via and Contact
   * so others reach it there. Undefined goes back to our own address.
   */
  setPublicHost(host: string | undefined): void {
    this.publicHost = host;
  }
  get transactionCounts(): { clients: number; servers: number; evicted: number } {
    return { ...this.transactions.size, evicted: this.transactions.evicted };
  }

  async start(): Promise<void> {
    this.sockets = await SipSockets.open({
      bind: this.options.bind,
      // After a restart, keep the port peers already know.
      port: this.boundPort ?? this.options.port,
      tls: this.options.tls,
      tlsPort: this.boundTlsPort ?? this.options.tlsPort,
      maxConnections: this.options.maxConnections,
      maxConnectionsPerAddress: this.options.maxConnectionsPerAddress,
      idleMs: this.options.connectionIdleMs,
      firstMessageMs: this.options.firstMessageMs,
      onLimited: (address, reason) => {
        this.limiter.note(address, reason, this.now());
        this.options.onLimited?.();
      },
      onMessage: (bytes, remote) => this.onMessage(bytes, remote),
      onStun: (bytes, remote) => {
        if (this.stunHandler) this.stunHandler(bytes, remote);
        else this.counters.malformedDropped++;
      },
      onFailure: (error) => this.options.onFailure?.(error),
      onFramingError: (remote, reason) => {
        this.counters.malformedDropped++;
        this.options.log.debug('stream framing error', { remote, reason });
      },
    });
    this.boundPort = this.sockets.port;
    this.boundTlsPort = this.sockets.tlsPort;
    this.transactions = new TransactionLayer({
      timers: this.options.timers,
      maxServerTransactions: this.options.maxServerTransactions,
    });
  }

  async stop(): Promise<void> {
    for (const pending of this.unacked.values()) {
      if (pending.timer) this.options.timers.clear(pending.timer);
      this.options.timers.clear(pending.giveUp);
    }
    this.unacked.clear();
    this.transactions.shutdown();
    if (this.sockets) for (const k of ['tcpRefused', 'tcpEvicted', 'tcpIdleClosed'] as const) this.closedSocketStats[k] += this.sockets.stats[k];
    await this.sockets?.close();
    this.sockets = undefined;
  }

  /**
   * A stateless proxy in front of the transaction layer (a member carrying its clients'
   * signalling): it sees every parsed request and response first and takes the ones it forwards.
   */
  addForwarder(forwarder: MessageForwarder): void {
    this.forwarders.push(forwarder);
  }

  /** A proxy core: sees every new request (not ACK or CANCEL) before the method handlers. */
  setRouter(router: RequestRouter): void {
    this.router = router;
  }

  /** STUN arriving on the SIP sockets (the NAT service answers it and reads its own answers). */
  handleStun(handler: (bytes: Buffer, remote: Remote) => void): void {
    this.stunHandler = handler;
  }

  /** Sends raw bytes from the SIP socket (STUN requests and answers share its port). */
  sendRaw(bytes: Buffer, remote: Remote): Promise<void> {
    if (!this.sockets) return Promise.reject(new Error('SIP stack not started'));
    return this.sockets.send(bytes, remote);
  }

  /** True when the SIP UDP socket has sent to `address` (at `port`, if given): our NAT may let it in unasked. */
  hasSentTo(address: string, port?: number): boolean {
    return this.sockets?.hasSentTo(address, port) ?? false;
  }

  /**
   * Where others reach `user` on this node: sip:USER@HOST:PORT, or, for a client behind a NAT,
   * the URI of the flow its member keeps for it (set by the NAT service).
   */
  contactFor(user: string): string {
    if (this.flowContact) return this.flowContact;
    return `sip:${user}@${hostForUri(this.host)}:${this.port}`;
  }

  /** The port SIP over TLS listens on, once started with TLS. */
  get tlsPort(): number | undefined {
    return this.boundTlsPort;
  }

  /** The fingerprint of the certificate this node presents on TLS (what its binding record publishes). */
  get certificate(): string | undefined {
    return this.options.tls?.fingerprint;
  }

  /** TLS counters: pinned certificates that did not match, failed handshakes, reused connections. */
  get tlsStats(): { certificateMismatches: number; handshakeFailures: number; reusedConnections: number; connections: number } {
    const stats = this.sockets?.stats;
    return { certificateMismatches: stats?.tlsCertificateMismatches ?? 0, handshakeFailures: stats?.tlsHandshakeFailures ?? 0, reusedConnections: stats?.tlsReused ?? 0, connections: this.sockets?.connectionCount ?? 0 };
  }

  /**
   * `contact` as reached over TLS, when it names this node's own address (no other transport):
   * our TLS port, transport=tls, and our certificate pinned, so a peer's requests in the dialog
   * come back over TLS and to no one else. Anything else is left as it is.
   */
  overTls(contact: string): string {
    const uri = parseSipUri(contact);
    if (!uri || this.boundTlsPort === undefined || !this.certificate || uri.params.transport || !this.isOwnAddress(uri.host, uri.port)) return contact;
    return pinnedTlsUri(uri, this.boundTlsPort, this.certificate);
  }

  /**
   * The TLS listener, as a binding record publishes it: only where peers reach this node's own
   * address (not a client carried by a member, nor behind a router that forwards just the SIP port).
   */
  get reachableTls(): { port: number; certificate: string } | undefined {
    if (this.flowContact || this.publicHost || this.boundTlsPort === undefined || !this.certificate) return undefined;
    return { port: this.boundTlsPort, certificate: this.certificate };
  }

  /**
   * The Contact a request to `target` will carry once sent: overTls(contact) when the target is
   * reached over TLS. For a signer that must sign the Contact as it goes out (SUBSCRIBE).
   */
  contactToward(target: string, contact: string): string {
    return isTlsUri(target) ? this.overTls(contact) : contact;
  }

  /** A phone's registration came on this stream connection: keep it open as long as the registration lasts. */
  holdFlow(remote: Remote, ms: number): void {
    if (remote.protocol !== 'udp') this.sockets?.holdOpen(remote, ms);
  }

  /** The port our Via names for `protocol`: the TLS listener for TLS. */
  viaPort(protocol: SipProtocol): number {
    return protocol === 'tls' ? (this.boundTlsPort ?? this.port) : this.port;
  }

  /** A client's contact through its member's flow (RFC 5626), or undefined to use our own address. */
  setFlowContact(uri: string | undefined): void {
    this.flowContact = uri;
  }

  /** UDP does not get through here (the NAT service found out): send every request over TCP. */
  setTcpOnly(on: boolean): void {
    this.tcpOnly = on;
  }

  /** Our network changed (a new address or NAT): TCP connections on the old path are dropped, new ones open on demand. */
  dropConnections(): void {
    this.sockets?.dropConnections();
  }

  /** The address the SIP sockets are bound to (0.0.0.0 for every address). */
  get bindAddress(): string {
    return this.options.bind;
  }

  handle(method: string, handler: RequestHandler): void {
    this.handlers.set(method.toUpperCase(), handler);
  }

  get allowedMethods(): string[] {
    const handled = [...this.handlers.keys()].filter((m) => m !== 'OPTIONS');
    // ACK and CANCEL for an INVITE are taken by the stack itself.
    return ['OPTIONS', ...handled, ...(this.handlers.has('INVITE') ? ['ACK', 'CANCEL'] : [])];
  }

  /** Builds the request and finds where it goes (RFC 3261 8.1.2: the first route, else the Request-URI). */
  private async prepare(outgoing: OutgoingRequest): Promise<{ request: SipRequest; bytes: Buffer; remote: Remote; alternates: Remote[] } | RequestOutcome> {
    const target = outgoing.requestUri ?? outgoing.to;
    const uri = parseSipUri(target);
    if (!uri) return { kind: 'unresolvable', error: new Error(`not a SIP URI: ${target}`) };
    const nextHop = outgoing.dialog?.routeSet.length ? parseSipUri(outgoing.dialog.routeSet[0].replace(/^<(.*)>$/, '$1')) : uri;
    if (!nextHop) return { kind: 'unresolvable', error: new Error(`not a SIP URI: ${outgoing.dialog?.routeSet[0]}`) };
    let remote: Remote;
    let alternates: Remote[] = [];
    try {
      if (outgoing.flow && !outgoing.dialog?.routeSet.length) remote = outgoing.flow;
      else [remote, ...alternates] = await this.resolveAll(nextHop);
    } catch (error) {
      return { kind: 'unresolvable', error: error as Error };
    }
    // A network that drops UDP (a strict firewall): every request goes over TCP.
    if (this.tcpOnly && remote.protocol === 'udp') remote = { ...remote, protocol: 'tcp' };
    const compact = { compact: outgoing.compact === true };
    let request = this.buildRequest(outgoing, uri, remote.protocol);
    let bytes = serializeSipMessage(request, compact);
    if (remote.protocol === 'udp' && bytes.length > 1300 && !nextHop.params.transport) {
      // RFC 3261 18.1.1: a request larger than 1300 bytes MUST go over a congestion-controlled transport.
      // A peer that cannot take TCP (a phone behind a NAT that only opened UDP) still gets it over
      // UDP, fragmented, when TCP fails: as RFC 3263 4.3 moves on to the next target.
      alternates = [remote, ...alternates];
      remote = { ...remote, protocol: 'tcp' };
      request = this.buildRequest(outgoing, uri, 'tcp');
      bytes = serializeSipMessage(request, compact);
    }
    if (outgoing.compact) this.compactRequests.add(request);
    return { request, bytes, remote, alternates };
  }

  /** The same request for the next target (RFC 3263 4.3): a new branch, the target's transport in Via. */
  private retarget(request: SipRequest, remote: Remote): { request: SipRequest; bytes: Buffer; remote: Remote } {
    if (this.tcpOnly && remote.protocol === 'udp') remote = { ...remote, protocol: 'tcp' };
    const copy = structuredClone(request) as SipRequest;
    copy.headers.via[0] = this.topVia(remote.protocol);
    const compact = this.compactRequests.has(request);
    if (compact) this.compactRequests.add(copy);
    return { request: copy, bytes: serializeSipMessage(copy, { compact }), remote };
  }

  /** Sends a non-INVITE request to the URI in `to` and resolves with its outcome. */
  async request(outgoing: OutgoingRequest, onProvisional?: (r: SipResponse) => void): Promise<RequestOutcome> {
    const sockets = this.sockets;
    if (!sockets) return { kind: 'transport-error', error: new Error('SIP stack not started') };
    const prepared = await this.prepare(outgoing);
    if ('kind' in prepared) return prepared;
    let attempt: { request: SipRequest; bytes: Buffer; remote: Remote } = prepared;
    for (let next = 0; ; next++) {
      const outcome = await this.startRequest(attempt.request, attempt.bytes, attempt.remote, onProvisional, outgoing.timeoutMs);
      const alternate = prepared.alternates[next];
      if (!alternate || !worthAnotherTarget(outcome)) return outcome;
      attempt = this.retarget(prepared.request, alternate);
    }
  }

  private startRequest(request: SipRequest, bytes: Buffer, remote: Remote, onProvisional?: (r: SipResponse) => void, timeoutMs?: number): Promise<RequestOutcome> {
    const sockets = this.sockets;
    if (!sockets) return Promise.resolve({ kind: 'transport-error', error: new Error('SIP stack not started') });
    let reportDone = () => {};
    return new Promise<RequestOutcome>((resolve) => {
      const report = (outcome: ClientOutcome) => {
        if (outcome.kind === 'provisional') onProvisional?.(outcome.response);
        else {
          reportDone();
          resolve(outcome);
        }
      };
      const send = (b: Buffer) => {
        sockets.send(b, remote).catch((error: Error) => tx?.transportError(error));
      };
      const tx = this.transactions.startClient(request, bytes, remote.protocol !== 'udp', send, report);
      if (!tx) {
        resolve({ kind: 'transport-error', error: new Error('too many requests in flight') });
        return;
      }
      if (timeoutMs !== undefined) {
        const timer = this.options.timers.set(timeoutMs, () => {
          if (tx.state === 'trying' || tx.state === 'proceeding') {
            resolve({ kind: 'timeout' });
            tx.terminate();
          }
        });
        reportDone = () => this.options.timers.clear(timer);
      }
    });
  }

  /**
   * Sends an INVITE (RFC 3261 17.1.1). Every provisional and 2xx response reaches `onResponse`
   * (a 2xx may come again, or from several forks: the dialog ACKs each, 13.2.2.4); the ACK for
   * a non-2xx is the transaction's. `outcome` resolves with the first final response.
   */
  async invite(outgoing: OutgoingRequest, onResponse: (response: SipResponse) => void): Promise<OutgoingInvite | RequestOutcome> {
    const sockets = this.sockets;
    if (!sockets) return { kind: 'transport-error', error: new Error('SIP stack not started') };
    const prepared = await this.prepare({ ...outgoing, method: 'INVITE' });
    if ('kind' in prepared) return prepared;
    const silentMs = prepared.alternates.length ? SILENT_TARGET_MS : undefined;
    const first = this.startInvite(prepared.request, prepared.bytes, prepared.remote, onResponse, silentMs);
    if ('kind' in first || !prepared.alternates.length) return first;
    // RFC 3263 4.3: a target that fails at once, says 503, or stays silent gives way to the next.
    let current: OutgoingInvite = first;
    const outcome = (async () => {
      for (let next = 0; ; next++) {
        const result = await current.outcome;
        const alternate = prepared.alternates[next];
        if (!alternate || !worthAnotherTarget(result) || (result.kind !== 'final' && current.answered)) return result;
        const attempt = this.retarget(prepared.request, alternate);
        const started = this.startInvite(attempt.request, attempt.bytes, attempt.remote, onResponse, next + 1 < prepared.alternates.length ? silentMs : undefined);
        if ('kind' in started) return started;
        current = started;
      }
    })();
    return {
      get request() {
        return current.request;
      },
      get remote() {
        return current.remote;
      },
      get answered() {
        return current.answered;
      },
      outcome,
      cancel: () => current.cancel(),
    };
  }

  private startInvite(request: SipRequest, bytes: Buffer, remote: Remote, onResponse: (response: SipResponse) => void, silentMs?: number): OutgoingInvite | RequestOutcome {
    const sockets = this.sockets;
    if (!sockets) return { kind: 'transport-error', error: new Error('SIP stack not started') };
    let settle: (outcome: RequestOutcome) => void = () => {};
    const outcome = new Promise<RequestOutcome>((resolve) => (settle = resolve));
    let settled = false;
    let provisionalSeen = false;
    let anyResponse = false;
    let silence: TimerHandle | undefined;
    let cancelWanted = false;
    const sendCancel = () => {
      // RFC 3261 9.1: CANCEL copies Request-URI, Call-ID, To, From, the top Via and the CSeq number.
      const cancel = requestOfTransaction(request, 'CANCEL', request.headers.to);
      const cbytes = serializeSipMessage(cancel);
      this.transactions.startClient(cancel, cbytes, remote.protocol !== 'udp', (b) => sockets.sendQuietly(b, remote), () => undefined);
    };
    const report = (o: ClientOutcome) => {
      if (o.kind === 'provisional' || o.kind === 'final') {
        anyResponse = true;
        if (silence) this.options.timers.clear(silence);
      }
      if (o.kind === 'provisional') {
        if (!provisionalSeen) {
          provisionalSeen = true;
          if (cancelWanted && !settled) sendCancel();
        }
        onResponse(o.response);
        return;
      }
      if (o.kind === 'final' && o.response.status < 300) onResponse(o.response);
      if (settled) return;
      settled = true;
      settle(o);
    };
    const tx = this.transactions.startInviteClient(
      request,
      bytes,
      remote.protocol !== 'udp',
      (b) => sockets.send(b, remote).catch((error: Error) => tx?.transportError(error)),
      (response) => serializeSipMessage(requestOfTransaction(request, 'ACK', response.headers.to)),
      report,
    );
    if (!tx) return { kind: 'transport-error', error: new Error('too many requests in flight') };
    if (silentMs !== undefined) {
      silence = this.options.timers.set(silentMs, () => {
        if (anyResponse || settled) return;
        settled = true;
        tx.terminate();
        settle({ kind: 'timeout' });
      });
    }
    return {
      request,
      remote,
      outcome,
      get answered() {
        return anyResponse;
      },
      cancel: () => {
        if (settled || cancelWanted) return;
        cancelWanted = true;
        if (provisionalSeen) sendCancel();
      },
    };
  }

  /**
   * A proxy sends a request on (RFC 3261 16.6): `request` is already a copy with its new
   * Request-URI, Max-Forwards and Record-Route; our Via goes on top with a branch of its own,
   * and a client transaction of its own carries it (an INVITE's CANCEL included). Every
   * response reaches `onResponse` (an INVITE's 2xx each time it comes); timeouts and transport
   * errors only `outcome`.
   */
  forward(request: SipRequest, remote: Remote, onResponse: (response: SipResponse) => void, branchPrefix = 'z9hG4bK-pdpx-', silentMs?: number): ForwardedRequest | RequestOutcome {
    if (this.tcpOnly && remote.protocol === 'udp') remote = { ...remote, protocol: 'tcp' };
    const via = this.topVia(remote.protocol);
    request.headers.via.unshift({ ...via, params: { ...via.params, branch: branchPrefix + randomTag() + randomTag() } });
    const bytes = serializeSipMessage(request);
    if (request.method === 'INVITE') {
      const started = this.startInvite(request, bytes, remote, onResponse, silentMs);
      if ('kind' in started) return started;
      // Provisional responses and every 2xx reach onResponse from the transaction; a failure once, here.
      const outcome = started.outcome.then((o) => {
        if (o.kind === 'final' && o.response.status >= 300) onResponse(o.response);
        return o;
      });
      return { request, remote, outcome, cancel: started.cancel };
    }
    const outcome = this.startRequest(request, bytes, remote, onResponse).then((o) => {
      if (o.kind === 'final') onResponse(o.response);
      return o;
    });
    return { request, remote, outcome, cancel: () => undefined };
  }

  /** Where a URI's requests go (RFC 3263, reduced: the host's address, port 5060 by default); ourselves over loopback. */
  async resolve(uri: SipUri): Promise<Remote> {
    return (await this.resolveAll(uri))[0];
  }

  /** Every target for a URI, in the order RFC 3263 tries them (ourselves over loopback). */
  async resolveAll(uri: SipUri): Promise<Remote[]> {
    if (this.isSelf(uri)) return [this.loopback];
    this.dns ??= this.options.dns ?? systemSipDns();
    const targets = await locateSipServers({ host: uri.host, port: uri.port, transport: uri.params.transport ?? undefined, secure: uri.schema === 'sips' }, this.dns);
    if (!targets.length) throw new Error(`no SIP server found for ${uri.host} (no NAPTR, SRV or address records)`);
    // A Peerdial contact pins the certificate its owner published (docs/protocol.md, "SIP over TLS").
    const pinned = uri.params[CERTIFICATE_URI_PARAM];
    return targets.map((t) => (t.protocol === 'tls' && typeof pinned === 'string' ? { ...t, certificate: pinned } : t));
  }

  /** Where this node sends to itself: its own address, never a router's hairpin. */
  get loopback(): Remote {
    return { protocol: 'udp', address: this.localHost, port: this.port };
  }

  /** True when `host:port` names this node's sockets, SIP or TLS (its public or its own address). */
  isOwnAddress(host: string, port: number | undefined): boolean {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    const ours = (port ?? 5060) === this.boundPort || (port !== undefined && port === this.boundTlsPort);
    return this.boundPort !== undefined && ours && (bare === this.host || bare === this.localHost);
  }

  /** A URI naming this node (a Route we record-routed, say): sent to our own address, never through a router's hairpin. */
  private isSelf(uri: SipUri): boolean {
    return this.isOwnAddress(uri.host, uri.port) && !uri.params.transport;
  }

  /** Sends the ACK for a 2xx (RFC 3261 13.2.2.4): no transaction, to the first route or the remote target. */
  async sendAck(outgoing: OutgoingRequest): Promise<void> {
    const sockets = this.sockets;
    if (!sockets) return;
    const prepared = await this.prepare({ ...outgoing, method: 'ACK' });
    if ('kind' in prepared) {
      this.options.log.debug('ACK not sent', { outcome: prepared.kind });
      return;
    }
    sockets.sendQuietly(prepared.bytes, prepared.remote);
  }

  private buildRequest(outgoing: OutgoingRequest, uri: SipUri, protocol: SipProtocol): SipRequest {
    const dialog = outgoing.dialog;
    const contact = outgoing.contact && protocol === 'tls' ? this.overTls(outgoing.contact) : outgoing.contact;
    const headers: Record<string, unknown> = {
      via: [this.topVia(protocol)],
      'max-forwards': 70,
      to: { uri: outgoing.to.replace(/^<(.*)>$/, '$1'), params: dialog ? { tag: dialog.remoteTag } : {} },
      from: {
        name: outgoing.fromName ? quote(outgoing.fromName) : undefined,
        uri: outgoing.from,
        params: { tag: dialog?.localTag ?? randomTag() },
      },
      'call-id': dialog?.callId ?? outgoing.callId ?? generateCallId(this.host),
      cseq: { seq: dialog?.cseq ?? 1, method: outgoing.method },
      ...(dialog?.routeSet.length ? { route: dialog.routeSet.map((r) => ({ uri: r.replace(/^<(.*)>$/, '$1'), params: {} })) } : {}),
      ...(outgoing.compact ? {} : { 'user-agent': USER_AGENT }),
      ...(contact ? { contact: [{ uri: contact, params: {} }] } : {}),
      ...(outgoing.headers ?? {}),
    };
    if (outgoing.body !== undefined) headers['content-type'] = outgoing.contentType ?? 'text/plain;charset=utf-8';
    return {
      method: outgoing.method,
      uri: formatRequestUri(uri),
      version: '2.0',
      headers: headers as SipRequest['headers'],
      content: outgoing.body === undefined ? '' : encodeBody(outgoing.body),
    };
  }

  /**
   * Our Via for a request sent over `protocol`, with a new branch. Over TLS it names the TLS
   * listener and carries `alias` (RFC 5923 4): the peer may send its requests for us back on
   * this connection, since we present the certificate it would pin.
   */
  private topVia(protocol: SipProtocol): SipRequest['headers']['via'][number] {
    return {
      version: '2.0',
      protocol: protocol.toUpperCase(),
      host: this.host,
      port: this.viaPort(protocol),
      params: { branch: generateBranch(), rport: null, ...(protocol === 'tls' ? { alias: null } : {}) },
    };
  }

  private onMessage(bytes: Buffer, remote: Remote): void {
    try {
      this.dispatch(bytes, remote);
    } catch (error) {
      // Nothing a peer sends may take the engine down.
      this.counters.handlerErrors++;
      this.options.log.warn('error handling SIP message', { remote, error: String(error) });
    }
  }

  private dispatch(bytes: Buffer, remote: Remote): void {
    const outcome = parseSipMessage(bytes);
    if (outcome.kind === 'request' || outcome.kind === 'bad-request') {
      markReceived(outcome.kind === 'request' ? outcome.message : outcome.request, remote);
    }
    switch (outcome.kind) {
      case 'garbage':
        this.counters.malformedDropped++;
        this.options.log.debug('dropped malformed SIP message', { remote, reason: outcome.reason });
        return;
      case 'bad-request': {
        this.counters.malformedDropped++;
        if (outcome.request.method === 'ACK') return;
        this.counters.badRequestsAnswered++;
        const response = makeResponse(outcome.request, outcome.status, { reason: reasonFor(outcome.status, outcome.reason) });
        this.sockets?.sendQuietly(serializeSipMessage(response), responseTarget(outcome.request, remote));
        return;
      }
      case 'response': {
        this.counters.responsesIn++;
        if (this.forwarders.some((f) => f.response(outcome.message, remote))) return;
        const tx = this.transactions.matchResponse(outcome.message);
        if (tx) tx.receive(outcome.message);
        else this.counters.strayResponses++;
        return;
      }
      case 'request': {
        this.counters.requestsIn++;
        const via = outcome.message.headers.via[0];
        if (remote.protocol === 'tls' && via.params.alias !== undefined && via.port) this.sockets?.alias(remote, via.host, via.port);
        if (this.overLimit(outcome.message, remote)) return;
        if (this.forwarders.some((f) => f.request(outcome.message, remote))) return;
        this.onRequest(outcome.message, remote);
      }
    }
  }

  /**
   * A new request from a source over its class's rate (proto/sip/request-limits.ts) gets 503 with
   * Retry-After (RFC 3261 21.5.4, 20.33), sent statelessly: no transaction is kept for it, and a
   * source refused faster than the answers' own rate is not even answered. Retransmissions of a
   * request we hold, a CANCEL of an INVITE we hold, and ACK are never refused.
   */
  private overLimit(request: SipRequest, remote: Remote): boolean {
    const inDialog = request.headers.to?.params.tag !== undefined;
    const kind = limitClassOf(request.method, inDialog, isOverlayRequest(request));
    if (!kind || this.transactions.knows(request)) return false;
    const decision = this.limiter.check(kind, remote.address, remote.port, this.now());
    if (decision.allowed) return false;
    this.options.onLimited?.();
    if (decision.answer) {
      const response = makeResponse(request, 503, { reason: 'Service Unavailable (too many requests from your address)', headers: { 'retry-after': decision.retryAfterS } });
      this.sockets?.sendQuietly(serializeSipMessage(response), responseTarget(request, remote));
    }
    return true;
  }

  private onRequest(request: SipRequest, remote: Remote): void {
    const target = responseTarget(request, remote);
    const sockets = this.sockets;
    if (!sockets) return;
    const match = this.transactions.matchRequest(request, remote.protocol !== 'udp', sendTo(sockets, target));
    if (match.kind === 'retransmission') {
      this.counters.retransmissionsAbsorbed++;
      return;
    }
    if (match.kind === 'ack') {
      this.onAckFor2xx(request);
      return;
    }
    if (match.kind === 'overloaded') {
      // RFC 3261 21.5.4: 503 with Retry-After, sent statelessly since we keep no more state.
      this.counters.overloadedRejected++;
      const r = makeResponse(request, 503, { headers: { 'retry-after': 5 } });
      sockets.sendQuietly(serializeSipMessage(r), target);
      return;
    }
    const tx = match.transaction;
    // RFC 3261 12.1.1: a dialog's local tag is the To tag of our responses; a request inside
    // one already carries it.
    const toTag = (request.headers.to?.params.tag as string | undefined) ?? randomTag();
    const isInvite = request.method === 'INVITE';
    const incoming: IncomingRequest = {
      request,
      remote,
      toTag,
      respond: (status, opts = {}) => {
        const response = makeResponse(request, status, { ...opts, toTag });
        if (!opts.compact) response.headers['user-agent'] = USER_AGENT;
        const contact = response.headers.contact;
        if (remote.protocol === 'tls' && Array.isArray(contact)) response.headers.contact = contact.map((c) => ({ ...c, uri: this.overTls(c.uri) }));
        const bytes = serializeSipMessage(response, { compact: opts.compact === true });
        if (tx.respond(bytes, status) && isInvite && status >= 200 && status < 300) this.retransmit2xx(incoming, bytes, target);
      },
      discard: () => tx.terminate(),
      relay: (response) => {
        const bytes = serializeSipMessage(response);
        if (!tx.respond(bytes, response.status) && isInvite && response.status >= 200 && response.status < 300) sockets.sendQuietly(bytes, target);
      },
    };
    const respond = incoming.respond;
    if (isInvite) {
      this.inviteRequests.set(tx as InviteServerTransaction, incoming);
      // RFC 3261 17.2.1: a 100 at once, so the caller stops retransmitting while the user decides.
      respond(100);
    }
    // A proxy ignores Require (RFC 3261 16.3); CANCEL of a proxied INVITE still reaches onCancel.
    if (request.method !== 'CANCEL' && this.router?.(incoming)) return;
    // RFC 3261 8.2.2.3: an extension we do not support in Require gets 420 listing it in Unsupported
    // (a UAS ignores Proxy-Require). CANCEL and ACK are exempt.
    const required = String(request.headers.require ?? '').split(',').map((s) => s.trim()).filter((tag) => tag && !SUPPORTED_OPTIONS.includes(tag.toLowerCase()));
    if (required.length && request.method !== 'CANCEL') {
      respond(420, { headers: { unsupported: required.join(', ') } });
      return;
    }
    if (request.method === 'CANCEL') {
      this.onCancel(request, respond);
      return;
    }
    if (request.method === 'OPTIONS' && !this.handlers.has('OPTIONS')) {
      // RFC 3261 11.2: answer OPTIONS as an INVITE would be answered, with our capabilities.
      respond(200, {
        headers: {
          allow: this.allowedMethods.join(', '),
          accept: 'text/plain, application/sdp, application/pidf+xml, application/vnd.peerdial.buddy+json, application/vnd.peerdial.receipt+json, application/im-iscomposing+xml, application/vnd.peerdial.config+json',
          // RFC 6665 4.4.4: the event packages we take SUBSCRIBE or NOTIFY for.
          'allow-events': 'presence, refer, peerdial-config',
        },
      });
      return;
    }
    const handler = this.handlers.get(request.method);
    if (!handler) {
      // RFC 3261 8.2.1: a method we know but do not support gets 405 with Allow; anything else 501.
      const known = /^(INVITE|ACK|BYE|CANCEL|REGISTER|OPTIONS|PRACK|SUBSCRIBE|NOTIFY|PUBLISH|INFO|REFER|MESSAGE|UPDATE)$/.test(request.method);
      respond(known ? 405 : 501, { headers: { allow: this.allowedMethods.join(', ') } });
      return;
    }
    const failed = (error: unknown) => {
      this.counters.handlerErrors++;
      this.options.log.warn('SIP handler failed', { method: request.method, error: String(error) });
      respond(500);
    };
    try {
      const result = handler(incoming);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** RFC 3261 9.2: a CANCEL gets 200 when it matches an INVITE still unanswered, which then gets 487. */
  private onCancel(cancel: SipRequest, respond: IncomingRequest['respond']): void {
    const invite = this.transactions.inviteServerFor(cancel);
    const incoming = invite && this.inviteRequests.get(invite);
    if (!invite || !incoming) {
      respond(481, { reason: 'Call/Transaction Does Not Exist' });
      return;
    }
    respond(200);
    if (invite.state !== 'proceeding') return;
    incoming.respond(487);
    incoming.onCancel?.();
  }

  /**
   * RFC 3261 13.3.1.4: the UAS core retransmits its 2xx from T1 doubling to T2 until the ACK,
   * and gives up after 64*T1 (the dialog then ends the session).
   */
  private retransmit2xx(incoming: IncomingRequest, bytes: Buffer, target: Remote): void {
    const key = ackKey(incoming.request);
    const sockets = this.sockets;
    if (!sockets || this.unacked.has(key)) return;
    const reliable = target.protocol !== 'udp';
    let interval = T1;
    const pending: { incoming: IncomingRequest; timer?: TimerHandle; giveUp: TimerHandle } = {
      incoming,
      giveUp: this.options.timers.set(64 * T1, () => {
        if (pending.timer) this.options.timers.clear(pending.timer);
        this.unacked.delete(key);
        incoming.onAck?.(undefined);
      }),
    };
    const again = () => {
      sockets.sendQuietly(bytes, target);
      interval = Math.min(2 * interval, T2);
      pending.timer = this.options.timers.set(interval, again);
    };
    if (!reliable) pending.timer = this.options.timers.set(interval, again);
    this.unacked.set(key, pending);
  }

  private onAckFor2xx(ack: SipRequest): void {
    const key = ackKey(ack);
    const pending = this.unacked.get(key);
    if (!pending) {
      // A retransmitted ACK, or one for a dialog we no longer know: nothing to do.
      this.counters.strayAcks++;
      return;
    }
    this.unacked.delete(key);
    if (pending.timer) this.options.timers.clear(pending.timer);
    this.options.timers.clear(pending.giveUp);
    pending.incoming.onAck?.(ack);
  }
}

/** The 2xx an ACK acknowledges: same Call-ID and CSeq number (RFC 3261 13.2.2.4, 17.1.1.3). */
function ackKey(request: SipRequest): string {
  return `${request.headers['call-id']}\u0000${request.headers.cseq.seq}`;
}

/**
 * A CANCEL (RFC 3261 9.1) or the ACK of a non-2xx (17.1.1.3): both belong to the INVITE's
 * transaction, so they copy its Request-URI, top Via, Call-ID, From, Route and CSeq number.
 * The ACK takes To from the response (with the callee's tag), CANCEL from the INVITE.
 */
function requestOfTransaction(invite: SipRequest, method: 'CANCEL' | 'ACK', to: SipRequest['headers']['to']): SipRequest {
  return {
    method,
    uri: invite.uri,
    version: '2.0',
    headers: {
      via: [invite.headers.via[0]],
      'max-forwards': 70,
      to,
      from: invite.headers.from,
      'call-id': invite.headers['call-id'],
      cseq: { seq: invite.headers.cseq.seq, method },
      ...(invite.headers.route ? { route: invite.headers.route } : {}),
      'user-agent': USER_AGENT,
    } as SipRequest['headers'],
    content: '',
  };
}

/**
 * The transaction's send callback, built apart from onRequest: a closure made there would share
 * its scope, and keep the whole parsed request alive for as long as the transaction lives.
 */
function sendTo(sockets: SipSockets, target: Remote): (bytes: Buffer) => void {
  return (bytes) => sockets.sendQuietly(bytes, target);
}

/** RFC 3261 25.1 quoted-string. */
function quote(text: string): string {
  return '"' + text.replace(/["\\]/g, (c) => '\\' + c) + '"';
}

function reasonFor(status: number, detail: string): string {
  return status === 400 ? `Bad Request (${detail})` : status === 505 ? 'Version Not Supported' : status === 416 ? 'Unsupported URI Scheme' : detail;
}

/**
 * RFC 3261 18.2.1: note where the request really came from in the top Via (`received`), and
 * RFC 3581 4: fill in `rport` when the client asked for it, so responses find their way back through NATs.
 */
function markReceived(request: SipRequest, remote: Remote): void {
  const via = request.headers.via[0];
  if (via.host !== remote.address) via.params.received = remote.address;
  if (via.params.rport !== undefined) {
    via.params.rport = String(remote.port);
    via.params.received = remote.address;
  }
}

/** RFC 3261 18.2.2 and RFC 3581: where a response goes. */
export function responseTarget(request: SipRequest, remote: Remote): Remote {
  if (remote.protocol !== 'udp') return remote;
  const via = request.headers.via[0];
  const useSourcePort = via.params.rport !== undefined || via.port === undefined || via.params.received !== undefined;
  return { protocol: 'udp', address: remote.address, port: useSourcePort ? remote.port : (via.port ?? 5060) };
}

/** The request was not sent: the peer at a pinned address showed another TLS certificate than its owner published. */
export function isCertificateMismatch(outcome: RequestOutcome): outcome is { kind: 'transport-error'; error: TlsCertificateError } {
  return outcome.kind === 'transport-error' && outcome.error instanceof TlsCertificateError;
}

/** RFC 3263 4.3: a transport failure, no answer, or a 503 sends the request to the next target. */
function worthAnotherTarget(outcome: RequestOutcome): boolean {
  return outcome.kind === 'transport-error' || outcome.kind === 'timeout' || (outcome.kind === 'final' && outcome.response.status === 503);
}

function formatRequestUri(uri: SipUri): string {
  const host = isIP(uri.host) === 6 ? `[${uri.host}]` : uri.host;
  const params = Object.entries(uri.params)
    .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`))
    .join('');
  return `${uri.schema}:${uri.user ? uri.user + '@' : ''}${host}${uri.port ? ':' + uri.port : ''}${params}`;
}
