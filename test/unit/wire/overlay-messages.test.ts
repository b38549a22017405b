import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOverlayRequest } from '../../../native/wire/overlay/messages.js';
import { parseSipMessage, type SipRequest } from '../../../native/wire/sip/message.js';

const A = { id: 'a'.repeat(40), host: '127.0.0.1', port: 5070 };

/** An overlay REGISTER as it arrives, with `body` as its JSON. */
function request(op: string, body: string): SipRequest {
  const text = [
    'REGISTER sip:127.0.0.1:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-test',
    `To: <sip:${'b'.repeat(40)}@peerdial>`,
    `From: <sip:${A.id}@peerdial>;tag=1`,
    'Call-ID: test@127.0.0.1',
    'CSeq: 1 REGISTER',
    `Contact: <sip:${A.id}@127.0.0.1:5070>`,
    `P2P-Op: ${op}`,
    'P2P-Overlay: peerdial',
    'Content-Type: application/peerdial-overlay+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  const parsed = parseSipMessage(Buffer.from(text));
  assert.equal(parsed.kind, 'request', 'the test request must parse');
  return (parsed as { message: SipRequest }).message;
}

describe('overlay ping bodies', () => {
  it('takes a successor hint naming a node', () => {
    const decoded = decodeOverlayRequest(request('ping', JSON.stringify({ successor: A })));
    assert.ok(decoded.ok);
    assert.deepEqual((decoded as { body: unknown }).body, { successor: A });
  });

  it('refuses a successor hint that is not a node reference with 400', () => {
    const decoded = decodeOverlayRequest(request('ping', JSON.stringify({ successor: { id: 'nope' } })));
    assert.deepEqual(decoded, { ok: false, status: 400, reason: 'Bad Request (successor is not a node reference)' });
  });
});
