// RFC 9111 caching rules as a SHARED cache applies them (a rescue server is one), plus the
// RFC 5861 stale-while-revalidate / stale-if-error extensions. Pure functions: every time is a
// number of ms since the epoch handed in by the caller.
export type Headers = Record<string, string | undefined>; // lower-case names

const SECOND = 1000;
/** RFC 9111 1.2.2: a delta-seconds too large to represent is taken as 2^31. */
const DELTA_SECONDS_MAX = 2147483648;
/** RFC 9111 4.2.2: heuristic freshness is a fraction of the time since Last-Modified; 10% is the suggested one. */
const HEURISTIC_FRACTION = 0.1;
/** Our cap on heuristic freshness, so a years-old Last-Modified cannot pin a response for weeks. */
const HEURISTIC_MAX_MS = 24 * 3600 * SECOND;

/** Status codes this cache understands well enough to store (RFC 9111 3: "final and understood"). 206 is left out: we store only whole bodies (3.4). */
const UNDERSTOOD_STATUSES = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501]);
/** RFC 9110 15.1: heuristically cacheable status codes. */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** RFC 9110 7.6.1 hop-by-hop fields (and the classic RFC 2616 13.5.1 ones still seen in the wild). */
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization'];
/**
 * RFC 9111 3.2 / 4.3.4: fields a 304 must not overwrite, because they describe the stored body's
 * bytes (framing, coding, our integrity headers) rather than the representation's metadata.
 */
const KEPT_ON_UPDATE = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range', 'content-digest', 'repr-digest', 'signature', 'signature-input']);

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (v !== undefined) return v;
  for (const [k, value] of Object.entries(headers)) if (value !== undefined && k.toLowerCase() === name) return value;
  return undefined;
}

/** Splits a comma-separated list (RFC 9110 5.6.1), leaving commas inside quoted strings alone. */
function splitList(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      current += c;
      if (c === '\\' && i + 1 < value.length) current += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\(.)/g, '$1');
  return value;
}

export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (value === undefined) return out;
  for (const part of splitList(value)) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    // RFC 9111 4.2.1: with a directive repeated, the first occurrence is the one used.
    if (out.has(name)) continue;
    out.set(name, eq < 0 ? true : unquote(part.slice(eq + 1).trim()));
  }
  return out;
}

/** RFC 9111 1.2.2 delta-seconds in ms; 'invalid' for anything but digits (e.g. max-age=-1, max-age="x"). */
function deltaMs(value: string | true | undefined): number | 'invalid' | undefined {
  if (value === undefined) return undefined;
  if (value === true || !/^\d+$/.test(value)) return 'invalid';
  return Math.min(Number(value), DELTA_SECONDS_MAX) * SECOND;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * RFC 9110 5.6.7 HTTP-date: IMF-fixdate, plus the obsolete RFC 850 and asctime forms a recipient
 * must accept. Always GMT (Date.parse would read asctime as local time). Undefined when invalid.
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let day: number, month: string, year: number, time: string;
  let m = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}:\d{2}:\d{2}) GMT$/.exec(v);
  if (m) {
    [day, month, year, time] = [Number(m[1]), m[2], Number(m[3]), m[4]];
  } else if ((m = /^[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}:\d{2}:\d{2}) GMT$/.exec(v))) {
    // RFC 9110 5.6.7 puts a two-digit year that looks over 50 years ahead in the past century;
    // with no clock here, 70-99 is read as 19xx and 00-69 as 20xx, which agrees until 2020+50.
    const yy = Number(m[3]);
    year = yy >= 70 ? 1900 + yy : 2000 + yy;
    [day, month, time] = [Number(m[1]), m[2], m[4]];
  } else if ((m = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}:\d{2}:\d{2}) (\d{4})$/.exec(v))) {
    [month, day, time, year] = [m[1], Number(m[2].trim()), m[3], Number(m[4])];
  } else {
    return undefined;
  }
  const mon = MONTHS.indexOf(month.toLowerCase());
  const [hh, mm, ss] = time.split(':').map(Number);
  if (mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return undefined;
  const t = Date.UTC(year, mon, day, hh, mm, Math.min(ss, 59));
  // Date.UTC rolls 31 Feb over into March: such a date is invalid, not a different day.
  if (new Date(t).getUTCDate() !== day) return undefined;
  return t;
}

/** RFC 9110 6.6.1: a recipient caching a response without Date adds one from the time it arrived. */
export function withDate(headers: Headers, responseTime: number): Headers {
  if (parseHttpDate(header(headers, 'date')) !== undefined) return headers;
  return { ...headers, date: new Date(responseTime).toUTCString() };
}

