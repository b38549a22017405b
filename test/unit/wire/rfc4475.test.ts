// RFC 4475 torture messages (test/fixtures/rfc4475/*.dat, the RFC's own appendix files) through
// the codec: what must parse, what must be answered and with which status, what must be dropped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSipMessage, type ParseOutcome } from '../../../native/wire/sip/message.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/rfc4475');
const load = (name: string): Buffer => readFileSync(path.join(FIXTURES, `${name}.dat`));
const parse = (name: string): ParseOutcome => parseSipMessage(load(name));

function expectRequest(name: string) {
  const outcome = parse(name);
  assert.equal(outcome.kind, 'request', `${name}: ${JSON.stringify(outcome.kind === 'request' ? '' : outcome)}`);
  return outcome.message;
}
function expectAnswer(name: string, status: number) {
  const outcome = parse(name);
  assert.equal(outcome.kind, 'bad-request', `${name} gave ${outcome.kind}`);
  assert.equal(outcome.status, status, `${name}: ${outcome.reason}`);
  return outcome;
}

describe('RFC 4475 3.1.1: valid messages parse', () => {
  it('reads the short tortuous INVITE with folding, compact forms and leading zeros (3.1.1.1)', () => {
    const m = expectRequest('wsinv');
    assert.equal(m.method, 'INVITE');
    assert.equal(m.headers.via.length, 3);
    assert.equal(m.headers.via[1].host, 'spindle.example.com');
    assert.equal(m.headers.cseq.seq, 9);
    assert.equal(m.headers.cseq.method, 'INVITE');
    assert.equal(m.headers.to.params.tag, '1918181833n');
    assert.equal(m.headers.from.params.tag, '98asjd8');
    assert.equal(m.headers['newfangledheader'], 'newfangled value continued newfangled value');
    assert.equal(m.content?.length, 150);
  });

  it('keeps a method of unusual token characters as an unknown method (3.1.1.2)', () => {
    const m = expectRequest('intmeth');
    assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert.equal(m.headers.cseq.method, m.method);
    assert.equal(m.headers['call-id'], 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  });

  it('accepts %-escapes in URIs (3.1.1.3) and escaped nulls (3.1.1.4)', () => {
    assert.equal(expectRequest('esc01').uri, 'sip:sips%3Auser%40example.com@example.net');
    assert.equal(expectRequest('escnull').method, 'REGISTER');
  });

  it('does not %-decode a method or a header name (3.1.1.5)', () => {
    const m = expectRequest('esc02');
    assert.equal(m.method, 'RE%47IST%45R');
    assert.equal(m.headers.cseq.method, 'RE%47IST%45R');
    // Two Contact values, not three: "C%6Fntact" is another header.
    assert.equal((m.headers.contact as unknown[]).length, 2);
  });

  it('accepts a display name with no space before "<" (3.1.1.6)', () => {
    assert.equal(expectRequest('lwsdisp').headers.from.name, 'caller');
  });

  it('reads long header values (3.1.1.7)', () => {
    assert.ok(expectRequest('longreq').headers.from.params.tag!.length > 100);
  });

  it('ignores octets after Content-Length in a datagram (3.1.1.8)', () => {
    const m = expectRequest('dblreq');
    assert.equal(m.method, 'REGISTER');
    assert.equal(m.content, '');
  });

  it('reads user parts with semicolons (3.1.1.9), unknown transports (3.1.1.10) and a binary multipart body (3.1.1.11)', () => {
    assert.equal(expectRequest('semiuri').uri, 'sip:user;par=u%40example.net@example.com');
    assert.deepEqual(expectRequest('transports').headers.via.map((v) => v.protocol), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    const mpart = expectRequest('mpart01');
    assert.equal(mpart.content?.length, Number(/Content-Length: (\d+)/.exec(load('mpart01').toString('latin1'))![1]));
    assert.ok(mpart.content?.includes('\u0000'));
  });

  it('accepts an unusual reason phrase (3.1.1.12) and an empty one (3.1.1.13)', () => {
    for (const name of ['unreason', 'noreason']) {
      const outcome = parse(name);
      assert.equal(outcome.kind, 'response', name);
    }
  });
});

describe('RFC 4475 3.1.2: invalid messages are answered or dropped', () => {
  it('answers extraneous header field separators with 400 (3.1.2.1)', () => {
    expectAnswer('badinv01', 400);
  });
  it('answers a Content-Length longer than the datagram with 400 (3.1.2.2)', () => {
    expectAnswer('clerr', 400);
  });
  it('answers a negative Content-Length with 400 (3.1.2.3)', () => {
    expectAnswer('ncl', 400);
  });
  it('answers a CSeq beyond 2**32-1 with 400 (3.1.2.4)', () => {
    expectAnswer('scalar02', 400);
  });
  it('drops a response with out-of-range scalars (3.1.2.5)', () => assert.equal(parse('scalarlg').kind, 'garbage'));
  it('answers an unterminated quoted display name with 400 (3.1.2.6)', () => {
    expectAnswer('quotbal', 400);
  });
  it('answers a Request-URI in angle brackets with 400 (3.1.2.7)', () => {
    expectAnswer('ltgtruri', 400);
  });
  it('answers LWS inside the Request-URI with 400 (3.1.2.8)', () => {
    expectAnswer('lwsruri', 400);
  });
  it('answers several spaces between Request-Line elements with 400 (3.1.2.9)', () => {
    expectAnswer('lwsstart', 400);
  });
  it('answers trailing spaces after the SIP version with 400 (3.1.2.10)', () => {
    expectAnswer('trws', 400);
  });
  it('answers escaped headers in the Request-URI with 400 (3.1.2.11)', () => {
    expectAnswer('escruri', 400);
  });

  // RFC 4475 3.1.2.12: rejecting is allowed, but "an element shouldn't do that unless the contents
  // of the Date header field were actually important to its processing"; ours never reads Date.
  it('accepts a non-GMT Date, which nothing here depends on (3.1.2.12)', () => {
    assert.equal(expectRequest('baddate').headers.date, 'Fri, 01 Jan 2010 16:00:00 EST');
  });

  it('answers an addr-spec with "?" outside angle brackets with 400 (3.1.2.13)', () => {
    expectAnswer('regbadct', 400);
  });
  it('answers spaces inside angle brackets with 400 (3.1.2.14)', () => {
    expectAnswer('badaspec', 400);
  });
  it('answers an unquoted display name with a comma with 400 (3.1.2.15)', () => {
    expectAnswer('baddn', 400);
  });
  it('answers SIP/7.0 with 505 (3.1.2.16)', () => {
    expectAnswer('badvers', 505);
  });
  it('answers a CSeq method that differs from the Request-Line with 400 (3.1.2.17)', () => {
    expectAnswer('mismatch01', 400);
  });
  // RFC 4475 3.1.2.18: 400 is acceptable, 501 "has better future-proof characteristics".
  it('answers an unknown method with a mismatched CSeq with 501 (3.1.2.18)', () => {
    expectAnswer('mismatch02', 501);
  });
  it('drops a response whose status code is larger than 699 (3.1.2.19)', () => assert.equal(parse('bigcode').kind, 'garbage'));

  it('keeps what is needed to answer: Via and CSeq of the malformed request', () => {
    const outcome = expectAnswer('badinv01', 400);
    assert.equal(outcome.request.headers.via[0].host, '192.0.2.15');
    assert.equal(outcome.request.headers.cseq.method, 'INVITE');
  });
});

describe('RFC 4475 3.2 and 3.3: transaction and application-layer semantics', () => {
  // RFC 4475 3.2.1: an element "could reject ... or it could fall back to the RFC 2543-style
  // transaction identifier"; the transaction layer matches such requests by Call-ID and CSeq.
  it('accepts a branch that is only the magic cookie (3.2.1)', () => {
    expectRequest('badbranch');
  });

  it('answers a request without Call-ID, From and To with 400 (3.3.1)', () => {
    const outcome = expectAnswer('insuf', 400);
    assert.equal(outcome.request.headers.via[0].params.branch, 'z9hG4bKkdj.insuf');
  });
  it('answers an unknown Request-URI scheme with 416 (3.3.2)', () => {
    expectAnswer('unkscm', 416);
  });
  it('answers a registered scheme this element never serves with 416 (3.3.3)', () => {
    expectAnswer('novelsc', 416);
  });
  it('parses non-SIP URIs in To, From and Contact (3.3.4)', () => {
    assert.equal(expectRequest('unksm2').headers.to.uri, 'isbn:2983792873');
  });
  it('parses Require and Proxy-Require for the stack to answer 420 (3.3.5)', () => {
    assert.equal(expectRequest('bext01').headers.require, 'nothingSupportsThis, nothingSupportsThisEither');
  });
  it('parses an unknown Content-Type (3.3.6) and an unknown Authorization scheme (3.3.7)', () => {
    expectRequest('invut');
    expectRequest('regaut01');
  });
  it('answers several values in single-value fields with 400 (3.3.8)', () => {
    expectAnswer('multi01', 400);
  });
  it('answers conflicting Content-Length values with 400 (3.3.9)', () => {
    expectAnswer('mcl01', 400);
  });
  it('parses a response with a broadcast Via (3.3.10)', () => assert.equal(parse('bcast').kind, 'response'));
  it('parses Max-Forwards of zero (3.3.11)', () => assert.equal(expectRequest('zeromf').headers['max-forwards'], '0'));
  it('parses Contact parameters and escaped URI headers inside angle brackets (3.3.12-3.3.14)', () => {
    for (const name of ['cparam01', 'cparam02', 'regescrt']) expectRequest(name);
  });
  it('parses an unacceptable Accept for the application to answer 406 (3.3.15)', () => {
    expectRequest('sdp01');
  });
  it('accepts an RFC 2543 INVITE without branch, Max-Forwards or Content-Length (3.4.1)', () => {
    const m = expectRequest('inv2543');
    assert.ok(m.content?.startsWith('v=0'));
  });
});
