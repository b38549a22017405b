// The fast lane's request reader: only the plainest GET/HEAD is `simple`; everything a shared
// cache would have to think about, and every malformed or smuggling-shaped head, is `other`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SIMPLE_HEAD_BYTES, parseSimpleRequestHead, responseHead } from '../../../native/wire/http/simple-request.js';

const head = (text: string) => Buffer.from(text, 'latin1');
const GET = 'GET /r/0123456789abcdef/a.png?v=2 HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n';

describe('reading a simple request head', () => {
  it('reads a plain GET: method, target, host and where the next request starts', () => {
    const r = parseSimpleRequestHead(head(GET + 'GET /next HTTP/1.1\r\n'));
    assert.deepEqual(r, { kind: 'simple', method: 'GET', target: '/r/0123456789abcdef/a.png?v=2', host: '10.0.0.1:8080', headBytes: GET.length });
  });

  it('waits for the rest of a head that has not all arrived', () => {
    assert.deepEqual(parseSimpleRequestHead(head(GET.slice(0, 30))), { kind: 'incomplete' });
    assert.deepEqual(parseSimpleRequestHead(Buffer.alloc(0)), { kind: 'incomplete' });
  });

  it('leaves to the full server every request whose answer a header could change', () => {
    for (const field of ['Cache-Control: no-cache', 'Pragma: no-cache', 'If-None-Match: "x"', 'If-Modified-Since: Sat, 05 Dec 2026 10:00:00 GMT', 'Range: bytes=0-10', 'Authorization: Basic eA==']) {
      assert.deepEqual(parseSimpleRequestHead(head(GET.replace('Accept: */*', field))), { kind: 'other' }, field);
    }
  });

  it('leaves to the full server anything with a body, a close, an upgrade or another version', () => {
    for (const text of [
      GET.replace('Accept: */*', 'Content-Length: 5'),
      GET.replace('Accept: */*', 'Transfer-Encoding: chunked'),
      GET.replace('Connection: keep-alive', 'Connection: close'),
      GET.replace('Connection: keep-alive', 'Connection: Upgrade'),
      GET.replace('HTTP/1.1', 'HTTP/1.0'),
      GET.replace('GET', 'POST'),
      GET.replace('GET', 'get'),
    ]) {
      assert.deepEqual(parseSimpleRequestHead(head(text)), { kind: 'other' }, text.split('\r\n')[0]);
    }
  });

  it('refuses smuggling shapes and malformed heads: two Hosts, none, folded or bare-LF lines, odd bytes, absolute targets', () => {
    for (const text of [
      GET.replace('Accept: */*', 'Host: evil.example'),
      GET.replace('Host: 10.0.0.1:8080\r\n', ''),
      GET.replace('Accept: */*', 'Accept: a,\r\n b'),
      GET.replace('Accept: */*', 'Accept: a\nHost: b'),
      GET.replace('Accept: */*', 'Accept: a\n'),
      GET.replace('Accept: */*', 'Acc\rept: a'),
      GET.replace('Accept: */*', ':a'),
      GET.replace('Accept: */*', 'Accept'),
      GET.replace('Accept: */*', 'Accept : */*'),
      GET.replace('Accept: */*', 'Accept: caf\xe9'),
      GET.replace('/r/0123456789abcdef/a.png?v=2', 'http://evil.example/x'),
      GET.replace('/r/0123456789abcdef/a.png?v=2', '/a b'),
      GET.replace('GET /', 'GET  /'),
      'GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n',
    ]) {
      assert.deepEqual(parseSimpleRequestHead(head(text)), { kind: 'other' }, JSON.stringify(text.slice(0, 80)));
    }
  });

  it('gives up on a head that grows past the limit without ending', () => {
    assert.deepEqual(parseSimpleRequestHead(head('GET / HTTP/1.1\r\nCookie: ' + 'x'.repeat(MAX_SIMPLE_HEAD_BYTES))), { kind: 'other' });
    assert.deepEqual(parseSimpleRequestHead(head('GET / HTTP/1.1\r\nHost: a\r\nCookie: ' + 'x'.repeat(MAX_SIMPLE_HEAD_BYTES) + '\r\n\r\n')), { kind: 'other' });
  });
});

describe('writing a response head', () => {
  it('writes the status line and fields, and refuses a value with CR or LF', () => {
    assert.equal(responseHead(200, 'OK', [['Content-Length', '3'], ['X-Cache', 'HIT']]).toString('latin1'), 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Cache: HIT\r\n\r\n');
    assert.throws(() => responseHead(200, 'OK', [['Location', '/a\r\nSet-Cookie: x=1']]), RangeError);
  });
});
