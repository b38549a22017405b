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

/** RFC 9110 5.6.2 token, for field names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, space and tab in a field value (obs-text is legal but never simple). */
const VALUE = /^[\t\x20-\x7e]*$/;
/** origin-form (RFC 9112 3.2.1): a path starting with a slash, optional query, visible ASCII only. */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

/** Reads the request head at the start of `buf` (latin1 bytes are not decoded). */
export function parseSimpleRequestHead(buf: Buffer): SimpleRequestHead {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length >= MAX_SIMPLE_HEAD_BYTES || buf.includes(0) ? { kind: 'other' } : { kind: 'incomplete' };
  if (end + 4 > MAX_SIMPLE_HEAD_BYTES) return { kind: 'other' };
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const request = /^(GET|HEAD) (\S+) HTTP\/1\.1$/.exec(lines[0]);
  if (!request || !ORIGIN_FORM.test(request[2])) return { kind: 'other' };
  let host: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    // No folded lines (obs-fold), no bare LF inside, no empty or odd names.
    if (colon <= 0 || line.includes('\n') || line.includes('\r')) return { kind: 'other' };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { kind: 'other' };
    const lower = name.toLowerCase();
    if (!HARMLESS.has(lower)) return { kind: 'other' };
    const value = line.slice(colon + 1).trim();
    if (!VALUE.test(value)) return { kind: 'other' };
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
