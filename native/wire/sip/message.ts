// SIP message codec. Parsing and serialising are the npm `sip` package's; on top of it we
// add the validation RFC 3261 asks of a receiver and RFC 4475 tests, so that the layers above
// only ever see well-formed messages, and a malformed request can still be answered with
// a 4xx when enough of it is readable (RFC 3261 8.2, 16.3; RFC 4475 3.1.2).
import { randomBytes } from 'node:crypto';
import * as sip from 'sip';
import {
  checkHeaderValue,
  checkSipGrammar,
  parseStartLine,
  salvageHeaderValue,
  splitSipMessage,
  STRUCTURED_HEADERS,
  type GrammarProblem,
  type RawSipMessage,
  type StartLine,
} from './grammar.js';

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
  const raw = splitSipMessage(bytes.toString('latin1'));
  if (!raw) return { kind: 'garbage', reason: 'no end of headers' };
  const start = parseStartLine(raw.startLine);
  if (!start) return { kind: 'garbage', reason: 'no Request-Line or Status-Line' };

  const grammarProblem = checkSipGrammar(raw, start);
  const parsed = parseWithSipPackage(raw, start, grammarProblem === undefined);
  const problem = grammarProblem ?? (parsed && unreadableRouteUri(parsed));
  if (start.kind === 'response') {
    // RFC 4475 3.1.2.5, 3.1.2.19: a malformed response is dropped; nobody is there to answer.
    if (problem || !parsed || !hasCoreHeaders(parsed)) return { kind: 'garbage', reason: problem?.reason ?? 'unreadable response' };
    return { kind: 'response', message: parsed as SipResponse };
  }
  const request = parsed as SipRequest | undefined;
  if (!problem && request && hasCoreHeaders(request)) return { kind: 'request', message: request };
  // RFC 3261 8.2 / 18.2.2: an error response needs a Via to travel back on and a CSeq for the
  // client to match it (RFC 3261 17.1.3); without them the request is garbage.
  if (!request || !isAnswerable(request)) return { kind: 'garbage', reason: problem?.reason ?? 'unanswerable request' };
  const { status, reason } = problem ?? { status: 400, reason: 'unreadable header field' };
  return { kind: 'bad-request', status, reason, request };
}

/**
 * Builds the `sip` package's message object from the text we already split and judged. The
 * package sees a canonical rendering: one header per line, the body cut to Content-Length
 * (RFC 3261 18.3: octets past it in a datagram are ignored, RFC 4475 3.1.1.8), and names
 * it must not %-decode (RFC 4475 3.1.1.5: "C%6Fntact" is not Contact).
 */
function parseWithSipPackage(raw: RawSipMessage, start: StartLine, wellFormed: boolean): sip.Message | undefined {
  const lengthHeaders = raw.headers.filter((h) => h.name === 'content-length');
  let body = raw.rest;
  if (lengthHeaders.length === 1 && /^\d+$/.test(lengthHeaders[0].value)) body = body.slice(0, Number(lengthHeaders[0].value));
  else if (!wellFormed) body = '';
  const startLine =
    start.kind === 'response'
      ? `SIP/${start.version} ${start.status} ${start.reason}`
      : `${start.method} ${start.uri.replace(/[ \t]+/g, '') || 'sip:invalid'} SIP/${start.version}`;
  // Only values that passed their grammar (or the salvaged part of a broken Via or CSeq) reach
  // the package's parsers: their patterns scan forward from every offset on a mismatch, which
  // a stranger's 60 KB header would turn into seconds of CPU. Other fields stay text.
  const lines: string[] = [];
  const texts = new Map<string, string>();
  for (const h of raw.headers) {
    // Names like "constructor" would land on the prototype of the package's header object.
    if (h.name in Object.prototype) continue;
    if (!STRUCTURED_HEADERS.has(h.name)) {
      const previous = texts.get(h.name);
      texts.set(h.name, previous === undefined ? h.value : previous + ',' + h.value);
      continue;
    }
    const value = checkHeaderValue(h) ? salvageHeaderValue(h) : h.value;
    // %-escapes are kept literal in names (RFC 4475 3.1.1.5: "C%6Fntact" is not Contact).
    if (value !== undefined) lines.push(`${h.rawName.replace(/%/g, '%25')}: ${value}`);
  }
  let parsed: sip.Message | undefined;
  try {
    parsed = sip.parse([startLine, ...lines].join('\r\n') + '\r\n\r\n' + body);
  } catch {
    return undefined;
  }
  if (!parsed) return undefined;
  for (const [name, value] of texts) parsed.headers[name] = value;
  parsed.content = body;
  if (start.kind === 'request') {
    // The package %-decodes the method and the CSeq method; RFC 4475 3.1.1.5 says they are tokens.
    parsed.method = start.method;
    parsed.uri = start.uri;
    const cseq = parsed.headers.cseq as sip.CSeq | undefined;
    const rawCseq = raw.headers.find((h) => h.name === 'cseq');
    const cseqMethod = rawCseq && /[ \t]+(\S+)$/.exec(rawCseq.value)?.[1];
    if (cseq && cseqMethod) cseq.method = cseqMethod;
  }
  parsed.version = start.version;
  return parsed;
}

