// A SIP stack stand-in for the RFC 6665 machines' unit tests: it records each request sent and
// lets the test answer it, so every step of a subscription is driven on a fake clock.
import type { IncomingRequest, OutgoingRequest, RequestOutcome, SipStack } from '../../../native/services/sip/index.js';
import type { SipRequest, SipResponse } from '../../../native/wire/sip/message.js';

export interface SentRequest {
  request: OutgoingRequest;
  answer(outcome: RequestOutcome): void;
}

export class FakeStack {
  readonly host = '192.0.2.1';
  readonly sent: SentRequest[] = [];
  private waiting: Array<() => void> = [];

  /** No TLS here: the Contact goes out as given. */
  contactToward(_target: string, contact: string): string {
    return contact;
  }

  request(request: OutgoingRequest): Promise<RequestOutcome> {
    return new Promise((resolve) => {
      this.sent.push({ request, answer: resolve });
      for (const wake of this.waiting.splice(0)) wake();
    });
  }

  asStack(): SipStack {
    return this as unknown as SipStack;
  }

  /** The n-th request sent (from 0), once it has been sent. */
  async nth(n: number): Promise<SentRequest> {
    while (this.sent.length <= n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.sent[n];
  }
}

export function ok(headers: Record<string, unknown> = {}): RequestOutcome {
  return { kind: 'final', response: { status: 200, reason: 'OK', headers: { from: { uri: 'sip:me@x', params: { tag: 'local' } }, to: { uri: 'sip:peer@x', params: { tag: 'remote' } }, ...headers } } as unknown as SipResponse };
}

export function status(code: number): RequestOutcome {
  return { kind: 'final', response: { status: code, reason: 'X', headers: {} } as unknown as SipResponse };
}

/** An incoming request as the stack hands it to a handler, with the answer it got. */
export function incoming(method: string, headers: Record<string, unknown>, content = ''): IncomingRequest & { answered: Array<{ status: number; options?: unknown }> } {
  const answered: Array<{ status: number; options?: unknown }> = [];
  return {
    request: { method, uri: 'sip:me@192.0.2.1', version: '2.0', headers, content } as unknown as SipRequest,
    remote: { protocol: 'udp', address: '192.0.2.9', port: 5060 } as IncomingRequest['remote'],
    toTag: 'our-tag',
    respond: (s, options) => answered.push({ status: s, options }),
    discard: () => undefined,
    relay: (response) => answered.push({ status: response.status, options: { relayed: response } }),
    answered,
  };
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
