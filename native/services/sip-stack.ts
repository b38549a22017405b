// The SIP service: sockets, codec and transaction layer wired together. Other services
// register a handler per method and send requests through `request()`.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import type { ClientOutcome } from '../proto/sip/non-invite-client-transaction.js';
import type { TimerHost } from '../proto/sip/timers.js';
import { TransactionLayer } from '../proto/sip/transaction-layer.js';
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
} from '../wire/sip/message.js';
import { parseSipUri, type SipUri } from '../wire/sip/uri.js';
import { SipSockets, type Remote, type SipProtocol } from '../transport/sip-sockets.js';

export const USER_AGENT = 'Peerdial/0.1';

export interface IncomingRequest {
  request: SipRequest;
  remote: Remote;
  respond(status: number, options?: { reason?: string; headers?: Record<string, unknown>; body?: string }): void;
}
export type RequestHandler = (incoming: IncomingRequest) => void | Promise<void>;

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
}

export class SipStack {
  private sockets?: SipSockets;
  private boundPort?: number;
  private transactions: TransactionLayer;
  private readonly handlers = new Map<string, RequestHandler>();
  readonly counters = {
    requestsIn: 0,
    responsesIn: 0,
    malformedDropped: 0,
    badRequestsAnswered: 0,
    strayResponses: 0,
    retransmissionsAbsorbed: 0,
    overloadedRejected: 0,
    handlerErrors: 0,
  };

  constructor(private readonly options: SipStackOptions) {
    this.transactions = new TransactionLayer({ timers: options.timers, maxServerTransactions: options.maxServerTransactions });
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('SIP stack not started');
    return this.boundPort;
  }
  /** True once the sockets have been bound (the port is known from then on). */
  get started(): boolean {
    return this.boundPort !== undefined;
  }
  get host(): string {
    return this.options.advertisedHost;
  }
  get transactionCounts(): { clients: number; servers: number; evicted: number } {
    return { ...this.transactions.size, evicted: this.transactions.evicted };
  }

  async start(): Promise<void> {
    this.sockets = await SipSockets.open({
      bind: this.options.bind,
      // After a restart, keep the port peers already know.
      port: this.boundPort ?? this.options.port,
      onMessage: (bytes, remote) => this.onMessage(bytes, remote),
      onFailure: (error) => this.options.onFailure?.(error),
      onFramingError: (remote, reason) => {
        this.counters.malformedDropped++;
        this.options.log.debug('stream framing error', { remote, reason });
      },
    });
    this.boundPort = this.sockets.port;
    this.transactions = new TransactionLayer({
      timers: this.options.timers,
      maxServerTransactions: this.options.maxServerTransactions,
    });
  }

  async stop(): Promise<void> {
    this.transactions.shutdown();
    await this.sockets?.close();
    this.sockets = undefined;
  }

  handle(method: string, handler: RequestHandler): void {
    this.handlers.set(method.toUpperCase(), handler);
  }

  get allowedMethods(): string[] {
    return ['OPTIONS', ...[...this.handlers.keys()].filter((m) => m !== 'OPTIONS')];
  }

