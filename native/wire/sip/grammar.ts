// Checks of the raw header text that the `sip` package's lenient parser does not make.
// Each rule names the RFC 3261 grammar or the RFC 4475 torture case it covers.

export interface GrammarProblem {
  /** The response a request with this problem gets (RFC 3261 8.2, 21.4). */
  status: number;
  reason: string;
}

const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) (\\S+) SIP/(\\d+\\.\\d+)$`);
const RESPONSE_LINE = /^SIP\/(\d+\.\d+) ([1-6]\d\d) [^\r\n]*$/;
const HEADER_LINE = new RegExp(`^(${TOKEN})[ \\t]*:`);
const SUPPORTED_SCHEMES = new Set(['sip', 'sips', 'tel']);

const bad = (reason: string, status = 400): GrammarProblem => ({ status, reason });

export function checkSipGrammar(head: string, body: string, kind: 'request' | 'response'): GrammarProblem | undefined {
  const lines = unfold(head);
  const start = lines[0] ?? '';
  let method = '';
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(start);
    // RFC 3261 25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF (single spaces,
    // no leading or trailing LWS; RFC 4475 3.1.2.7-3.1.2.10).
    if (!m) return bad('malformed Request-Line');
    method = m[1];
    const uri = m[2];
    if (m[3] !== '2.0') return bad('SIP version not supported', 505);
    const scheme = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(uri);
    if (!scheme) return bad('malformed Request-URI');
    if (!SUPPORTED_SCHEMES.has(scheme[1].toLowerCase())) return bad('unsupported URI scheme', 416);
  } else {
    const m = RESPONSE_LINE.exec(start);
    if (!m) return bad('malformed Status-Line');
    if (m[1] !== '2.0') return bad('SIP version not supported', 505);
  }

  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const m = HEADER_LINE.exec(line);
    if (!m) return bad('malformed header line');
    const name = canonicalName(m[1]);
    const value = line.slice(line.indexOf(':') + 1).trim();
    const list = headers.get(name) ?? [];
    list.push(value);
    headers.set(name, list);
  }

  for (const single of ['call-id', 'cseq', 'from', 'to', 'content-length', 'max-forwards']) {
    if ((headers.get(single)?.length ?? 0) > 1) return bad(`more than one ${single} header`);
  }

  const cseq = /^(\d{1,10})[ \t]+(\S+)$/.exec(headers.get('cseq')?.[0] ?? '');
  // RFC 3261 8.1.1.5: the sequence number is a 32-bit integer less than 2**31.
  if (!cseq || Number(cseq[1]) >= 2 ** 31) return bad('malformed CSeq');
  // RFC 3261 8.2 / RFC 4475 3.1.2.17: CSeq method must match the Request-Line method.
  if (kind === 'request' && cseq[2] !== method) return bad('CSeq method does not match the request method');

  const maxForwards = headers.get('max-forwards')?.[0];
  if (maxForwards !== undefined && !/^\d{1,3}$/.test(maxForwards)) return bad('malformed Max-Forwards');
  if (maxForwards !== undefined && Number(maxForwards) > 255) return bad('Max-Forwards out of range');

  const contentLength = headers.get('content-length')?.[0];
  if (contentLength !== undefined) {
    if (!/^\d{1,10}$/.test(contentLength)) return bad('malformed Content-Length');
    // RFC 3261 18.3: on a datagram, a body shorter than Content-Length is an error (RFC 4475 3.1.2.2).
    if (Number(contentLength) > Buffer.byteLength(body, 'latin1')) return bad('Content-Length larger than the body');
  }
  return undefined;
}

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events',
};

function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

/** RFC 3261 7.3.1: a line starting with SP or HTAB continues the previous header. */
function unfold(head: string): string[] {
  const out: string[] = [];
  for (const line of head.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 1) out[out.length - 1] += ' ' + line.trim();
    else out.push(line);
  }
  return out;
}
