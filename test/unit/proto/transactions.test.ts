import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NonInviteClientTransaction, type ClientOutcome } from '../../../native/proto/sip/non-invite-client-transaction.js';
import { TransactionLayer } from '../../../native/proto/sip/transaction-layer.js';
import { parseSipMessage, type SipRequest, type SipResponse } from '../../../native/wire/sip/message.js';
import { FakeClock } from '../../support/fake-clock.js';

function request(branch = 'z9hG4bKabc', method = 'MESSAGE'): SipRequest {
  const text =
    `${method} sip:bob@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=${branch}\r\nMax-Forwards: 70\r\n` +
    `To: <sip:bob@127.0.0.1:5062>\r\nFrom: <sip:alice@127.0.0.1:5061>;tag=a1\r\nCall-ID: c1@127.0.0.1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseSipMessage(Buffer.from(text));
  assert.equal(parsed.kind, 'request');
  return (parsed as { message: SipRequest }).message;
}

function response(status: number, branch = 'z9hG4bKabc'): SipResponse {
  const text =
    `SIP/2.0 ${status} Whatever\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=${branch}\r\nTo: <sip:bob@127.0.0.1:5062>;tag=b1\r\n` +
    `From: <sip:alice@127.0.0.1:5061>;tag=a1\r\nCall-ID: c1@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseSipMessage(Buffer.from(text));
  assert.equal(parsed.kind, 'response');
  return (parsed as { message: SipResponse }).message;
}

function client(reliable = false) {
  const clock = new FakeClock();
  const sends: number[] = [];
  const outcomes: ClientOutcome[] = [];
  let terminated = false;
  const tx = new NonInviteClientTransaction('id', Buffer.from('x'), reliable, clock, () => sends.push(clock.now), (o) => outcomes.push(o), () => (terminated = true));
  tx.start();
  return { clock, sends, outcomes, tx, isTerminated: () => terminated };
}

describe('non-INVITE client transaction (RFC 3261 17.1.2)', () => {
  it('retransmits over UDP at T1 doubling up to T2, then times out at 64*T1', () => {
    const { clock, sends, outcomes, isTerminated } = client();
    clock.advance(40_000);
    assert.deepEqual(sends.slice(0, 8), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500]);
    assert.equal(sends.at(-1)! < 32_000, true);
    assert.deepEqual(outcomes, [{ kind: 'timeout' }]);
    assert.equal(isTerminated(), true);
  });

  it('never retransmits over a reliable transport, but still times out', () => {
    const { clock, sends, outcomes } = client(true);
    clock.advance(40_000);
    assert.deepEqual(sends, [0]);
    assert.equal(outcomes[0].kind, 'timeout');
  });

  it('after a provisional response retransmits every T2', () => {
    const { clock, sends, tx, outcomes } = client();
    clock.advance(600); // one retransmission at 500
    tx.receive(response(100));
    clock.advance(9_000);
    assert.deepEqual(sends, [0, 500, 4600, 8600]);
    assert.equal(outcomes[0].kind, 'provisional');
  });

  it('reports the final response once, stops retransmitting, and absorbs repeats for T4', () => {
    const { clock, sends, tx, outcomes, isTerminated } = client();
    tx.receive(response(200));
    tx.receive(response(200));
    clock.advance(4_999);
    assert.equal(isTerminated(), false);
    clock.advance(1);
    assert.equal(isTerminated(), true);
    assert.deepEqual(sends, [0]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['final']);
  });

  it('reports a transport error and ends', () => {
    const { tx, outcomes, isTerminated, clock } = client();
    tx.transportError(new Error('ECONNREFUSED'));
    assert.equal(outcomes[0].kind, 'transport-error');
    assert.equal(isTerminated(), true);
    assert.equal(clock.pending, 0);
  });
});

describe('transaction layer', () => {
  it('matches a response to its client transaction by branch and CSeq method', () => {
    const clock = new FakeClock();
    const layer = new TransactionLayer({ timers: clock });
    const outcomes: ClientOutcome[] = [];
    layer.startClient(request(), Buffer.from('x'), false, () => undefined, (o) => outcomes.push(o));
    assert.equal(layer.matchResponse(response(200, 'z9hG4bKother')), undefined);
    layer.matchResponse(response(200))!.receive(response(200));
    assert.equal(outcomes[0].kind, 'final');
  });

  it('answers a retransmitted request with the same response, and forgets it after Timer J', () => {
    const clock = new FakeClock();
    const layer = new TransactionLayer({ timers: clock });
    const sent: string[] = [];
    const first = layer.matchRequest(request(), false, (b) => sent.push(b.toString()));
    assert.equal(first.kind, 'new');
    if (first.kind === 'new') first.transaction.respond(Buffer.from('200'), 200);
    assert.equal(layer.matchRequest(request(), false, () => assert.fail('a retransmission must use the first transaction')).kind, 'retransmission');
    assert.deepEqual(sent, ['200', '200']);
    clock.advance(32_000);
    assert.equal(layer.size.servers, 0);
    assert.equal(layer.matchRequest(request(), false, () => undefined).kind, 'new');
  });

  it('keeps at most maxServerTransactions, letting the oldest completed ones go first', () => {
    const clock = new FakeClock();
    const layer = new TransactionLayer({ timers: clock, maxServerTransactions: 100 });
    for (let i = 0; i < 1_000; i++) {
      const m = layer.matchRequest(request(`z9hG4bK${i}`), false, () => undefined);
      assert.equal(m.kind, 'new');
      if (m.kind === 'new') m.transaction.respond(Buffer.from('200'), 200);
    }
    assert.ok(layer.size.servers <= 100);
    assert.ok(layer.evicted >= 900);
  });

  it('refuses new requests when every kept transaction is still waiting for its answer', () => {
    const clock = new FakeClock();
    const layer = new TransactionLayer({ timers: clock, maxServerTransactions: 10 });
    for (let i = 0; i < 10; i++) assert.equal(layer.matchRequest(request(`z9hG4bK${i}`), false, () => undefined).kind, 'new');
    assert.equal(layer.matchRequest(request('z9hG4bKmore'), false, () => undefined).kind, 'overloaded');
  });
});