/** RFC 9111 3 for a shared cache: GET/HEAD, status understood and final, no no-store (req or res), no private, no Authorization unless public/s-maxage/must-revalidate (3.5), and our policy: not when the response has Set-Cookie or Vary: * ; and it must be either explicitly fresh-able (max-age, s-maxage, Expires, public) or have a validator or Last-Modified (heuristic) with a heuristically cacheable status (4.2.2). */
export function isStorable(method: string, status: number, requestHeaders: Headers, responseHeaders: Headers): boolean {
  // RFC 9111 3: the request method is understood by the cache (we cache only GET and HEAD).
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD') return false;
  // RFC 9111 3: the response status code is final and understood.
  if (!UNDERSTOOD_STATUSES.has(status)) return false;
  const req = parseCacheControl(header(requestHeaders, 'cache-control'));
  const res = parseCacheControl(header(responseHeaders, 'cache-control'));
  // RFC 9111 5.2.1.5 / 5.2.2.5: no-store in either message.
  if (req.has('no-store') || res.has('no-store')) return false;
  // RFC 9111 5.2.2.7: a shared cache does not store a private response (qualified or not).
  if (res.has('private')) return false;
  // RFC 9111 3.5: a request with Authorization only when the response explicitly allows it.
  if (header(requestHeaders, 'authorization') !== undefined && !res.has('public') && !res.has('s-maxage') && !res.has('must-revalidate')) return false;
  // Our policy: a cookie is one user's state, and Vary: * can never be matched (RFC 9111 4.1).
  if (header(responseHeaders, 'set-cookie') !== undefined) return false;
  const vary = header(responseHeaders, 'vary');
  if (vary !== undefined && splitList(vary).includes('*')) return false;
  // RFC 9111 3: explicit expiration or public lets it be stored...
  if (res.has('max-age') || res.has('s-maxage') || res.has('public') || header(responseHeaders, 'expires') !== undefined) return true;
  // ...and otherwise only something we can revalidate or give heuristic freshness (4.2.2).
  const hasValidator = header(responseHeaders, 'etag') !== undefined || header(responseHeaders, 'last-modified') !== undefined;
  return hasValidator && HEURISTIC_STATUSES.has(status);
}

/** 4.2.1: s-maxage, then max-age, then Expires - Date; else heuristic 10% of (Date - Last-Modified) capped at 1 day (4.2.2); else 0. ms. */
export function freshnessLifetime(responseHeaders: Headers): number {
  const cc = parseCacheControl(header(responseHeaders, 'cache-control'));
  // RFC 9111 4.2.1: a shared cache uses s-maxage first, then max-age; an invalid value means stale.
  for (const directive of ['s-maxage', 'max-age']) {
    const d = deltaMs(cc.get(directive));
    if (d === 'invalid') return 0;
    if (d !== undefined) return d;
  }
  const date = parseHttpDate(header(responseHeaders, 'date'));
  const expiresHeader = header(responseHeaders, 'expires');
  if (expiresHeader !== undefined) {
    // RFC 9111 5.3: an invalid Expires (e.g. "0") means already expired.
    const expires = parseHttpDate(expiresHeader);
    if (expires === undefined || date === undefined) return 0;
    return Math.max(0, expires - date);
  }
  // RFC 9111 4.2.2: heuristic freshness from Last-Modified.
  const lastModified = parseHttpDate(header(responseHeaders, 'last-modified'));
  if (lastModified !== undefined && date !== undefined && date > lastModified) {
    return Math.min(HEURISTIC_MAX_MS, Math.floor((date - lastModified) * HEURISTIC_FRACTION));
  }
  return 0;
}

export interface StoredTiming { requestTime: number; responseTime: number; headers: Headers }

/** 4.2.3 current_age in ms (Age header, Date header, request/response times). */
export function currentAge(stored: StoredTiming, now: number): number {
  const ageHeader = deltaMs(header(stored.headers, 'age')?.trim());
  const ageValue = typeof ageHeader === 'number' ? ageHeader : 0;
  const dateValue = parseHttpDate(header(stored.headers, 'date')) ?? stored.responseTime;
  // RFC 9111 4.2.3, step by step.
  const apparentAge = Math.max(0, stored.responseTime - dateValue);
  const responseDelay = Math.max(0, stored.responseTime - stored.requestTime);
  const correctedAgeValue = ageValue + responseDelay;
  const correctedInitialAge = Math.max(apparentAge, correctedAgeValue);
  const residentTime = Math.max(0, now - stored.responseTime);
  return correctedInitialAge + residentTime;
}

export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'stale';

/** Response directives that forbid serving stale in a shared cache (RFC 9111 4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10). */
function forbidsStale(cc: Map<string, string | true>): boolean {
  return cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage');
}