  /** Sends a non-INVITE request to the URI in `to` and resolves with its outcome. */
  async request(outgoing: OutgoingRequest, onProvisional?: (r: SipResponse) => void): Promise<RequestOutcome> {
    const sockets = this.sockets;
    if (!sockets) return { kind: 'transport-error', error: new Error('SIP stack not started') };
    const target = outgoing.requestUri ?? outgoing.to;
    const uri = parseSipUri(target);
    if (!uri) return { kind: 'unresolvable', error: new Error(`not a SIP URI: ${target}`) };
    let remote: Remote;
    try {
      remote = await resolveTarget(uri);
    } catch (error) {
      return { kind: 'unresolvable', error: error as Error };
    }
    let request = this.buildRequest(outgoing, uri, remote.protocol);
    let bytes = serializeSipMessage(request);
    if (remote.protocol === 'udp' && bytes.length > 1300 && !uri.params.transport) {
      // RFC 3261 18.1.1: a request larger than 1300 bytes MUST go over a congestion-controlled transport.
      remote = { ...remote, protocol: 'tcp' };
      request = this.buildRequest(outgoing, uri, 'tcp');
      bytes = serializeSipMessage(request);
    }
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
      if (outgoing.timeoutMs !== undefined) {
        const timer = this.options.timers.set(outgoing.timeoutMs, () => {
          if (tx.state === 'trying' || tx.state === 'proceeding') {
            resolve({ kind: 'timeout' });
            tx.terminate();
          }
        });
        reportDone = () => this.options.timers.clear(timer);
      }
    });
  }

  private buildRequest(outgoing: OutgoingRequest, uri: SipUri, protocol: SipProtocol): SipRequest {
    const headers: Record<string, unknown> = {
      via: [
        {
          version: '2.0',
          protocol: protocol.toUpperCase(),
          host: this.host,
          port: this.port,
          params: { branch: generateBranch(), rport: null },
        },
      ],
      'max-forwards': 70,
      to: { uri: outgoing.to.replace(/^<(.*)>$/, '$1'), params: {} },
      from: { name: outgoing.fromName ? quote(outgoing.fromName) : undefined, uri: outgoing.from, params: { tag: randomTag() } },
      'call-id': outgoing.callId ?? generateCallId(this.host),
      cseq: { seq: 1, method: outgoing.method },
      'user-agent': USER_AGENT,
      ...(outgoing.contact ? { contact: [{ uri: outgoing.contact, params: {} }] } : {}),
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
        const tx = this.transactions.matchResponse(outcome.message);
        if (tx) tx.receive(outcome.message);
        else this.counters.strayResponses++;
        return;
      }
      case 'request':
        this.counters.requestsIn++;
        this.onRequest(outcome.message, remote);
    }
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
    if (match.kind === 'overloaded') {
      // RFC 3261 21.5.4: 503 with Retry-After, sent statelessly since we keep no more state.
      this.counters.overloadedRejected++;
      const r = makeResponse(request, 503, { headers: { 'retry-after': 5 } });
      sockets.sendQuietly(serializeSipMessage(r), target);
      return;
    }
    const tx = match.transaction;
    const toTag = randomTag();
    const respond: IncomingRequest['respond'] = (status, opts = {}) => {
      const response = makeResponse(request, status, { ...opts, toTag });
      response.headers['user-agent'] = USER_AGENT;
      tx.respond(serializeSipMessage(response), status);
    };
    // RFC 3261 8.2.2.3: an extension we do not support in Require gets 420 listing it in Unsupported
    // (a UAS ignores Proxy-Require). CANCEL and ACK are exempt.
    const required = String(request.headers.require ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (required.length && request.method !== 'CANCEL') {
      respond(420, { headers: { unsupported: required.join(', ') } });
      return;
    }
    if (request.method === 'OPTIONS' && !this.handlers.has('OPTIONS')) {
      // RFC 3261 11.2: answer OPTIONS as an INVITE would be answered, with our capabilities.
      respond(200, { headers: { allow: this.allowedMethods.join(', '), accept: 'text/plain' } });
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
      const result = handler({ request, remote, respond });
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
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
function responseTarget(request: SipRequest, remote: Remote): Remote {
  if (remote.protocol !== 'udp') return remote;
  const via = request.headers.via[0];
  const useSourcePort = via.params.rport !== undefined || via.port === undefined || via.params.received !== undefined;
  return { protocol: 'udp', address: remote.address, port: useSourcePort ? remote.port : (via.port ?? 5060) };
}

/** RFC 3263, reduced: no NAPTR or SRV yet; the host is looked up, the port defaults to 5060. */
async function resolveTarget(uri: SipUri): Promise<Remote> {
  const protocol: SipProtocol = (uri.params.transport ?? 'udp').toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  const host = uri.host.replace(/^\[(.*)\]$/, '$1');
  const address = isIP(host) ? host : (await lookup(host)).address;
  return { protocol, address, port: uri.port ?? 5060 };
}

function formatRequestUri(uri: SipUri): string {
  const host = isIP(uri.host) === 6 ? `[${uri.host}]` : uri.host;
  const params = Object.entries(uri.params)
    .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`))
    .join('');
  return `${uri.schema}:${uri.user ? uri.user + '@' : ''}${host}${uri.port ? ':' + uri.port : ''}${params}`;
}
