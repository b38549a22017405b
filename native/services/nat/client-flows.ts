// A member's side of carrying clients' signalling (RFC 5626 outbound, reduced): a client behind a
// NAT registers with the member over the flow it keeps open; the member answers with a Path URI
// naming the flow (RFC 3327, the flow token in its user part, RFC 5626 5.2), and the client
// publishes that URI as its contact. A request whose Request-URI is such a URI is forwarded
// statelessly (RFC 3261 16.11) over the flow; the answers come back through our Via.
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { makeResponse, serializeSipMessage, type SipRequest, type SipResponse } from '../../wire/sip/message.js';
import { parseSipUri } from '../../wire/sip/uri.js';
import type { Remote } from '../../transport/sip-sockets.js';
import { forwardResponseStatelessly, responseTarget, type IncomingRequest, type MessageForwarder, type SipStack } from '../sip/index.js';

export interface ClientFlowsOptions {
  stack: SipStack;
  log: Logger;
  now?: () => number;
  /** Whether this node carries clients now (a member), and if not, why. */
  accepting(): { ok: true } | { ok: false; reason: string };
  /** Clients carried at most; more are refused with 503, so clients spread over members. */
  maxClients?: number;
  /** A flow with no keepalive or REGISTER for this long is gone (RFC 5626 keepalives every 25 s). */
  flowTimeoutMs?: number;
  onChange?(): void;
}

export interface Flow {
  token: string;
  remote: Remote;
  user: string;
  /** The contact the client registered (its own address): requests are retargeted to it. */
  contact: string;
  instance?: string;
  lastSeen: number;
  expires: number;
}

export const FLOW_TOKEN_PREFIX = 'pdflow-';
const BRANCH_PREFIX = 'z9hG4bK-pdfwd-';
const DEFAULT_MAX_CLIENTS = 5_000;
const DEFAULT_FLOW_TIMEOUT_MS = 90_000;
const MAX_EXPIRES_S = 600;

export class ClientFlows implements MessageForwarder {
  private readonly flows = new Map<string, Flow>();
  /** host:port of a flow's remote -> its token, so a keepalive finds its flow. */
  private readonly byRemote = new Map<string, string>();
  private readonly now: () => number;
  readonly counters = { registered: 0, refused: 0, forwardedRequests: 0, forwardedResponses: 0, flowFailed: 0, tooManyHops: 0 };

  constructor(private readonly options: ClientFlowsOptions) {
    this.now = options.now ?? Date.now;
  }

  get count(): number {
    this.sweep();
    return this.flows.size;
  }

  /** A REGISTER that is not an overlay operation: a client attaching (or refreshing, or leaving). */
  onRegister(incoming: IncomingRequest): void {
    const { request, remote } = incoming;
    const first = request.headers.contact?.[0];
    const contact = typeof first === 'object' ? first : undefined;
    const to = parseSipUri(request.headers.to?.uri ?? '');
    if (!contact || !to?.user) {
      incoming.respond(400, { reason: 'Bad Request (a client registration needs To with a user and a Contact)' });
      return;
    }
    const accepting = this.options.accepting();
    if (!accepting.ok) {
      this.counters.refused++;
      incoming.respond(403, { reason: `Forbidden (${accepting.reason})` });
      return;
    }
    const expires = Math.min(MAX_EXPIRES_S, Number(contact.params.expires ?? request.headers.expires ?? 300));
    const key = `${remote.protocol}:${remote.address}:${remote.port}`;
    const existing = this.byRemote.get(key);
    if (expires === 0) {
      if (existing) this.remove(existing);
      incoming.respond(200);
      return;
    }
    this.sweep();
    if (!existing && this.flows.size >= (this.options.maxClients ?? DEFAULT_MAX_CLIENTS)) {
      this.counters.refused++;
      incoming.respond(503, { reason: `Service Unavailable (this member carries ${this.flows.size} clients, its most; attach to another)`, headers: { 'retry-after': 30 } });
      return;
    }
    const token = existing ?? FLOW_TOKEN_PREFIX + randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
    const instance = typeof contact.params['+sip.instance'] === 'string' ? contact.params['+sip.instance'] : undefined;
    this.flows.set(token, { token, remote, user: to.user, contact: contact.uri, instance, lastSeen: this.now(), expires: this.now() + expires * 1000 });
    this.byRemote.set(key, token);
    if (!existing) {
      this.counters.registered++;
      this.options.log.info('client attached', { user: to.user, remote: `${remote.address}:${remote.port}`, protocol: remote.protocol });
      this.options.onChange?.();
    }
    const host = this.options.stack.host.includes(':') ? `[${this.options.stack.host}]` : this.options.stack.host;
    incoming.respond(200, {
      headers: {
        contact: [{ uri: contact.uri, params: { ...contact.params, expires } }],
        // RFC 3327 Path, RFC 5626 5.2: the flow token in the user part; `ob` says it is a flow.
        path: `<sip:${token}@${host}:${this.options.stack.port};lr;ob>`,
        require: 'outbound',
      },
    });
  }

