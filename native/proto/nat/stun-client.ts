// STUN Binding transactions (RFC 8489 6.2.1): a request is sent again after RTO, 2*RTO, ...
// until an answer with its transaction ID comes or the last wait runs out. Sans-IO: the caller
// gives the send function and the timers, and hands every STUN answer it receives to accept().
import { randomBytes } from 'node:crypto';
import type { TimerHandle, TimerHost } from '../sip/timers.js';
import {
  ATTR,
  BINDING,
  attribute,
  decodeAddress,
  decodeErrorCode,
  decodeXorAddress,
  encodeChangeRequest,
  parseStun,
  serializeStun,
  type ChangeRequest,
  type StunAttribute,
  type TransportAddress,
} from '../../wire/stun/message.js';

export interface BindingAnswer {
  /** XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from an RFC 3489 server): our address as the server saw it. */
  mapped: TransportAddress;
  /** RFC 5780 RESPONSE-ORIGIN: the socket the answer came from, as the server says. */
  origin?: TransportAddress;
  /** RFC 5780 OTHER-ADDRESS: the server's alternate address and port. */
  other?: TransportAddress;
  /** Where the answer really came from. */
  source: TransportAddress;
  rttMs: number;
  /** The server's Peerdial-specific attributes, raw. */
  attributes: StunAttribute[];
}

export type BindingOutcome = { ok: true; answer: BindingAnswer } | { ok: false; reason: 'timeout' | 'error-response'; code?: number; text?: string };

export interface StunClientOptions {
  timers: TimerHost;
  now: () => number;
  send(bytes: Buffer, to: TransportAddress): void;
  /** First wait; doubles each time (RFC 8489 6.2.1 uses 500 ms and 7 sends on the internet). */
  rtoMs?: number;
  sends?: number;
}

interface Pending {
  to: TransportAddress;
  change?: ChangeRequest;
  resolve(outcome: BindingOutcome): void;
  timer?: TimerHandle;
  sentAt: number;
}

export class StunClient {
  private readonly pending = new Map<string, Pending>();
  readonly counters = { sent: 0, answered: 0, timedOut: 0, unmatchedAnswers: 0, malformedAnswers: 0, forgedAnswers: 0 };

  constructor(private readonly options: StunClientOptions) {}

  binding(to: TransportAddress, options: { change?: ChangeRequest; attributes?: StunAttribute[]; rtoMs?: number; sends?: number } = {}): Promise<BindingOutcome> {
    const transactionId = randomBytes(12);
    const attributes = [...(options.attributes ?? [])];
    if (options.change) attributes.push({ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest(options.change) });
    const bytes = serializeStun({ method: BINDING, klass: 'request', transactionId, attributes }, { fingerprint: true });
    const key = transactionId.toString('hex');
    const sends = options.sends ?? this.options.sends ?? 3;
    let wait = options.rtoMs ?? this.options.rtoMs ?? 250;
    return new Promise<BindingOutcome>((resolve) => {
      const entry: Pending = { to, change: options.change, resolve, sentAt: this.options.now() };
      this.pending.set(key, entry);
      let sent = 0;
      const transmit = () => {
        this.counters.sent++;
        this.options.send(bytes, to);
        sent++;
        entry.timer = this.options.timers.set(wait, () => {
          if (sent < sends) {
            wait *= 2;
            transmit();
            return;
          }
          this.pending.delete(key);
          this.counters.timedOut++;
          resolve({ ok: false, reason: 'timeout' });
        });
      };
      transmit();
    });
  }

  /** A STUN answer arrived (from `source`). Returns false when it answers nothing we asked. */
  accept(bytes: Buffer, source: TransportAddress): boolean {
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformedAnswers++;
      return false;
    }
    const message = parsed.message;
    const key = message.transactionId.toString('hex');
    const entry = this.pending.get(key);
    if (!entry || (message.klass !== 'success' && message.klass !== 'error')) {
      this.counters.unmatchedAnswers++;
      return false;
    }
    if (!fromExpectedSocket(entry, source)) {
      // Right transaction ID, wrong sender: someone forging answers, or a server that ignored
      // CHANGE-REQUEST (RFC 5780 4.4 counts that as no answer).
      this.counters.forgedAnswers++;
      return false;
    }
    if (message.klass === 'error') {
      const error = attribute(message, ATTR.ERROR_CODE);
      const decoded = error && decodeErrorCode(error);
      this.settle(key, entry, { ok: false, reason: 'error-response', code: decoded?.code, text: decoded?.reason });
      return true;
    }
    const xor = attribute(message, ATTR.XOR_MAPPED_ADDRESS);
    const plain = attribute(message, ATTR.MAPPED_ADDRESS);
    const mapped = (xor && decodeXorAddress(xor, message.transactionId)) || (plain && decodeAddress(plain));
    if (!mapped) {
      // An answer that does not say where we are is no answer; keep waiting for a good one.
      this.counters.forgedAnswers++;
      return false;
    }
    const origin = attribute(message, ATTR.RESPONSE_ORIGIN);
    const other = attribute(message, ATTR.OTHER_ADDRESS);
    this.settle(key, entry, {
      ok: true,
      answer: {
        mapped,
        origin: origin && decodeAddress(origin),
        other: other && decodeAddress(other),
        source,
        rttMs: this.options.now() - entry.sentAt,
        attributes: message.attributes.filter((a) => a.type >= 0xc000),
      },
    });
    return true;
  }

  /** Gives up on every transaction still waiting (their outcome: timeout). */
  cancelAll(): void {
    for (const [key, entry] of this.pending) this.settle(key, entry, { ok: false, reason: 'timeout' });
  }

  get waiting(): number {
    return this.pending.size;
  }

  private settle(key: string, entry: Pending, outcome: BindingOutcome): void {
    if (entry.timer) this.options.timers.clear(entry.timer);
    this.pending.delete(key);
    if (outcome.ok) this.counters.answered++;
    entry.resolve(outcome);
  }
}

function fromExpectedSocket(entry: Pending, source: TransportAddress): boolean {
  const sameAddress = source.address === entry.to.address;
  const samePort = source.port === entry.to.port;
  if (!entry.change?.changeIp && !entry.change?.changePort) return sameAddress && samePort;
  if (entry.change.changeIp && sameAddress) return false;
  if (!entry.change.changeIp && !sameAddress) return false;
  if (entry.change.changePort && samePort && sameAddress) return false;
  return true;
}
