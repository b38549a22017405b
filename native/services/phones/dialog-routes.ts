// The requests of a dialog we record-routed (RFC 3261 16.6 step 4, 16.12): the Record-Route URI
// names the flow of the phone on one side (RFC 5626 5.3's flow token, in its user part, with a
// MAC so nobody can make us send to an address of their choosing). A request arriving with that
// Route goes to the flow, unless it came from the flow: then on to its Request-URI. Forwarded
// statelessly (16.11): the answers find their way back by the Vias.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { makeResponse, serializeSipMessage, type SipRequest, type SipResponse } from '../../wire/sip/message.js';
import { formatSipUri, hostForUri, parseSipUri, type SipUri } from '../../wire/sip/uri.js';
import type { Remote } from '../../transport/sip-sockets.js';
import { forwardResponseStatelessly, responseTarget, type MessageForwarder, type SipStack } from '../sip/index.js';

export const ROUTE_TOKEN_PREFIX = 'pdrr-';
const BRANCH_PREFIX = 'z9hG4bK-pdrr-';
const MAC_BYTES = 8;

export interface DialogRoutesOptions {
  stack: SipStack;
  /** Requests that were forwarded, refused for a bad token, or out of hops. */
  counters: { midDialogForwarded: number; badRouteToken: number; tooManyHops: number };
}

export class DialogRoutes implements MessageForwarder {
  private secret = randomBytes(32);

  constructor(private readonly options: DialogRoutesOptions) {}

  /** The key of the routes' MACs: kept across restarts, dialogs in progress keep their route. */
  useSecret(secret: Buffer): void {
    if (secret.length < 32) throw new Error('a route secret is at least 32 bytes');
    this.secret = Buffer.from(secret);
  }

  /**
   * The Record-Route entry for a dialog with the phone on `flow`. For a phone over TLS it names
   * our TLS listener: the phone sends the dialog's requests on its connection, and the far end
   * reaches us over TLS too.
   */
  recordRoute(flow: Remote): { uri: string; params: Record<string, unknown> } {
    const text = `${flow.protocol}~${flow.address}~${flow.port}`;
    const token = ROUTE_TOKEN_PREFIX + Buffer.from(text).toString('base64url') + '.' + this.mac(text);
    const stack = this.options.stack;
    if (flow.protocol === 'tls' && stack.tlsPort !== undefined) return { uri: `sip:${token}@${hostForUri(stack.host)}:${stack.tlsPort};transport=tls;lr`, params: {} };
    return { uri: `sip:${token}@${hostForUri(stack.host)}:${stack.port};lr`, params: {} };
  }

  request(request: SipRequest, remote: Remote): boolean {
    // A phone may put its outbound proxy (us, plainly) before the route set: that entry is spent.
    const routes = routesOf(request);
    let skip = 0;
    while (skip < routes.length - 1 && this.isPlainUs(routes[skip])) skip++;
    const top = routes[skip];
    const uri = top && parseSipUri(uriText(top.uri));
    if (!uri?.user?.startsWith(ROUTE_TOKEN_PREFIX) || !this.isUs(uri.host, uri.port)) return false;
    if (skip) request.headers.route = routes.slice(skip);
    const flow = this.flowOfToken(uri.user);
    if (!flow) {
      this.options.counters.badRouteToken++;
      if (request.method !== 'ACK') this.answer(request, remote, 403, 'Forbidden (not a route this node made)');
      return true;
    }
    const hops = Number(request.headers['max-forwards'] ?? 70);
    if (hops <= 0) {
      this.options.counters.tooManyHops++;
      if (request.method !== 'ACK') this.answer(request, remote, 483, 'Too Many Hops');
      return true;
    }
    request.headers['max-forwards'] = hops - 1;
    // RFC 3261 16.4: our own Route entry comes off.
    request.headers.route = routesOf(request).slice(1);
    const fromFlow = remote.protocol === flow.protocol && remote.address === flow.address && remote.port === flow.port;
    void this.nextHop(request, fromFlow ? undefined : flow).then((next) => {
      if (!next) return;
      const incomingBranch = String(request.headers.via[0]?.params.branch ?? '');
      // RFC 3261 16.11: the branch is a function of the request, so retransmissions (and a CANCEL) match.
      const branch = BRANCH_PREFIX + createHash('sha1').update(`${incomingBranch}|${request.method === 'CANCEL' ? 'INVITE' : request.method}`).digest('hex').slice(0, 20);
      const stack = this.options.stack;
      request.headers.via.unshift({ version: '2.0', protocol: next.protocol.toUpperCase(), host: stack.host, port: stack.viaPort(next.protocol), params: { branch, rport: null } });
      this.options.counters.midDialogForwarded++;
      void stack.sendRaw(serializeSipMessage(request), next).catch(() => undefined);
    });
    return true;
  }

  response(response: SipResponse): boolean {
    return forwardResponseStatelessly(this.options.stack, response, BRANCH_PREFIX);
  }

  /** The next Route, else the phone's flow, else the Request-URI (ourselves over loopback). */
  private async nextHop(request: SipRequest, flow: Remote | undefined): Promise<Remote | undefined> {
    const route = routesOf(request)[0];
    if (!route && flow) return flow;
    const uri = parseSipUri(route ? uriText(route.uri) : request.uri);
    if (!uri) return undefined;
    try {
      return await this.options.stack.resolve(uri);
    } catch {
      return undefined;
    }
  }

  /** The flow a Record-Route user part names, when this node made it (its MAC checks out). */
  flowOfToken(user: string): Remote | undefined {
    const [encoded, mac] = user.slice(ROUTE_TOKEN_PREFIX.length).split('.');
    if (!encoded || !mac) return undefined;
    const text = Buffer.from(encoded, 'base64url').toString();
    const expected = Buffer.from(this.mac(text));
    if (expected.length !== mac.length || !timingSafeEqual(expected, Buffer.from(mac))) return undefined;
    const [protocol, address, port] = text.split('~');
    if ((protocol !== 'udp' && protocol !== 'tcp' && protocol !== 'tls') || !address || !Number(port)) return undefined;
    return { protocol, address, port: Number(port) };
  }

  private mac(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest().subarray(0, MAC_BYTES).toString('base64url');
  }

  private isPlainUs(route: RouteEntry): boolean {
    const uri = parseSipUri(uriText(route.uri));
    return !!uri && !uri.user && this.isUs(uri.host, uri.port);
  }

  private isUs(host: string, port: number | undefined): boolean {
    return this.options.stack.isOwnAddress(host, port);
  }

  private answer(request: SipRequest, remote: Remote, status: number, reason: string): void {
    const response = makeResponse(request, status, { reason });
    void this.options.stack.sendRaw(serializeSipMessage(response), responseTarget(request, remote)).catch(() => undefined);
  }
}

/** A Route entry's URI: parsed by the codec, or a string we wrote. */
export function uriText(uri: string | SipUri): string {
  return typeof uri === 'string' ? uri : formatSipUri(uri);
}

export type RouteEntry = { uri: string | SipUri; params: Record<string, unknown> };

/** The Route header's entries (RFC 3261 20.34), first the next hop. */
export function routesOf(request: SipRequest): RouteEntry[] {
  return (request.headers.route as RouteEntry[] | undefined) ?? [];
}