  /** A STUN keepalive (or any packet) from a flow's remote keeps it alive. */
  touch(remote: Remote): void {
    const token = this.byRemote.get(`${remote.protocol}:${remote.address}:${remote.port}`);
    const flow = token && this.flows.get(token);
    if (flow) flow.lastSeen = this.now();
  }

  request(request: SipRequest, remote: Remote): boolean {
    const uri = parseSipUri(request.uri);
    if (!uri?.user?.startsWith(FLOW_TOKEN_PREFIX)) return false;
    if (!this.isUs(uri.host, uri.port)) return false;
    const flow = this.live(uri.user);
    if (!flow) {
      // RFC 5626 5.3: the flow is gone; the sender looks the user up again.
      this.counters.flowFailed++;
      if (request.method !== 'ACK') this.answer(request, remote, 430, 'Flow Failed');
      return true;
    }
    const hops = Number(request.headers['max-forwards'] ?? 70);
    if (hops <= 0) {
      this.counters.tooManyHops++;
      if (request.method !== 'ACK') this.answer(request, remote, 483, 'Too Many Hops');
      return true;
    }
    request.headers['max-forwards'] = hops - 1;
    // RFC 5626 5.3 / RFC 3261 16.5: retarget to the contact the client registered.
    request.uri = flow.contact;
    // RFC 3261 16.11: a stateless proxy's branch is a function of the request, so a
    // retransmission (and a CANCEL, which shares the INVITE's branch) gets the same one.
    const incomingBranch = String(request.headers.via[0]?.params.branch ?? '');
    const branch = BRANCH_PREFIX + createHash('sha1').update(`${incomingBranch}|${flow.token}|${request.method === 'CANCEL' ? 'INVITE' : request.method}`).digest('hex').slice(0, 20);
    request.headers.via.unshift({ version: '2.0', protocol: flow.remote.protocol.toUpperCase(), host: this.options.stack.host, port: this.options.stack.port, params: { branch, rport: null } });
    this.counters.forwardedRequests++;
    void this.options.stack.sendRaw(serializeSipMessage(request), flow.remote).catch(() => {
      this.counters.flowFailed++;
      this.remove(flow.token);
    });
    return true;
  }

  response(response: SipResponse, _remote: Remote): boolean {
    if (!forwardResponseStatelessly(this.options.stack, response, BRANCH_PREFIX)) return false;
    this.counters.forwardedResponses++;
    return true;
  }

  view(): { clients: number; max: number; counters: ClientFlows['counters'] } {
    return { clients: this.count, max: this.options.maxClients ?? DEFAULT_MAX_CLIENTS, counters: { ...this.counters } };
  }

  private live(token: string): Flow | undefined {
    const flow = this.flows.get(token);
    if (!flow) return undefined;
    if (this.expired(flow)) {
      this.remove(token);
      return undefined;
    }
    return flow;
  }

  private expired(flow: Flow): boolean {
    const now = this.now();
    return now > flow.expires || now - flow.lastSeen > (this.options.flowTimeoutMs ?? DEFAULT_FLOW_TIMEOUT_MS);
  }

  private sweep(): void {
    for (const flow of [...this.flows.values()]) if (this.expired(flow)) this.remove(flow.token);
  }

  private remove(token: string): void {
    const flow = this.flows.get(token);
    if (!flow) return;
    this.flows.delete(token);
    this.byRemote.delete(`${flow.remote.protocol}:${flow.remote.address}:${flow.remote.port}`);
    this.options.log.info('client flow ended', { user: flow.user, remote: `${flow.remote.address}:${flow.remote.port}` });
    this.options.onChange?.();
  }

  private isUs(host: string, port: number | undefined): boolean {
    return this.options.stack.isOwnAddress(host, port);
  }

  private answer(request: SipRequest, remote: Remote, status: number, reason: string): void {
    const response = makeResponse(request, status, { reason });
    void this.options.stack.sendRaw(serializeSipMessage(response), responseTarget(request, remote)).catch(() => undefined);
  }
}