/**
 * The `sip` package reads the URIs of Route, Record-Route and Path itself (the only name-addr
 * headers it does) and leaves one it cannot read undefined: another scheme ("<si0:host;lr>",
 * grammatical as an absoluteURI) or a SIP URI beyond its pattern. Writing the message out then
 * throws a TypeError (found by fuzzing), and nobody can route on it: 400.
 */
function unreadableRouteUri(m: sip.Message): GrammarProblem | undefined {
  for (const [name, rawName] of [['route', 'Route'], ['record-route', 'Record-Route'], ['path', 'Path']]) {
    const entries = (m.headers as Record<string, unknown>)[name];
    if (Array.isArray(entries) && entries.some((e: { uri?: unknown }) => !e || typeof e.uri !== 'object' || e.uri === null)) {
      return { status: 400, reason: `unreadable ${rawName} address` };
    }
  }
  return undefined;
}

function isAnswerable(request: SipRequest): boolean {
  const h = request.headers as Partial<sip.Headers>;
  return Array.isArray(h.via) && !!h.via[0]?.host && !!h.cseq && typeof h.cseq.method === 'string' && Number.isFinite(h.cseq.seq);
}

function hasCoreHeaders(m: sip.Message): boolean {
  const h = m.headers as Partial<sip.Headers> | undefined;
  return (
    (typeof m.method === 'string' || (typeof m.status === 'number' && m.status >= 100 && m.status <= 699)) &&
    !!h &&
    Array.isArray(h.via) &&
    h.via.length > 0 &&
    !!h.via[0]?.host &&
    typeof h['call-id'] === 'string' &&
    !!h.to &&
    !!h.from &&
    !!h.cseq &&
    Number.isFinite(h.cseq.seq)
  );
}

/** RFC 3261 7.3.3: the compact form of the headers that have one (20: each header's entry). */
const COMPACT_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    via: 'v',
    from: 'f',
    to: 't',
    'call-id': 'i',
    contact: 'm',
    'content-type': 'c',
    'content-length': 'l',
    'content-encoding': 'e',
    supported: 'k',
    subject: 's',
  }),
);

/**
 * The message's bytes. `compact`: header names in their compact form (RFC 3261 7.3.3), for the
 * overlay's own traffic, which every node sends many times a minute.
 */
export function serializeSipMessage(m: SipMessage, options: { compact?: boolean } = {}): Buffer {
  // The package writes a name-addr without a display name as "To:  <uri>": we format those
  // headers ourselves (RFC 3261 20: name-addr = [ display-name ] LAQUOT addr-spec RAQUOT).
  const headers: Record<string, unknown> = { ...m.headers };
  for (const name of ['to', 'from', 'contact']) {
    const value = headers[name];
    if (Array.isArray(value)) headers[name] = value.map(formatNameAddr).join(', ');
    else if (value && typeof value === 'object') headers[name] = formatNameAddr(value as NameAddr);
  }
  const text = sip.stringify({ ...m, headers: headers as SipHeaders });
  return Buffer.from(options.compact ? compactHeaderNames(text) : text, 'latin1');
}

function compactHeaderNames(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    const short = colon > 0 ? COMPACT_NAMES.get(lines[i].slice(0, colon).trim().toLowerCase()) : undefined;
    if (short) lines[i] = `${short}:${lines[i].slice(colon + 1)}`;
  }
  return lines.join('\r\n') + (end < 0 ? '' : text.slice(end));
}

function formatNameAddr(a: NameAddr): string {
  const params = Object.entries(a.params ?? {})
    .map(([k, v]) => (v === null || v === undefined ? `;${k}` : `;${k}=${v}`))
    .join('');
  return `${a.name ? a.name + ' ' : ''}<${sip.stringifyUri(a.uri)}>${params}`;
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
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'Version Not Supported',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
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
  // A request answered for being malformed may lack To (RFC 4475 3.3.1); the answer then lacks it too.
  const requestTo = request.headers.to as sip.NameAddr | undefined;
  const to = requestTo && { ...requestTo, params: { ...requestTo.params } };
  if (to && status !== 100 && to.params.tag === undefined) to.params.tag = options.toTag ?? randomTag();
  const response = sip.makeResponse(request, status, options.reason ?? reasonPhrase(status), {
    headers: { to, ...(options.headers ?? {}) },
    content: options.body === undefined ? undefined : encodeBody(options.body),
  }) as SipResponse;
  response.version = '2.0';
  return response;
}

/**
 * Random bytes for tags, branches and Call-IDs, taken from a pool filled 4 KiB at a time: one
 * call into the CSPRNG per few hundred messages instead of one per header (it showed in
 * profiles of a registrar under load).
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;
function pooledRandom(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return bytes;
}

export function randomTag(): string {
  return pooledRandom(6).toString('hex');
}

export function generateBranch(): string {
  // RFC 3261 8.1.1.7: unique across space and time, with the magic cookie of an RFC 3261 branch.
  // (The `sip` package's own branch has only a million values.)
  return 'z9hG4bK' + pooledRandom(9).toString('base64url');
}

export function generateCallId(host: string): string {
  return pooledRandom(12).toString('base64url') + '@' + host;
}
