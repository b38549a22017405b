// The SIP grammar checks (RFC 3261 25.1) that the `sip` package's lenient parser does not make:
// it swallows header parse errors and accepts start lines RFC 3261 forbids. This file splits a
// message into its start line, unfolded header fields and body, and judges them; message.ts
// turns the verdict into a typed outcome. Each rule names the RFC 3261 section or the
// RFC 4475 torture case it covers. Every pattern here is linear in its input (no nested
// quantifiers over overlapping classes): the input is whatever a stranger sent.
import { isIP } from 'node:net';

export interface GrammarProblem {
  /** The response a request with this problem gets (RFC 3261 8.2, 21.4). */
  status: number;
  reason: string;
}

export interface RawHeader {
  /** Lower-case long form (compact forms expanded, RFC 3261 7.3.3). */
  name: string;
  /** As it appeared on the wire. */
  rawName: string;
  /** Unfolded (RFC 3261 7.3.1) and trimmed. */
  value: string;
}

export interface RawSipMessage {
  startLine: string;
  headers: RawHeader[];
  /** The first header line that is not `token HCOLON value`, if any. */
  malformedHeaderLine?: string;
  /** Everything after the blank line, one char per byte (latin1). */
  rest: string;
}

export type StartLine =
  | { kind: 'request'; method: string; uri: string; version: string; exact: boolean }
  | { kind: 'response'; version: string; status: number; reason: string };

const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";
const TOKEN = `[${TOKEN_CHARS}]+`;
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const ESCAPED = '%[0-9A-Fa-f]{2}';
// qdtext and quoted-pair (RFC 3261 25.1); bytes >= 0x80 are UTF8-NONASCII seen through latin1.
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\xFF]|\\\\[\\x00-\\x09\\x0B\\x0C\\x0E-\\x7F])*"';

const AUTH_PARAM = `${TOKEN}[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED})`;

const EXACT_REQUEST_LINE = new RegExp(`^(${TOKEN}) ([^ \\t]+) SIP/(\\d+\\.\\d+)$`, 'i');
// RFC 3261 25.1: Status-Code is 3DIGIT; RFC 4475 3.1.1.13: the reason may be empty (a liberal
// receiver also takes a line without the space after the code).
const STATUS_LINE = /^SIP\/(\d+\.\d+) ([1-6]\d\d)(?: ([^\r\n]*))?$/i;
const HEADER_LINE = new RegExp(`^(${TOKEN})[ \\t]*:[ \\t]*(.*)$`, 's');

// A Map, so that a header named "constructor" or "toString" is itself, not Object's property.
const COMPACT: ReadonlyMap<string, string> = new Map(
  Object.entries({
    i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
    f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events',
    r: 'refer-to', b: 'referred-by', x: 'session-expires', y: 'identity', a: 'accept-contact',
    j: 'reject-contact', d: 'request-disposition',
  }),
);

export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT.get(lower) ?? lower;
}

/** Splits a message at its first blank line; undefined when there is no header section end. */
export function splitSipMessage(text: string): RawSipMessage | undefined {
  // RFC 3261 7.5: CRLFs before the start line are ignored.
  let start = 0;
  while (text.startsWith('\r\n', start)) start += 2;
  const end = text.indexOf('\r\n\r\n', start);
  if (end < 0) return undefined;
  const lines = unfold(text.slice(start, end));
  const headers: RawHeader[] = [];
  let malformedHeaderLine: string | undefined;
  for (const line of lines.slice(1)) {
    const m = HEADER_LINE.exec(line);
    if (!m) {
      malformedHeaderLine ??= line;
      continue;
    }
    headers.push({ name: canonicalHeaderName(m[1]), rawName: m[1], value: m[2].trim() });
  }
  return { startLine: lines[0] ?? '', headers, malformedHeaderLine, rest: text.slice(end + 4) };
}

/** RFC 3261 7.3.1: a line starting with SP or HTAB continues the previous one; the fold is one SP. */
function unfold(head: string): string[] {
  const out: string[] = [];
  for (const line of head.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 1) out[out.length - 1] += ' ' + line.trimStart();
    else out.push(line);
  }
  return out;
}

