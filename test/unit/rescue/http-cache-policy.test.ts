import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canServeStaleOnError,
  conditionalHeaders,
  currentAge,
  freshness,
  freshnessLifetime,
  isStorable,
  notModifiedMatches,
  parseCacheControl,
  parseHttpDate,
  stripHopByHop,
  updateFromNotModified,
  withDate,
  type Headers,
  type StoredTiming,
} from '../../../native/proto/rescue/http-cache-policy.js';

const S = 1000;
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const httpDate = (ms: number) => new Date(ms).toUTCString();

/** A response received at T0 (request sent 100 ms earlier) with Date = T0. */
function stored(headers: Headers, times: Partial<StoredTiming> = {}): StoredTiming {
  return { requestTime: T0 - 100, responseTime: T0, headers: { date: httpDate(T0), ...headers }, ...times };
}

describe('cache-control parsing', () => {
  it('lower-cases names, unquotes values and keeps commas inside quotes', () => {
    const cc = parseCacheControl('Max-Age=60, no-cache="set-cookie, x-foo", PUBLIC, s-maxage="30"');
    assert.equal(cc.get('max-age'), '60');
    assert.equal(cc.get('no-cache'), 'set-cookie, x-foo');
    assert.equal(cc.get('public'), true);
    assert.equal(cc.get('s-maxage'), '30');
    assert.equal(cc.size, 4);
  });

  it('keeps the first of a repeated directive and tolerates empty members', () => {
    const cc = parseCacheControl(' ,max-age=10,, max-age=99 ,');
    assert.equal(cc.get('max-age'), '10');
    assert.equal(parseCacheControl(undefined).size, 0);
  });
});

describe('HTTP dates (RFC 9110 5.6.7)', () => {
  it('reads the IMF-fixdate, RFC 850 and asctime forms as the same GMT instant', () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
  });

  it('refuses invalid dates', () => {
    for (const v of ['0', '-1', '', 'Sun, 31 Feb 2021 00:00:00 GMT', 'Sun, 06 Nov 1994 25:00:00 GMT', 'tomorrow']) {
      assert.equal(parseHttpDate(v), undefined, v);
    }
  });
});

