// The SIP codec beyond RFC 4475: what we send parses back to the same thing, compact and folded
// headers read like their long forms, and responses carry what RFC 3261 8.2.6.2 requires.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeBody,
  encodeBody,
  generateBranch,
  makeResponse,
  parseSipMessage,
  serializeSipMessage,
  type SipRequest,
} from '../../../native/wire/sip/message.js';

const CRLF = '\r\n';
const wire = (lines: string[], body = ''): Buffer => Buffer.from(lines.join(CRLF) + CRLF + CRLF + body, 'latin1');

function request(bytes: Buffer): SipRequest {
  const outcome = parseSipMessage(bytes);
  assert.equal(outcome.kind, 'request', JSON.stringify(outcome.kind === 'request' ? '' : outcome));
  return outcome.message;
}

function messageWithBody(text: string): SipRequest {
  return {
    method: 'MESSAGE',
    uri: 'sip:bob@127.0.0.1:5071',
    version: '2.0',
    headers: {
      via: [{ version: '2.0', protocol: 'UDP', host: '127.0.0.1', port: 5070, params: { branch: generateBranch(), rport: null } }],
      to: { uri: 'sip:bob@127.0.0.1:5071', params: {} },
      from: { name: '"Alice"', uri: 'sip:alice@127.0.0.1:5070', params: { tag: 'a1' } },
      'call-id': 'roundtrip@127.0.0.1',
      cseq: { seq: 1, method: 'MESSAGE' },
      'max-forwards': 70,
      'content-type': 'text/plain;charset=UTF-8',
    },
    content: encodeBody(text),
  };
}

describe('serialising and parsing', () => {
  it('keeps the bytes of a UTF-8 MESSAGE body and counts them in Content-Length', () => {
    const text = 'Grüße, 世界 🎉\r\nzweite Zeile';
    const bytes = serializeSipMessage(messageWithBody(text));
    const expectedLength = Buffer.byteLength(text, 'utf8');
    assert.match(bytes.toString('latin1'), new RegExp(`\\r\\nContent-Length: ${expectedLength}\\r\\n`));
    const back = request(bytes);
    assert.equal(decodeBody(back.content), text);
    assert.deepEqual(Buffer.from(back.content!, 'latin1'), Buffer.from(text, 'utf8'));
    assert.equal(back.headers.cseq.method, 'MESSAGE');
    assert.equal(back.headers.from.params.tag, 'a1');
    assert.equal(back.headers['call-id'], 'roundtrip@127.0.0.1');
  });

  it('parses what it serialised into the same message again', () => {
    const once = request(serializeSipMessage(messageWithBody('hello')));
    const twice = request(serializeSipMessage(once));
    assert.deepEqual(twice, once);
  });

  it('writes To, From and Contact as name-addr with one space, display name quoted', () => {
    const m = messageWithBody('hi');
    m.headers.contact = [{ uri: 'sip:alice@127.0.0.1:5070', params: { expires: '60' } }];
    const text = serializeSipMessage(m).toString('latin1');
    assert.match(text, /\r\nTo: <sip:bob@127\.0\.0\.1:5071>\r\n/);
    assert.match(text, /\r\nFrom: "Alice" <sip:alice@127\.0\.0\.1:5070>;tag=a1\r\n/);
    assert.match(text, /\r\nContact: <sip:alice@127\.0\.0\.1:5070>;expires=60\r\n/);
  });

  it('reads compact header names as their long forms', () => {
    const m = request(
      wire(
        [
          'MESSAGE sip:bob@example.com SIP/2.0',
          'v: SIP/2.0/TCP client.example.com:5070;branch=z9hG4bKcompact1',
          't: <sip:bob@example.com>',
          'f: "Alice" <sip:alice@example.com>;tag=77',
          'i: compact-1@example.com',
          'CSeq: 4 MESSAGE',
          'Max-Forwards: 70',
          'c: text/plain',
          'l: 5',
        ],
        'hello',
      ),
    );
    assert.equal(m.headers.via[0].host, 'client.example.com');
    assert.equal(m.headers.via[0].protocol, 'TCP');
    assert.equal(m.headers.to.uri, 'sip:bob@example.com');
    assert.equal(m.headers.from.params.tag, '77');
    assert.equal(m.headers['call-id'], 'compact-1@example.com');
    assert.equal(m.headers['content-type'], 'text/plain');
    assert.equal(m.content, 'hello');
  });

  it('unfolds header values continued on lines that start with whitespace', () => {
    const m = request(
      wire([
        'OPTIONS sip:bob@example.com SIP/2.0',
        'Via: SIP/2.0/UDP client.example.com',
        '\t;branch=z9hG4bKfolded',
        'To: <sip:bob@example.com>',
        'From: <sip:alice@example.com>',
        '   ;tag=f1',
        'Call-ID: folded@example.com',
        'CSeq: 9',
        '  OPTIONS',
        'Subject: first part',
        '  second part',
        'Content-Length: 0',
      ]),
    );
    assert.equal(m.headers.via[0].params.branch, 'z9hG4bKfolded');
    assert.equal(m.headers.from.params.tag, 'f1');
    assert.deepEqual(m.headers.cseq, { seq: 9, method: 'OPTIONS' });
    assert.equal(m.headers.subject, 'first part second part');
  });

  it('treats a message without the blank line after its headers as garbage', () => {
    assert.equal(parseSipMessage(Buffer.from('OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n')).kind, 'garbage');
  });

  it('treats a message larger than 64 KiB as garbage', () => {
    assert.equal(parseSipMessage(Buffer.alloc(70 * 1024, 'a')).kind, 'garbage');
  });
});