export function parseStartLine(line: string): StartLine | undefined {
  const status = STATUS_LINE.exec(line);
  if (status) return { kind: 'response', version: status[1], status: Number(status[2]), reason: status[3] ?? '' };
  if (/^SIP\//i.test(line)) return undefined; // a Status-Line we cannot read (RFC 4475 3.1.2.19)
  const exact = EXACT_REQUEST_LINE.exec(line);
  if (exact) return { kind: 'request', method: exact[1], uri: exact[2], version: exact[3], exact: true };
  return looseRequestLine(line);
}

/**
 * What a liberal reader takes for a Request-Line (extra LWS anywhere): enough to answer it with
 * an error. Split by hand, since a pattern with LWS on both sides of the URI backtracks
 * quadratically on a line of spaces.
 */
function looseRequestLine(line: string): StartLine | undefined {
  const parts = line.split(/[ \t]+/).filter((p) => p.length > 0);
  if (parts.length < 3 || !new RegExp(`^${TOKEN}$`).test(parts[0])) return undefined;
  // SIP-Version may itself be spread over up to three parts ("SIP / 2.0").
  for (let i = parts.length - 1; i >= Math.max(2, parts.length - 3); i--) {
    const version = /^SIP\/(\d+\.\d+)$/i.exec(parts.slice(i).join(''));
    if (version) return { kind: 'request', method: parts[0], uri: parts.slice(1, i).join(' '), version: version[1], exact: false };
  }
  return undefined;
}

const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);
// RFC 3261 8.2.2.1: a scheme the UAS does not support gets 416. This engine resolves only these.
const SUPPORTED_SCHEMES = new Set(['sip', 'sips']);
const SINGLE_VALUED = ['call-id', 'cseq', 'from', 'to', 'content-length', 'max-forwards', 'content-type'];
const NAME_ADDR_HEADERS = new Set(['to', 'from', 'contact', 'route', 'record-route', 'reply-to', 'path', 'refer-to']);
const CREDENTIALS_HEADERS = new Set(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate']);
/** Headers the `sip` package parses into structures (the rest it keeps as text). */
export const STRUCTURED_HEADERS = new Set(['via', 'cseq', 'content-length', 'authentication-info', ...NAME_ADDR_HEADERS, ...CREDENTIALS_HEADERS]);

const bad = (reason: string, status = 400): GrammarProblem => ({ status, reason });

/**
 * The first problem found in a message whose start line parsed, or undefined. `rest` is what
 * followed the header section in the datagram or stream frame.
 */
export function checkSipGrammar(raw: RawSipMessage, start: StartLine): GrammarProblem | undefined {
  if (start.kind === 'request') {
    // RFC 3261 25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF: single spaces and no
    // trailing LWS (RFC 4475 3.1.2.8-3.1.2.10), and no LWS inside the URI.
    if (!start.exact) return bad('malformed Request-Line');
    // RFC 3261 8.2 / 21.5.7; RFC 4475 3.1.2.16.
    if (start.version !== '2.0') return bad('SIP version not supported', 505);
    const uriProblem = checkRequestUri(start.uri);
    if (uriProblem) return uriProblem;
  } else if (start.version !== '2.0') {
    return bad('SIP version not supported', 505);
  }
  if (raw.malformedHeaderLine !== undefined) return bad('malformed header line');

  const byName = new Map<string, string[]>();
  for (const h of raw.headers) {
    const list = byName.get(h.name) ?? [];
    list.push(h.value);
    byName.set(h.name, list);
  }
  // RFC 3261 8.1.1: the header fields every request (and so every response) carries.
  for (const required of ['via', 'to', 'from', 'call-id', 'cseq']) {
    if (!byName.has(required)) return bad(`missing ${required} header`);
  }
  // RFC 3261 7.3.1 / RFC 4475 3.3.8, 3.3.9: fields that may appear only once.
  for (const single of SINGLE_VALUED) {
    if ((byName.get(single)?.length ?? 0) > 1) return bad(`more than one ${single} header`);
  }

  for (const h of raw.headers) {
    const problem = checkHeaderValue(h);
    if (problem) return problem;
  }

  if (start.kind === 'request') {
    const cseqMethod = /[ \t]+(\S+)$/.exec(byName.get('cseq')![0])![1];
    if (cseqMethod !== start.method) {
      // RFC 4475 3.1.2.18: an unknown method with a mismatched CSeq is better answered 501
      // than 400 ("better future-proof characteristics"); 3.1.2.17: a known one gets 400.
      if (!KNOWN_METHODS.has(start.method)) return bad('Not Implemented', 501);
      return bad('CSeq method does not match the request method');
    }
  }

  const contentLength = byName.get('content-length')?.[0];
  // RFC 3261 18.3: on a datagram, a body shorter than Content-Length is an error (RFC 4475 3.1.2.2).
  if (contentLength !== undefined && Number(contentLength) > raw.rest.length) return bad('Content-Length larger than the body');
  return undefined;
}

function checkRequestUri(uri: string): GrammarProblem | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(uri);
  // RFC 4475 3.1.2.7: "<sip:...>" is not a Request-URI.
  if (!scheme) return bad('malformed Request-URI');
  if (!SUPPORTED_SCHEMES.has(scheme[1].toLowerCase())) {
    if (!isAbsoluteUri(uri)) return bad('malformed Request-URI');
    // RFC 4475 3.3.2, 3.3.3: well-formed, but a scheme we never serve.
    return bad('Unsupported URI Scheme', 416);
  }
  const parts = splitSipUri(uri);
  if (!parts) return bad('malformed Request-URI');
  // RFC 3261 19.1.1 (table 1): headers are not allowed in a Request-URI (RFC 4475 3.1.2.11).
  if (parts.headers !== undefined) return bad('Request-URI carries headers');
  return undefined;
}