describe('storing (RFC 9111 3)', () => {
  const cases: Array<[string, string, number, Headers, Headers, boolean]> = [
    ['a GET 200 with max-age', 'GET', 200, {}, { 'cache-control': 'max-age=60' }, true],
    ['a HEAD 200 with max-age', 'HEAD', 200, {}, { 'cache-control': 'max-age=60' }, true],
    ['a POST', 'POST', 200, {}, { 'cache-control': 'max-age=60' }, false],
    ['a 206 (partial content is not stored)', 'GET', 206, {}, { 'cache-control': 'max-age=60' }, false],
    ['a 500', 'GET', 500, {}, { 'cache-control': 'max-age=60' }, false],
    ['a 304', 'GET', 304, {}, { 'cache-control': 'max-age=60', etag: '"x"' }, false],
    ['a 404 with Expires', 'GET', 404, {}, { expires: httpDate(T0 + 60 * S) }, true],
    ['a 200 with s-maxage only', 'GET', 200, {}, { 'cache-control': 's-maxage=10' }, true],
    ['a 200 with public only', 'GET', 200, {}, { 'cache-control': 'public' }, true],
    ['a 200 with only an ETag (revalidatable)', 'GET', 200, {}, { etag: '"v1"' }, true],
    ['a 200 with only Last-Modified (heuristic)', 'GET', 200, {}, { 'last-modified': httpDate(T0 - 3600 * S) }, true],
    ['a 302 with only an ETag (not heuristically cacheable)', 'GET', 302, {}, { etag: '"v1"' }, false],
    ['a 200 with nothing to go on', 'GET', 200, {}, { 'content-type': 'text/html' }, false],
    ['no-store in the response', 'GET', 200, {}, { 'cache-control': 'max-age=60, no-store' }, false],
    ['no-store in the request', 'GET', 200, { 'cache-control': 'no-store' }, { 'cache-control': 'max-age=60' }, false],
    ['private', 'GET', 200, {}, { 'cache-control': 'private, max-age=60' }, false],
    ['qualified private', 'GET', 200, {}, { 'cache-control': 'private="x-user", max-age=60' }, false],
    ['no-cache with a validator (stored, always revalidated)', 'GET', 200, {}, { 'cache-control': 'no-cache', etag: '"v"' }, true],
    ['Authorization with plain max-age', 'GET', 200, { authorization: 'Bearer x' }, { 'cache-control': 'max-age=60' }, false],
    ['Authorization with public', 'GET', 200, { authorization: 'Bearer x' }, { 'cache-control': 'public, max-age=60' }, true],
    ['Authorization with s-maxage', 'GET', 200, { authorization: 'Bearer x' }, { 'cache-control': 's-maxage=60' }, true],
    ['Authorization with must-revalidate', 'GET', 200, { authorization: 'Bearer x' }, { 'cache-control': 'max-age=60, must-revalidate' }, true],
    ['Set-Cookie', 'GET', 200, {}, { 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=1' }, false],
    ['Vary: *', 'GET', 200, {}, { 'cache-control': 'max-age=60', vary: 'accept-encoding, *' }, false],
    ['Vary: accept-encoding', 'GET', 200, {}, { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' }, true],
  ];
  for (const [name, method, status, req, res, expected] of cases) {
    it(`${expected ? 'stores' : 'does not store'} ${name}`, () => {
      assert.equal(isStorable(method, status, req, res), expected);
    });
  }
});

describe('freshness lifetime (RFC 9111 4.2.1, 4.2.2)', () => {
  const cases: Array<[string, Headers, number]> = [
    ['max-age', { 'cache-control': 'max-age=60' }, 60 * S],
    ['s-maxage beats max-age in a shared cache', { 'cache-control': 'max-age=60, s-maxage=5' }, 5 * S],
    ['max-age beats Expires', { 'cache-control': 'max-age=60', date: httpDate(T0), expires: httpDate(T0 + 3600 * S) }, 60 * S],
    ['Expires minus Date', { date: httpDate(T0), expires: httpDate(T0 + 300 * S) }, 300 * S],
    ['Expires in the past', { date: httpDate(T0), expires: httpDate(T0 - 300 * S) }, 0],
    ['an invalid Expires means already expired', { date: httpDate(T0), expires: '0' }, 0],
    ['an invalid max-age means stale', { 'cache-control': 'max-age=-1', expires: httpDate(T0 + 300 * S), date: httpDate(T0) }, 0],
    ['heuristic: 10% of Date - Last-Modified', { date: httpDate(T0), 'last-modified': httpDate(T0 - 1000 * S) }, 100 * S],
    ['heuristic capped at one day', { date: httpDate(T0), 'last-modified': httpDate(T0 - 365 * 86400 * S) }, 86400 * S],
    ['nothing: zero', { date: httpDate(T0) }, 0],
  ];
  for (const [name, headers, expected] of cases) {
    it(`uses ${name}`, () => {
      assert.equal(freshnessLifetime(headers), expected);
    });
  }

  it('gets a Date from the arrival time when the origin sent none, so Expires works', () => {
    const h = withDate({ expires: httpDate(T0 + 120 * S) }, T0);
    assert.equal(freshnessLifetime(h), 120 * S);
    const kept = { date: httpDate(T0 - 5 * S) };
    assert.equal(withDate(kept, T0), kept);
  });
});

describe('current age (RFC 9111 4.2.3)', () => {
  it('is the response delay plus the time resident in the cache', () => {
    assert.equal(currentAge(stored({}), T0 + 10 * S), 10 * S + 100);
  });

  it('is raised by an Age header from an upstream cache', () => {
    assert.equal(currentAge(stored({ age: '30' }), T0 + 10 * S), 30 * S + 100 + 10 * S);
  });

  it('is raised by a Date older than the arrival time (apparent age)', () => {
    assert.equal(currentAge(stored({ date: httpDate(T0 - 50 * S) }), T0), 50 * S);
  });

  it('ignores a Date in the future and a junk Age', () => {
    assert.equal(currentAge(stored({ date: httpDate(T0 + 50 * S), age: 'x' }), T0), 100);
  });
});

describe('freshness decisions', () => {
  const cases: Array<[string, Headers, Headers, number, string]> = [
    ['fresh within max-age', { 'cache-control': 'max-age=60' }, {}, 30 * S, 'fresh'],
    ['stale after max-age', { 'cache-control': 'max-age=60' }, {}, 61 * S, 'stale'],
    ['fresh by Expires', { expires: httpDate(T0 + 60 * S) }, {}, 30 * S, 'fresh'],
    ['an Age header makes it stale sooner', { 'cache-control': 'max-age=60', age: '50' }, {}, 20 * S, 'stale'],
    ['response no-cache always needs validation', { 'cache-control': 'no-cache, max-age=600' }, {}, 1 * S, 'stale'],
    ['request no-cache', { 'cache-control': 'max-age=600' }, { 'cache-control': 'no-cache' }, 1 * S, 'stale'],
    ['request max-age=0', { 'cache-control': 'max-age=600' }, { 'cache-control': 'max-age=0' }, 1 * S, 'stale'],
    ['request max-age that the age is within', { 'cache-control': 'max-age=600' }, { 'cache-control': 'max-age=100' }, 50 * S, 'fresh'],
    ['request min-fresh beyond the remaining lifetime', { 'cache-control': 'max-age=60' }, { 'cache-control': 'min-fresh=40' }, 30 * S, 'stale'],
    ['request min-fresh within the remaining lifetime', { 'cache-control': 'max-age=60' }, { 'cache-control': 'min-fresh=20' }, 30 * S, 'fresh'],
    ['request max-stale is ignored', { 'cache-control': 'max-age=60' }, { 'cache-control': 'max-stale=600' }, 70 * S, 'stale'],
    ['inside the stale-while-revalidate window', { 'cache-control': 'max-age=60, stale-while-revalidate=30' }, {}, 80 * S, 'stale-while-revalidate'],
    ['past the stale-while-revalidate window', { 'cache-control': 'max-age=60, stale-while-revalidate=30' }, {}, 95 * S, 'stale'],
    ['must-revalidate disables stale-while-revalidate', { 'cache-control': 'max-age=60, stale-while-revalidate=30, must-revalidate' }, {}, 80 * S, 'stale'],
    ['proxy-revalidate disables stale-while-revalidate', { 'cache-control': 'max-age=60, stale-while-revalidate=30, proxy-revalidate' }, {}, 80 * S, 'stale'],
    ['s-maxage disables stale-while-revalidate', { 'cache-control': 's-maxage=60, stale-while-revalidate=30' }, {}, 80 * S, 'stale'],
    ['heuristic freshness', { 'last-modified': httpDate(T0 - 1000 * S) }, {}, 50 * S, 'fresh'],
  ];
  for (const [name, res, req, after, expected] of cases) {
    it(`${name}: ${expected}`, () => {
      assert.equal(freshness(stored(res), req, T0 + after), expected);
    });
  }
});

describe('stale-if-error (RFC 5861 4)', () => {
  it('allows a stale response within the window after expiry, not beyond', () => {
    const s = stored({ 'cache-control': 'max-age=60, stale-if-error=300' });
    assert.equal(canServeStaleOnError(s, T0 + 200 * S), true);
    assert.equal(canServeStaleOnError(s, T0 + 361 * S), false);
  });

  it('is refused without the directive and with must-revalidate', () => {
    assert.equal(canServeStaleOnError(stored({ 'cache-control': 'max-age=60' }), T0 + 61 * S), false);
    assert.equal(canServeStaleOnError(stored({ 'cache-control': 'max-age=60, stale-if-error=300, must-revalidate' }), T0 + 61 * S), false);
  });
});

describe('revalidation (RFC 9111 4.3)', () => {
  it('sends If-None-Match from ETag and If-Modified-Since from Last-Modified', () => {
    const lm = httpDate(T0 - 3600 * S);
    assert.deepEqual(conditionalHeaders({ etag: 'W/"v1"', 'last-modified': lm, 'content-type': 'text/plain' }), {
      'if-none-match': 'W/"v1"',
      'if-modified-since': lm,
    });
    assert.deepEqual(conditionalHeaders({ 'content-type': 'text/plain' }), {});
  });

  it('updates only from a 304 whose validator is the stored one', () => {
    const lm = httpDate(T0 - 3600 * S);
    assert.equal(notModifiedMatches({ etag: '"v1"' }, { etag: '"v1"' }), true);
    assert.equal(notModifiedMatches({ etag: '"v1"' }, { etag: '"v2"' }), false);
    assert.equal(notModifiedMatches({ etag: 'W/"v1"' }, { etag: '"v1"' }), false, 'a strong 304 tag needs a strong stored one');
    assert.equal(notModifiedMatches({ etag: '"v1"' }, { etag: 'W/"v1"' }), true, 'weak comparison for a weak 304 tag');
    assert.equal(notModifiedMatches({}, { etag: '"v1"' }), false);
    assert.equal(notModifiedMatches({ 'last-modified': lm }, { 'last-modified': lm }), true);
    assert.equal(notModifiedMatches({ 'last-modified': lm }, { 'last-modified': httpDate(T0) }), false);
    assert.equal(notModifiedMatches({ etag: '"v1"' }, { 'cache-control': 'max-age=5' }), true);
  });

  it('merges a 304 into the stored headers, keeping what describes the stored body', () => {
    const storedHeaders: Headers = {
      'content-type': 'image/png',
      'content-length': '1234',
      'content-encoding': 'gzip',
      'content-digest': 'sha-256=:AAAA:',
      etag: '"v1"',
      'cache-control': 'max-age=60',
      date: httpDate(T0),
    };
    const merged = updateFromNotModified(storedHeaders, {
      'cache-control': 'max-age=120',
      date: httpDate(T0 + 100 * S),
      etag: '"v1"',
      'content-length': '0',
      'Content-Encoding': 'identity',
      connection: 'close, x-hop',
      'x-hop': '1',
      'set-cookie': 'a=b',
      'x-new': 'yes',
    });
    assert.deepEqual(merged, {
      'content-type': 'image/png',
      'content-length': '1234',
      'content-encoding': 'gzip',
      'content-digest': 'sha-256=:AAAA:',
      etag: '"v1"',
      'cache-control': 'max-age=120',
      date: httpDate(T0 + 100 * S),
      'x-new': 'yes',
    });
  });
});

describe('hop-by-hop stripping', () => {
  it('drops RFC 9110 7.6.1 fields, those named in Connection, and Set-Cookie', () => {
    const out = stripHopByHop({
      Connection: 'keep-alive, X-Trace',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'h2c',
      'proxy-connection': 'keep-alive',
      'x-trace': 'abc',
      'set-cookie': 'sid=1',
      'Content-Type': 'text/html',
      etag: '"1"',
      empty: undefined,
    });
    assert.deepEqual(out, { 'content-type': 'text/html', etag: '"1"' });
  });
});