describe('makeResponse', () => {
  const incoming = request(serializeSipMessage(messageWithBody('hi')));

  it('copies Via, From, Call-ID and CSeq and adds a To tag', () => {
    const response = makeResponse(incoming, 200);
    assert.deepEqual(response.headers.via, incoming.headers.via);
    assert.deepEqual(response.headers.from, incoming.headers.from);
    assert.equal(response.headers['call-id'], incoming.headers['call-id']);
    assert.deepEqual(response.headers.cseq, incoming.headers.cseq);
    assert.equal(response.headers.to.uri, incoming.headers.to.uri);
    assert.match(response.headers.to.params.tag ?? '', /^[0-9a-f]{12}$/);
    assert.equal(incoming.headers.to.params.tag, undefined, 'the request itself is left alone');
    const back = parseSipMessage(serializeSipMessage(response));
    assert.equal(back.kind, 'response');
    assert.equal(back.kind === 'response' && back.message.status, 200);
    assert.equal(back.kind === 'response' && back.message.reason, 'OK');
  });

  it('keeps a To tag the request already had, uses a given one, and adds none to a 100', () => {
    const inDialog = { ...incoming, headers: { ...incoming.headers, to: { ...incoming.headers.to, params: { tag: 'existing' } } } };
    assert.equal(makeResponse(inDialog, 486).headers.to.params.tag, 'existing');
    assert.equal(makeResponse(incoming, 404, { toTag: 'chosen' }).headers.to.params.tag, 'chosen');
    assert.equal(makeResponse(incoming, 100).headers.to.params.tag, undefined);
  });

  it('answers a request that lacks To with a response that still matches its transaction', () => {
    const outcome = parseSipMessage(
      wire(['MESSAGE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnoto', 'CSeq: 3 MESSAGE', 'Content-Length: 0']),
    );
    assert.equal(outcome.kind, 'bad-request');
    if (outcome.kind !== 'bad-request') return;
    const text = serializeSipMessage(makeResponse(outcome.request, outcome.status)).toString('latin1');
    assert.match(text, /^SIP\/2\.0 400 Bad Request\r\n/);
    assert.match(text, /\r\nVia: SIP\/2\.0\/UDP 192\.0\.2\.1;branch=z9hG4bKnoto\r\n/);
    assert.match(text, /\r\nCSeq: 3 MESSAGE\r\n/);
  });
});