/** fresh; else within stale-while-revalidate (RFC 5861) window; else 'stale' (the caller may still use stale-if-error when the origin fails: see canServeStaleOnError). Honours no-cache (response: always needs validation -> 'stale'), must-revalidate / proxy-revalidate / s-maxage (no stale serving), and request directives max-age, min-fresh, no-cache, max-stale is ignored (shared cache may ignore).
 * It never answers 'stale-if-error' itself: a response past its swr window is 'stale', and
 * whether it may still answer when revalidation fails is canServeStaleOnError's question.
 */
export function freshness(stored: StoredTiming, requestHeaders: Headers, now: number): Freshness {
  const res = parseCacheControl(header(stored.headers, 'cache-control'));
  const req = parseCacheControl(header(requestHeaders, 'cache-control'));
  // RFC 9111 5.2.2.4: no-cache (qualified or not, we do not strip fields) needs validation every time.
  if (res.has('no-cache')) return 'stale';
  // RFC 9111 5.2.1.4: the client asks for a validated response.
  if (req.has('no-cache')) return 'stale';
  const lifetime = freshnessLifetime(stored.headers);
  const age = currentAge(stored, now);
  // RFC 9111 5.2.1.1: the client will not take a response older than max-age; that includes stale ones.
  const maxAge = deltaMs(req.get('max-age'));
  if (maxAge !== undefined && (maxAge === 'invalid' || age > maxAge)) return 'stale';
  // RFC 9111 5.2.1.3: the client wants it to stay fresh for at least min-fresh more.
  const minFresh = deltaMs(req.get('min-fresh'));
  if (minFresh !== undefined && (minFresh === 'invalid' || lifetime - age < minFresh)) return 'stale';
  // RFC 9111 4.2: fresh while the freshness lifetime exceeds the current age.
  if (lifetime > age) return 'fresh';
  if (forbidsStale(res)) return 'stale';
  // RFC 5861 3: served stale while it is revalidated in the background, within the window.
  const swr = deltaMs(res.get('stale-while-revalidate'));
  if (typeof swr === 'number' && age - lifetime <= swr) return 'stale-while-revalidate';
  return 'stale';
}

export function canServeStaleOnError(stored: StoredTiming, now: number): boolean {
  const res = parseCacheControl(header(stored.headers, 'cache-control'));
  if (forbidsStale(res)) return false;
  // RFC 5861 4: a stale response may answer when the origin errs, within stale-if-error of expiry.
  const sie = deltaMs(res.get('stale-if-error'));
  if (typeof sie !== 'number') return false;
  const staleness = currentAge(stored, now) - freshnessLifetime(stored.headers);
  return staleness <= sie;
}

/** 4.3.1: If-None-Match from ETag, If-Modified-Since from Last-Modified. */
export function conditionalHeaders(stored: Headers): Headers {
  const out: Headers = {};
  const etag = header(stored, 'etag');
  if (etag !== undefined) out['if-none-match'] = etag;
  const lastModified = header(stored, 'last-modified');
  if (lastModified !== undefined) out['if-modified-since'] = lastModified;
  return out;
}

/**
 * RFC 9111 4.3.4: whether a 304 is about the stored response at all. With an ETag it must be the
 * stored one (strong: identical; weak: weak comparison, RFC 9110 8.8.3.2); else a Last-Modified
 * must equal the stored one; with neither, it answers the conditional request we made from the
 * one stored response, so it applies.
 */
export function notModifiedMatches(stored: Headers, notModified: Headers): boolean {
  const newTag = header(notModified, 'etag')?.trim();
  if (newTag !== undefined) {
    const oldTag = header(stored, 'etag')?.trim();
    if (oldTag === undefined) return false;
    if (!newTag.startsWith('W/')) return oldTag === newTag;
    return oldTag.replace(/^W\//, '') === newTag.slice(2);
  }
  const newModified = header(notModified, 'last-modified');
  if (newModified !== undefined) {
    const a = parseHttpDate(newModified);
    return a !== undefined && a === parseHttpDate(header(stored, 'last-modified'));
  }
  return true;
}

/** 4.3.4: headers of a stored response updated from a 304 (all but content-length / content-encoding-ish framing headers replaced). */
export function updateFromNotModified(stored: Headers, notModified: Headers): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(stored)) if (v !== undefined) out[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(stripHopByHop(notModified))) {
    if (v === undefined || KEPT_ON_UPDATE.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Headers never forwarded or stored by the rescue cache: hop-by-hop (RFC 9110 7.6.1, and those named in Connection) plus set-cookie. */
export function stripHopByHop(headers: Headers): Headers {
  const drop = new Set([...HOP_BY_HOP, 'set-cookie']);
  const connection = header(headers, 'connection');
  // RFC 9110 7.6.1: fields named in Connection apply to this hop only.
  if (connection !== undefined) for (const name of splitList(connection)) drop.add(name.toLowerCase());
  const out: Headers = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined || drop.has(name)) continue;
    out[name] = v;
  }
  return out;
}
