// RFC 3261 17: matching messages to transactions, with bounded memory. The `sip` package keeps
// every transaction with its whole message and closures for 32 s; at thousands of requests
// per second that grows without bound, so here completed server transactions hold only
// their response bytes and the oldest completed ones are let go first when the table is full.
import type { SipRequest, SipResponse } from '../../wire/sip/message.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { NonInviteClientTransaction, type ClientOutcome } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import type { TimerHost } from './timers.js';

export interface TransactionLayerOptions {
  timers: TimerHost;
  /** Server transactions kept at once; past this, completed ones are evicted early. */
  maxServerTransactions?: number;
  /** Client transactions in flight at once; past this, new requests are refused. */
  maxClientTransactions?: number;
}

export type ServerTransaction = NonInviteServerTransaction | InviteServerTransaction;
export type ClientTransaction = NonInviteClientTransaction | InviteClientTransaction;

export type ServerMatch =
  | { kind: 'new'; transaction: ServerTransaction }
  | { kind: 'retransmission' }
  /** An ACK that belongs to no transaction: the ACK for a 2xx, which the dialog takes (RFC 3261 13.3.1.4). */
  | { kind: 'ack' }
  | { kind: 'overloaded' };

export class TransactionLayer {
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly timers: TimerHost;
  private readonly maxServers: number;
  private readonly maxClients: number;
  /** Completed server transactions let go before Timer J to stay within the bound. */
  evicted = 0;

  constructor(options: TransactionLayerOptions) {
    this.timers = options.timers;
    this.maxServers = options.maxServerTransactions ?? 20_000;
    this.maxClients = options.maxClientTransactions ?? 10_000;
  }

  get size(): { clients: number; servers: number } {
    return { clients: this.clients.size, servers: this.servers.size };
  }

  /** Starts a client transaction, or returns undefined when too many are in flight. */
  startClient(
    request: SipRequest,
    bytes: Buffer,
    reliable: boolean,
    send: (bytes: Buffer) => void,
    report: (outcome: ClientOutcome) => void,
  ): NonInviteClientTransaction | undefined {
    if (this.clients.size >= this.maxClients) return undefined;
    const key = clientKey(request.headers.via[0].params.branch ?? '', request.headers.cseq.method);
    const tx = new NonInviteClientTransaction(key, bytes, reliable, this.timers, send, report, () => {
      if (this.clients.get(key) === tx) this.clients.delete(key);
    });
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** Starts an INVITE client transaction; `ackFor` builds the ACK for a non-2xx final response. */
  startInviteClient(
    request: SipRequest,
    bytes: Buffer,
    reliable: boolean,
    send: (bytes: Buffer) => void,
    ackFor: (response: SipResponse) => Buffer,
    report: (outcome: ClientOutcome) => void,
  ): InviteClientTransaction | undefined {
    if (this.clients.size >= this.maxClients) return undefined;
    const key = clientKey(request.headers.via[0].params.branch ?? '', 'INVITE');
    const tx = new InviteClientTransaction(key, bytes, reliable, this.timers, send, ackFor, report, () => {
      if (this.clients.get(key) === tx) this.clients.delete(key);
    });
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** RFC 3261 17.1.3: a response matches by the top Via branch and the CSeq method. */
  matchResponse(response: SipResponse): ClientTransaction | undefined {
    const branch = response.headers.via[0]?.params.branch;
    if (!branch) return undefined;
    return this.clients.get(clientKey(branch, response.headers.cseq.method));
  }

  /** RFC 3261 17.2.3: a request matches by branch, sent-by and method (ACK matches INVITE). */
  matchRequest(request: SipRequest, reliable: boolean, send: (bytes: Buffer) => void): ServerMatch {
    const key = serverKey(request);
    const existing = this.servers.get(key);
    if (request.method === 'ACK') {
      // RFC 3261 17.2.1: the ACK for a non-2xx response belongs to the INVITE transaction; any
      // other ACK (for a 2xx, a new branch) never starts a transaction and goes to the dialog.
      if (existing instanceof InviteServerTransaction && existing.state === 'completed') {
        existing.receiveAck();
        return { kind: 'retransmission' };
      }
      if (existing instanceof InviteServerTransaction && existing.state === 'confirmed') return { kind: 'retransmission' };
      return { kind: 'ack' };
    }
    if (existing) {
      existing.receiveRetransmission();
      return { kind: 'retransmission' };
    }
    if (this.servers.size >= this.maxServers && !this.evictCompleted()) return { kind: 'overloaded' };
    const done = () => {
      if (this.servers.get(key) === tx) this.servers.delete(key);
    };
    const tx: ServerTransaction =
      request.method === 'INVITE'
        ? new InviteServerTransaction(key, reliable, this.timers, send, () => undefined, done)
        : new NonInviteServerTransaction(key, reliable, this.timers, send, done);
    this.servers.set(key, tx);
    return { kind: 'new', transaction: tx };
  }

  /**
   * True when `request` is no new work: a retransmission of a request we hold a server transaction
   * for, or a CANCEL of an INVITE we hold (rate limits never refuse these).
   */
  knows(request: SipRequest): boolean {
    if (this.servers.has(serverKey(request))) return true;
    return request.method === 'CANCEL' && this.inviteServerFor(request) !== undefined;
  }

  /** RFC 3261 9.2: the INVITE server transaction a CANCEL is for (same branch and sent-by). */
  inviteServerFor(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.servers.get(serverKey(cancel, 'INVITE'));
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  shutdown(): void {
    for (const tx of [...this.clients.values()]) tx.terminate();
    for (const tx of [...this.servers.values()]) tx.terminate();
  }

  /** Lets go of the oldest completed transactions (Map order is insertion order). */
  private evictCompleted(): boolean {
    const target = Math.floor(this.maxServers * 0.9);
    let scanned = 0;
    for (const tx of this.servers.values()) {
      if (this.servers.size <= target || scanned++ > 4096) break;
      if (tx.state === 'completed') {
        tx.terminate();
        this.evicted++;
      }
    }
    return this.servers.size < this.maxServers;
  }
}

function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

function serverKey(request: SipRequest, asMethod?: string): string {
  const via = request.headers.via[0];
  const method = asMethod ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  const branch = via.params.branch ?? '';
  if (branch.startsWith('z9hG4bK')) return `${branch}\u0000${via.host}:${via.port ?? ''}\u0000${method}`;
  // RFC 3261 17.2.3 leaves RFC 2543 matching to the element; Call-ID, CSeq and From tag suffice here.
  return `${request.headers['call-id']}\u0000${request.headers.cseq.seq}\u0000${request.headers.from.params.tag ?? ''}\u0000${method}`;
}
