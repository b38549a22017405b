// The STUN responder on the SIP socket: answers, CHANGE-REQUEST with and without a partner,
// RESPONSE-PORT, and what it refuses; the client's retransmissions and what it will not believe.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { StunClient } from '../../../native/proto/nat/stun-client.js';
import { StunResponder } from '../../../native/proto/nat/stun-responder.js';
import { ATTR, BINDING, attribute, decodeAddress, decodeErrorCode, decodeXorAddress, encodeChangeRequest, encodeXorAddress, parseStun, serializeStun, type StunAttribute } from '../../../native/wire/stun/message.js';
import { FakeClock } from '../../support/fake-clock.js';

const ME = { address: '198.51.100.10', port: 5060 };
const MY_ALT = { address: '198.51.100.10', port: 40001 };
const PARTNER = { address: '198.51.100.11', port: 5060 };
const PARTNER_ALT = { address: '198.51.100.11', port: 40002 };
const ASKER = { address: '203.0.113.5', port: 61000 };

function request(attributes: StunAttribute[] = [], transactionId = randomBytes(12)): Buffer {
  return serializeStun({ method: BINDING, klass: 'request', transactionId, attributes }, { fingerprint: true });
}
function decoded(bytes: Buffer) {
  const parsed = parseStun(bytes);
  assert.ok(parsed.ok);
  return parsed.message;
}

describe('STUN responder', () => {
  it('answers a Binding request with the asker\'s address, where it answers from, and the other address', () => {
    const r = new StunResponder({ addresses: [[ME, MY_ALT], [PARTNER, PARTNER_ALT]], partner: PARTNER }, 'test');
    const action = r.handle(request(), ASKER, { ip: 0, port: 0 });
    assert.equal(action.kind, 'reply');
    if (action.kind !== 'reply') return;
    assert.deepEqual(action.to, ASKER);
    const m = decoded(action.bytes);
    assert.deepEqual(decodeXorAddress(attribute(m, ATTR.XOR_MAPPED_ADDRESS)!, m.transactionId), ASKER);
    assert.deepEqual(decodeAddress(attribute(m, ATTR.RESPONSE_ORIGIN)!), ME);
    assert.deepEqual(decodeAddress(attribute(m, ATTR.OTHER_ADDRESS)!), PARTNER_ALT);
  });

  it('answers "change port" from its alternate socket, and passes "change address" to its partner, who answers the asker only', () => {
    const me = new StunResponder({ addresses: [[ME, MY_ALT], [PARTNER, PARTNER_ALT]], partner: PARTNER }, 'me');
    const port = me.handle(request([{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest({ changeIp: false, changePort: true }) }]), ASKER, { ip: 0, port: 0 });
    assert.ok(port.kind === 'reply' && port.from.ip === 0 && port.from.port === 1);
    const ip = me.handle(request([{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest({ changeIp: true, changePort: true }) }]), ASKER, { ip: 0, port: 0 });
    assert.equal(ip.kind, 'ask-partner');
    if (ip.kind !== 'ask-partner') return;
    assert.deepEqual(ip.to, PARTNER);
    // The partner's side: its own sockets are ip 0, ours ip 1.
    const partner = new StunResponder({ addresses: [[PARTNER, PARTNER_ALT], [ME, MY_ALT]], partner: ME }, 'partner');
    const answer = partner.handle(ip.bytes, ME, { ip: 0, port: 0 });
    assert.equal(answer.kind, 'reply');
    if (answer.kind !== 'reply') return;
    assert.deepEqual(answer.to, ASKER);
    assert.deepEqual(answer.from, { ip: 0, port: 1 }, 'change port too: from the partner\'s alternate port');
    const m = decoded(answer.bytes);
    assert.deepEqual(decodeXorAddress(attribute(m, ATTR.XOR_MAPPED_ADDRESS)!, m.transactionId), ASKER);
    // The same request from anyone but the partner is dropped: no answering third parties.
    assert.deepEqual(partner.handle(ip.bytes, { address: '203.0.113.66', port: 5060 }, { ip: 0, port: 0 }), { kind: 'drop', reason: 'answer-request-not-from-partner' });
  });

  it('honours RESPONSE-PORT on the asker\'s own address only (RFC 5780 7.5)', () => {
    const r = new StunResponder({ addresses: [[ME, MY_ALT]] }, 'test');
    const value = Buffer.from([0xee, 0x48, 0, 0]);
    const action = r.handle(request([{ type: ATTR.RESPONSE_PORT, value }]), ASKER, { ip: 0, port: 0 });
    assert.ok(action.kind === 'reply');
    assert.deepEqual(action.to, { address: ASKER.address, port: 0xee48 });
  });

  it('answers 420 when it cannot change address, and for unknown comprehension-required attributes', () => {
    const r = new StunResponder({ addresses: [[ME, MY_ALT]] }, 'test');
    for (const attributes of [[{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest({ changeIp: true, changePort: false }) }], [{ type: 0x0042, value: Buffer.alloc(4) }]]) {
      const action = r.handle(request(attributes), ASKER, { ip: 0, port: 0 });
      assert.ok(action.kind === 'reply');
      const m = decoded(action.bytes);
      assert.equal(m.klass, 'error');
      assert.equal(decodeErrorCode(attribute(m, ATTR.ERROR_CODE)!)?.code, 420);
    }
  });

  it('drops what is not a request it should answer', () => {
    const r = new StunResponder({ addresses: [[ME]] }, 'test');
    assert.deepEqual(r.handle(Buffer.from('0001000c2112a442' + '00'.repeat(12) + '0020', 'hex'), ASKER, { ip: 0, port: 0 }), { kind: 'drop', reason: 'malformed' });
    const success = serializeStun({ method: BINDING, klass: 'success', transactionId: randomBytes(12), attributes: [] });
    assert.deepEqual(r.handle(success, ASKER, { ip: 0, port: 0 }), { kind: 'drop', reason: 'response-we-did-not-ask-for' });
    const allocate = serializeStun({ method: 0x003, klass: 'request', transactionId: randomBytes(12), attributes: [] });
    assert.deepEqual(r.handle(allocate, ASKER, { ip: 0, port: 0 }), { kind: 'drop', reason: 'not-a-binding-request' });
  });
});

describe('STUN client', () => {
  it('sends again after 250, 500 ms, then gives up; an answer from the wrong address is not believed', async () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    let last: Buffer | undefined;
    const client = new StunClient({ timers: clock, now: () => clock.now, send: (bytes) => (sent.push(clock.now), (last = bytes)) });
    const outcome = client.binding(ME);
    const id = decoded(last!).transactionId;
    const answer = serializeStun({ method: BINDING, klass: 'success', transactionId: id, attributes: [{ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress({ address: '6.6.6.6', port: 1 }, id) }] });
    assert.equal(client.accept(answer, { address: '203.0.113.99', port: 5060 }), false, 'a forged answer from elsewhere');
    assert.equal(client.counters.forgedAnswers, 1);
    clock.advance(250);
    clock.advance(500);
    clock.advance(1000);
    assert.deepEqual(sent, [0, 250, 750]);
    assert.deepEqual(await outcome, { ok: false, reason: 'timeout' });
    assert.equal(client.accept(answer, ME), false, 'too late: nothing waits for it');
  });
});
