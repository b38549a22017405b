// The plainest HTTP/1.1 request a cache's fast lane answers by itself (RFC 9112): GET or HEAD of
// an origin-form target, no body, and only headers that cannot change the answer. Anything else
// (a body, a conditional or a range, Connection: close, HTTP/1.0, an odd byte) is `other`: the
// full HTTP server parses it, and the fast lane never second-guesses a request it did not fully
// understand. Pure: bytes in, a typed result out.

export type SimpleRequestHead =
  | { kind: 'incomplete' }
  | { kind: 'other' }
  | { kind: 'simple'; method: 'GET' | 'HEAD'; target: string; host: string; headBytes: number };

/** A head longer than this is never simple (the full server answers 431 to what is too long). */
export const MAX_SIMPLE_HEAD_BYTES = 8 * 1024;

/**
 * Header fields a simple request may carry: none of them changes which bytes a shared cache
 * serves for a fresh entry. (Cookie: a rescue server never uses or forwards it. Accept-*: a rescue
 * server serves its one variant to everyone, see docs/rescue.md.) Every other field (Cache-Control,
 * Pragma, If-*, Range, Authorization, Content-Length, Transfer-Encoding, Expect, Upgrade, ...)
 * makes the request `other`.
 */
const HARMLESS = new Set([
  'host',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'connection',
  'referer',
  'cookie',
  'dnt',
  'origin',
  'priority',
  'upgrade-insecure-requests',
  'sec-fetch-dest',
  'sec-fetch-mode',
  'sec-fetch-site',
  'sec-fetch-user',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
]);

/** Visible ASCII, space and tab in a field value (obs-text is legal but never simple). */
const VALUE = /^[\t\x20-\x7e]*$/;
/** origin-form (RFC 9112 3.2.1): a path starting with a slash, optional query, visible ASCII only. */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

const REQUEST_LINE = /^(GET|HEAD) (\S+) HTTP\/1\.1$/;

/**
 * Reads the request head at the start of `buf` (latin1 bytes are not decoded). This runs once
 * per request on the fast lane, so it walks the head in place rather than splitting it.
 */
export function parseSimpleRequestHead(buf: Buffer): SimpleRequestHead {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length >= MAX_SIMPLE_HEAD_BYTES || buf.includes(0) ? { kind: 'other' } : { kind: 'incomplete' };
  if (end + 4 > MAX_SIMPLE_HEAD_BYTES) return { kind: 'other' };
  const text = buf.toString('latin1', 0, end);
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const request = REQUEST_LINE.exec(text.slice(0, lineEnd));
  if (!request || !ORIGIN_FORM.test(request[2])) return { kind: 'other' };
  let host: string | undefined;
  while (lineEnd < text.length) {
    const start = lineEnd + 2;
    lineEnd = text.indexOf('\r\n', start);
    if (lineEnd < 0) lineEnd = text.length;
    const colon = text.indexOf(':', start);
    // No empty or odd names (the name must be one of HARMLESS, all tokens: RFC 9110 5.6.2), no
    // folded lines (obs-fold: a line starting with a space is no name), no bare LF or CR inside.
    if (colon <= start || colon >= lineEnd) return { kind: 'other' };
    const lower = text.slice(start, colon).toLowerCase();
    if (!HARMLESS.has(lower)) return { kind: 'other' };
    // VALUE admits no CR or LF: a bare one anywhere in the line is refused here, before trimming.
    const raw = text.slice(colon + 1, lineEnd);
    if (!VALUE.test(raw)) return { kind: 'other' };
    const value = raw.trim();
    if (lower === 'host') {
      // RFC 9112 3.2: exactly one Host.
      if (host !== undefined) return { kind: 'other' };
      host = value;
    } else if (lower === 'connection' && value.toLowerCase() !== 'keep-alive') return { kind: 'other' };
  }
  if (host === undefined) return { kind: 'other' };
  return { kind: 'simple', method: request[1] as 'GET' | 'HEAD', target: request[2], host, headBytes: end + 4 };
}

/** A response head (status line and fields) as bytes; values are the caller's, checked for CR and LF. */
export function responseHead(status: number, reason: string, fields: ReadonlyArray<readonly [string, string]>): Buffer {
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of fields) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new RangeError(`a header field may not hold CR or LF (${name})`);
    text += `${name}: ${value}\r\n`;
  }
  return Buffer.from(text + '\r\n', 'latin1');
}
