// SIP message codec. Parsing and serialising are the npm `sip` package's; on top of it we
// add the validation RFC 3261 asks of a receiver and RFC 4475 tests, so that the layers above
// only ever see well-formed messages, and a malformed request can still be answered with
// a 4xx when enough of it is readable (RFC 3261 8.2, 16.3; RFC 4475 3.1.2).
import { randomBytes } from 'node:crypto';
import * as sip from 'sip';
import { checkSipGrammar } from './grammar.js';

export type SipMessage = sip.Message;
export type SipHeaders = sip.Headers;
export type Via = sip.Via;
export type NameAddr = sip.NameAddr;

export interface SipRequest extends sip.Message {
  method: string;
  uri: string;
}
export interface SipResponse extends sip.Message {
  status: number;
  reason: string;
}

/** What parsing a datagram or a framed stream message gives. Never throws. */
export type ParseOutcome =
  | { kind: 'request'; message: SipRequest }
  | { kind: 'response'; message: SipResponse }
  /** A request we can answer: `status` says how (400, 416, 505, ...). */
  | { kind: 'bad-request'; status: number; reason: string; request: SipRequest }
  /** Nothing that can be answered: drop it and count it. */
  | { kind: 'garbage'; reason: string };

/** The largest message we accept, datagram or stream (RFC 3261 18.1.1 suggests ~1300 for UDP; TCP may carry more). */
export const MAX_MESSAGE_BYTES = 65_535;

export function isRequest(m: SipMessage): m is SipRequest {
  return typeof m.method === 'string';
}

export function parseSipMessage(bytes: Buffer): ParseOutcome {
  if (bytes.length === 0) return { kind: 'garbage', reason: 'empty' };
  if (bytes.length > MAX_MESSAGE_BYTES) return { kind: 'garbage', reason: 'oversized' };
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { kind: 'garbage', reason: 'no end of headers' };
  const head = text.slice(0, end);
  const body = text.slice(end + 4);

  let parsed: sip.Message | undefined;
  try {
    parsed = sip.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !hasCoreHeaders(parsed)) {
    return { kind: 'garbage', reason: parsed ? 'missing Via, From, To, Call-ID or CSeq' : 'unparseable' };
  }

  if (parsed.status !== undefined) {
    const problem = checkSipGrammar(head, body, 'response');
    if (problem) return { kind: 'garbage', reason: problem.reason };
    return { kind: 'response', message: parsed as SipResponse };
  }

  const request = parsed as SipRequest;
  const problem = checkSipGrammar(head, body, 'request');
  if (problem) return { kind: 'bad-request', status: problem.status, reason: problem.reason, request };
  return { kind: 'request', message: request };
}

function hasCoreHeaders(m: sip.Message): boolean {
  const h = m.headers as Partial<sip.Headers> | undefined;
  return (
    (typeof m.method === 'string' || (typeof m.status === 'number' && m.status >= 100 && m.status <= 699)) &&
    !!h &&
    Array.isArray(h.via) &&
    h.via.length > 0 &&
    typeof h['call-id'] === 'string' &&
    !!h.to &&
    !!h.from &&
    !!h.cseq &&
    Number.isFinite(h.cseq.seq)
  );
}

export function serializeSipMessage(m: SipMessage): Buffer {
  return Buffer.from(sip.stringify(m), 'latin1');
}

/** Bodies travel as latin1 strings inside the `sip` package: one char per byte. */
export function encodeBody(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
export function decodeBody(content: string | undefined): string {
  return Buffer.from(content ?? '', 'latin1').toString('utf8');
}

const REASONS: Record<number, string> = {
  100: 'Trying',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  483: 'Too Many Hops',
  486: 'Busy Here',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 300 ? 'OK' : 'Error');
}

/**
 * A response to `request` (RFC 3261 8.2.6): Via, From, Call-ID and CSeq copied, and a To tag
 * added when the request had none and this is not a 100.
 */
export function makeResponse(
  request: SipRequest,
  status: number,
  options: { reason?: string; toTag?: string; headers?: Record<string, unknown>; body?: string } = {},
): SipResponse {
  const to = { ...request.headers.to, params: { ...request.headers.to.params } };
  if (status !== 100 && to.params.tag === undefined) to.params.tag = options.toTag ?? randomTag();
  const response = sip.makeResponse(request, status, options.reason ?? reasonPhrase(status), {
    headers: { to, ...(options.headers ?? {}) },
    content: options.body === undefined ? undefined : encodeBody(options.body),
  }) as SipResponse;
  response.version = '2.0';
  return response;
}

export function randomTag(): string {
  return randomBytes(6).toString('hex');
}

export function generateBranch(): string {
  // RFC 3261 8.1.1.7: unique across space and time, with the magic cookie of an RFC 3261 branch.
  // (The `sip` package's own branch has only a million values.)
  return 'z9hG4bK' + randomBytes(9).toString('base64url');
}

export function generateCallId(host: string): string {
  return randomBytes(12).toString('base64url') + '@' + host;
}