/** Whether one header field's value follows its grammar (only fields this file knows are judged). */
export function checkHeaderValue(h: RawHeader): GrammarProblem | undefined {
  const v = h.value;
  switch (h.name) {
    case 'via':
      return splitTopLevel(v)?.every(isViaValue) ? undefined : bad('malformed Via');
    case 'cseq': {
      // RFC 3261 20.16: CSeq = 1*DIGIT LWS Method, the number below 2**32 (RFC 4475 3.1.2.4).
      const m = new RegExp(`^(\\d+)[ \\t]+${TOKEN}$`).exec(v);
      return m && isUint(m[1], 2 ** 32 - 1) ? undefined : bad('malformed CSeq');
    }
    case 'call-id':
      return /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/.test(v) ? undefined : bad('malformed Call-ID');
    case 'max-forwards':
      // RFC 3261 20.22: 1*DIGIT, 0-255; leading zeros are fine (RFC 4475 3.1.1.1).
      return isUint(v, 255) ? undefined : bad('malformed Max-Forwards');
    case 'content-length':
      // RFC 4475 3.1.2.3: a negative or non-numeric length is a framing error.
      return /^\d+$/.test(v) && isUint(v, 2 ** 32 - 1) ? undefined : bad('malformed Content-Length');
    case 'authentication-info':
      // RFC 3261 20.6: ainfo *(COMMA ainfo), each a name=value pair.
      return new RegExp(`^${AUTH_PARAM}(?:[ \\t]*,[ \\t]*${AUTH_PARAM})*$`).test(v) ? undefined : bad(`malformed ${h.rawName}`);
    default:
      if (CREDENTIALS_HEADERS.has(h.name)) {
        // RFC 3261 25.1 credentials / challenge: auth-scheme LWS auth-param *(COMMA auth-param);
        // an unknown scheme is still well formed (RFC 4475 3.3.7).
        return new RegExp(`^${TOKEN}[ \\t]+${AUTH_PARAM}(?:[ \\t]*,[ \\t]*${AUTH_PARAM})*$`).test(v) ? undefined : bad(`malformed ${h.rawName}`);
      }
      if (NAME_ADDR_HEADERS.has(h.name)) {
        if (h.name === 'contact' && v === '*') return undefined;
        const values = splitTopLevel(v);
        if (!values) return bad(`malformed ${h.rawName} (unbalanced quotes or brackets)`);
        // RFC 3261 20.20, 20.39: To and From hold exactly one address.
        if ((h.name === 'to' || h.name === 'from') && values.length !== 1) return bad(`more than one address in ${h.rawName}`);
        return values.every(isNameAddrOrAddrSpec) ? undefined : bad(`malformed ${h.rawName}`);
      }
      return undefined;
  }
}

