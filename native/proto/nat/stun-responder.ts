// The STUN server every member runs on its SIP socket (RFC 8489 Binding) with the RFC 5780 NAT
// behaviour discovery extensions. Sans-IO: given a datagram and the socket it arrived on, it says
// what to send from which socket, or why it dropped it.
//
// RFC 5780 needs four sockets: two addresses (the "ip" bit) by two ports (the "port" bit). A
// member with two addresses holds all four itself. A member with one address holds the two with
// ip = 0 (its SIP port and an alternate port) and a partner member holds the two with ip = 1:
// a request that asks for another address is passed to the partner, which answers it from its
// own socket (docs/protocol.md "STUN on the SIP socket").
import {
  ATTR,
  BINDING,
  attribute,
  decodeChangeRequest,
  decodeXorAddress,
  encodeAddress,
  encodeErrorCode,
  encodeXorAddress,
  parseStun,
  serializeStun,
  unknownRequiredAttributes,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../wire/stun/message.js';

/** One of the four RFC 5780 sockets: bit ip (0 = primary address), bit port (0 = primary port). */
export interface SocketRole {
  ip: 0 | 1;
  port: 0 | 1;
}

export interface ResponderLayout {
  /** The four sockets' addresses; [ip][port]. Missing entries are sockets nobody holds. */
  addresses: (TransportAddress | undefined)[][];
  /** The ip = 1 sockets belong to a partner member (answer requests go to its SIP socket). */
  partner?: TransportAddress;
}

export type ResponderAction =
  | { kind: 'reply'; from: SocketRole; to: TransportAddress; bytes: Buffer }
  /** Ask the partner to answer: send `bytes` to it from our SIP socket. */
  | { kind: 'ask-partner'; to: TransportAddress; bytes: Buffer }
  | { kind: 'drop'; reason: StunDropReason };

export type StunDropReason =
  | 'malformed'
  | 'not-a-binding-request'
  | 'answer-request-not-from-partner'
  | 'bad-answer-request'
  | 'response-we-did-not-ask-for';

export const KNOWN_ATTRIBUTES: readonly number[] = [ATTR.CHANGE_REQUEST, ATTR.USERNAME, ATTR.MESSAGE_INTEGRITY, ATTR.PADDING, ATTR.RESPONSE_PORT];

export class StunResponder {
  constructor(
    private layout: ResponderLayout,
    private readonly software: string,
  ) {}

  setLayout(layout: ResponderLayout): void {
    this.layout = layout;
  }

  /** A datagram that looksLikeStun() arrived on socket `on` from `source`. */
  handle(bytes: Buffer, source: TransportAddress, on: SocketRole): ResponderAction {
    const parsed = parseStun(bytes);
    if (!parsed.ok) return { kind: 'drop', reason: 'malformed' };
    return this.answer(parsed.message, source, on);
  }

  /** As handle(), for a message already parsed; `extra` attributes go into a success answer. */
  answer(message: StunMessage, source: TransportAddress, on: SocketRole, extra: { type: number; value: Buffer }[] = []): ResponderAction {
    if (message.method !== BINDING) return { kind: 'drop', reason: 'not-a-binding-request' };
    if (message.klass === 'indication') return this.partnerAsks(message, source);
    if (message.klass !== 'request') return { kind: 'drop', reason: 'response-we-did-not-ask-for' };

    const unknown = unknownRequiredAttributes(message, KNOWN_ATTRIBUTES);
    if (unknown.length) {
      // RFC 8489 6.3.1.1: 420 listing what we do not understand.
      const list = Buffer.alloc(unknown.length * 2);
      unknown.forEach((t, i) => list.writeUInt16BE(t, i * 2));
      return { kind: 'reply', from: on, to: source, bytes: this.error(message, 420, 'Unknown Attribute', [{ type: ATTR.UNKNOWN_ATTRIBUTES, value: list }]) };
    }
    const changeValue = attribute(message, ATTR.CHANGE_REQUEST);
    const change = changeValue ? decodeChangeRequest(changeValue) : { changeIp: false, changePort: false };
    if (!change) return { kind: 'reply', from: on, to: source, bytes: this.error(message, 400, 'Bad CHANGE-REQUEST') };
    const from: SocketRole = { ip: (on.ip ^ (change.changeIp ? 1 : 0)) as 0 | 1, port: (on.port ^ (change.changePort ? 1 : 0)) as 0 | 1 };
    const origin = this.layout.addresses[from.ip]?.[from.port];
    if (!origin) {
      // RFC 5780 6.1: a server that cannot honour CHANGE-REQUEST answers 420 (as if unknown).
      const list = Buffer.alloc(2);
      list.writeUInt16BE(ATTR.CHANGE_REQUEST);
      return { kind: 'reply', from: on, to: source, bytes: this.error(message, 420, 'Cannot change address', [{ type: ATTR.UNKNOWN_ATTRIBUTES, value: list }]) };
    }
    // RFC 5780 7.5 RESPONSE-PORT: the answer goes to the asker's address at this port (never to
    // another address), so it can learn whether a socket that sent nothing gets in.
    const responsePort = attribute(message, ATTR.RESPONSE_PORT);
    if (responsePort && responsePort.length !== 4) return { kind: 'reply', from: on, to: source, bytes: this.error(message, 400, 'Bad RESPONSE-PORT') };
    const to = responsePort ? { address: source.address, port: responsePort.readUInt16BE(0) } : source;
    if (from.ip === 1 && this.layout.partner && on.ip === 0) {
      // The partner answers from its own socket: tell it where to, and which of its ports.
      const ask: StunMessage = {
        method: BINDING,
        klass: 'indication',
        transactionId: message.transactionId,
        attributes: [
          { type: ATTR.PEERDIAL_ANSWER_TO, value: encodeXorAddress(to, message.transactionId) },
          { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(source, message.transactionId) },
          { type: ATTR.CHANGE_REQUEST, value: Buffer.from([0, 0, 0, from.port ? 2 : 0]) },
        ],
      };
      return { kind: 'ask-partner', to: this.layout.partner, bytes: serializeStun(ask, { fingerprint: true }) };
    }
    return { kind: 'reply', from, to, bytes: this.success(message.transactionId, source, origin, on, extra) };
  }

  /**
   * The partner passes a request on to us. We answer only our partner (no one else can make us
   * send to a third party), and only to the asker's source the partner observed.
   */
  private partnerAsks(message: StunMessage, source: TransportAddress): ResponderAction {
    const partner = this.layout.partner;
    if (!partner || partner.address !== source.address || partner.port !== source.port) return { kind: 'drop', reason: 'answer-request-not-from-partner' };
    const target = attribute(message, ATTR.PEERDIAL_ANSWER_TO);
    const to = target && decodeXorAddress(target, message.transactionId);
    const observed = attribute(message, ATTR.XOR_MAPPED_ADDRESS);
    const mapped = (observed && decodeXorAddress(observed, message.transactionId)) || to;
    const changeValue = attribute(message, ATTR.CHANGE_REQUEST);
    const change = changeValue && decodeChangeRequest(changeValue);
    if (!to || !change) return { kind: 'drop', reason: 'bad-answer-request' };
    // From the partner's side its sockets are ip = 1; ours, seen from here, are ip = 0.
    const from: SocketRole = { ip: 0, port: change.changePort ? 1 : 0 };
    const origin = this.layout.addresses[0]?.[from.port];
    if (!origin) return { kind: 'drop', reason: 'bad-answer-request' };
    // No OTHER-ADDRESS here: the asker read it from the first answer, the one to its own request.
    if (!mapped || mapped.address !== to.address) return { kind: 'drop', reason: 'bad-answer-request' };
    return { kind: 'reply', from, to, bytes: this.success(message.transactionId, mapped, origin) };
  }

  private success(transactionId: Buffer, mapped: TransportAddress, origin: TransportAddress, arrival?: SocketRole, extra: { type: number; value: Buffer }[] = []): Buffer {
    const attributes: StunAttribute[] = [
      { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(mapped, transactionId) },
      // RFC 5780 7.2 / RFC 3489 clients (turnutils_natdiscovery among them) still read MAPPED-ADDRESS.
      { type: ATTR.MAPPED_ADDRESS, value: encodeAddress(mapped) },
      { type: ATTR.RESPONSE_ORIGIN, value: encodeAddress(origin) },
    ];
    // RFC 5780 7.4: the socket that would answer a request with both change flags set.
    const other = arrival && this.layout.addresses[arrival.ip ^ 1]?.[arrival.port ^ 1];
    if (other) attributes.push({ type: ATTR.OTHER_ADDRESS, value: encodeAddress(other) });
    attributes.push(...extra, { type: ATTR.SOFTWARE, value: Buffer.from(this.software) });
    return serializeStun({ method: BINDING, klass: 'success', transactionId, attributes }, { fingerprint: true });
  }

  private error(request: StunMessage, code: number, reason: string, extra: { type: number; value: Buffer }[] = []): Buffer {
    return serializeStun(
      {
        method: BINDING,
        klass: 'error',
        transactionId: request.transactionId,
        attributes: [{ type: ATTR.ERROR_CODE, value: encodeErrorCode(code, reason) }, ...extra, { type: ATTR.SOFTWARE, value: Buffer.from(this.software) }],
      },
      { fingerprint: true },
    );
  }
}