function isUint(text: string, max: number): boolean {
  if (!/^\d+$/.test(text)) return false;
  const digits = text.replace(/^0+(?=\d)/, '');
  return digits.length <= 10 && Number(digits) <= max;
}

/**
 * Splits a header value at commas outside quoted strings and <...>; undefined when a quote or
 * bracket is left open (RFC 4475 3.1.2.6), or when a value between commas is empty.
 */
function splitTopLevel(value: string): string[] | undefined {
  const out: string[] = [];
  let current = '';
  let inQuotes = false;
  let inBrackets = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuotes) {
      if (c === '\\') {
        current += c + (value[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') inQuotes = false;
    } else if (c === '"' && !inBrackets) {
      inQuotes = true;
    } else if (c === '<') {
      if (inBrackets) return undefined;
      inBrackets = true;
    } else if (c === '>') {
      if (!inBrackets) return undefined;
      inBrackets = false;
    } else if (c === ',' && !inBrackets) {
      out.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  if (inQuotes || inBrackets) return undefined;
  out.push(current.trim());
  return out.every((v) => v.length > 0) ? out : undefined;
}

const GENERIC_PARAMS = new RegExp(
  `^(?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|\\[[0-9A-Fa-f:.]+\\]|${QUOTED}))?)*[ \\t]*$`,
);
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)(?:[ \t]*:[ \t]*(\d{1,5}))?$/;

/** RFC 3261 20.42: sent-protocol LWS sent-by *( SEMI via-params ); empty params are errors (RFC 4475 3.1.2.1). */
function isViaValue(value: string): boolean {
  const protocol = new RegExp(`^SIP[ \\t]*/[ \\t]*\\d+\\.\\d+[ \\t]*/[ \\t]*${TOKEN}[ \\t]+`, 'i').exec(value);
  if (!protocol) return false;
  const rest = value.slice(protocol[0].length);
  const semicolon = rest.indexOf(';');
  if (!isHostPort((semicolon < 0 ? rest : rest.slice(0, semicolon)).trim())) return false;
  return semicolon < 0 || GENERIC_PARAMS.test(rest.slice(semicolon));
}

function isHostPort(text: string): boolean {
  const m = HOST_PORT.exec(text);
  if (!m) return false;
  if (m[1].startsWith('[') && isIP(m[1].slice(1, -1)) !== 6) return false;
  return m[2] === undefined || Number(m[2]) <= 65535;
}

/** RFC 3261 20.10: ( name-addr / addr-spec ) *( SEMI generic-param ). */
function isNameAddrOrAddrSpec(value: string): boolean {
  let rest = value;
  let hasDisplayName = false;
  if (rest.startsWith('"')) {
    const quoted = new RegExp(`^${QUOTED}`).exec(rest);
    if (!quoted) return false;
    rest = rest.slice(quoted[0].length).trimStart();
    hasDisplayName = true;
    if (!rest.startsWith('<')) return false;
  }
  const open = rest.indexOf('<');
  if (open >= 0) {
    const display = rest.slice(0, open).trim();
    // RFC 3261 25.1: display-name = *(token LWS) / quoted-string; commas and other separators
    // need quotes (RFC 4475 3.1.2.15). No LWS before "<" is tolerated (RFC 4475 3.1.1.6).
    if (!hasDisplayName && display && !new RegExp(`^${TOKEN}(?:[ \\t]+${TOKEN})*$`).test(display)) return false;
    const close = rest.indexOf('>', open);
    if (close < 0) return false;
    const uri = rest.slice(open + 1, close);
    // LAQUOT = SWS "<" and RAQUOT = ">" SWS: no space inside the brackets (RFC 4475 3.1.2.14).
    if (!isAddrSpec(uri)) return false;
    return GENERIC_PARAMS.test(rest.slice(close + 1));
  }
  // RFC 3261 20: in addr-spec form, ";" starts header parameters, and a URI with "?" or ","
  // MUST be in angle brackets (RFC 4475 3.1.2.13).
  const semicolon = rest.indexOf(';');
  const uri = (semicolon < 0 ? rest : rest.slice(0, semicolon)).trim();
  if (uri.includes('?')) return false;
  if (!isAddrSpec(uri)) return false;
  return semicolon < 0 || GENERIC_PARAMS.test(rest.slice(semicolon));
}

function isAddrSpec(uri: string): boolean {
  if (/^sips?:/i.test(uri)) return splitSipUri(uri) !== undefined;
  return isAbsoluteUri(uri);
}

/** RFC 3261 25.1 absoluteURI, as far as a receiver needs: scheme ":" and no LWS or delimiters. */
function isAbsoluteUri(uri: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>"]+$/.test(uri);
}

const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESCAPED})+$`);
const PASSWORD = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESCAPED})*$`);
const PARAM_PART = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+$`);
const HEADER_PART = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})+$`);
const HEADER_VALUE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})*$`);

/**
 * RFC 3261 19.1.1 / 25.1 SIP-URI and SIPS-URI: sip:[userinfo@]hostport[;params][?headers].
 * Split by hand at the first "@" (userinfo cannot hold one unescaped) so no pattern backtracks.
 */
export function splitSipUri(uri: string): { headers?: string } | undefined {
  const scheme = /^sips?:/i.exec(uri);
  if (!scheme) return undefined;
  let rest = uri.slice(scheme[0].length);
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!USER.test(user)) return undefined;
    if (colon >= 0 && !PASSWORD.test(userinfo.slice(colon + 1))) return undefined;
    rest = rest.slice(at + 1);
  }
  const question = rest.indexOf('?');
  const headers = question < 0 ? undefined : rest.slice(question + 1);
  if (question >= 0) rest = rest.slice(0, question);
  const [hostport, ...params] = rest.split(';');
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)(?::\d{1,5})?$/.test(hostport)) return undefined;
  if (hostport.startsWith('[') && isIP(hostport.slice(1, hostport.indexOf(']'))) !== 6) return undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    if (!PARAM_PART.test(name) || (eq >= 0 && !PARAM_PART.test(param.slice(eq + 1)))) return undefined;
  }
  if (headers !== undefined) {
    for (const header of headers.split('&')) {
      const eq = header.indexOf('=');
      if (eq < 0 || !HEADER_PART.test(header.slice(0, eq)) || !HEADER_VALUE.test(header.slice(eq + 1))) return undefined;
    }
  }
  return { headers };
}

/**
 * The readable part of a malformed Via or CSeq, so that a request can still be answered
 * (RFC 4475 3.1.2.1, 3.1.2.4): the first Via value without its empty or broken parameters,
 * a CSeq whose number is merely too large. Undefined when nothing trustworthy is left.
 */
export function salvageHeaderValue(h: RawHeader): string | undefined {
  if (h.name === 'cseq') return new RegExp(`^\\d{1,30}[ \\t]+${TOKEN}$`).test(h.value) ? h.value : undefined;
  if (h.name !== 'via') return undefined;
  const first = h.value.split(',')[0];
  const [sentBy, ...params] = first.split(';');
  const kept = params.filter((p) => new RegExp(`^[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*${TOKEN})?[ \\t]*$`).test(p));
  const value = [sentBy.trim(), ...kept.map((p) => p.trim())].join(';');
  return isViaValue(value) ? value : undefined;
}
