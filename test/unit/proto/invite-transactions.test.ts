import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientOutcome } from '../../../native/proto/sip/non-invite-client-transaction.js';
import { InviteClientTransaction } from '../../../native/proto/sip/invite-client-transaction.js';
import { InviteServerTransaction } from '../../../native/proto/sip/invite-server-transaction.js';
import type { SipResponse } from '../../../native/wire/sip/message.js';
import { FakeClock } from '../../support/fake-clock.js';

const response = (status: number) => ({ status, reason: 'x', version: '2.0', headers: {} }) as unknown as SipResponse;

function client(reliable = false) {
  const clock = new FakeClock();
  const sent: Array<[number, string]> = [];
  const outcomes: ClientOutcome[] = [];
  let terminated = false;
  const tx = new InviteClientTransaction(
    'id',
    Buffer.from('INVITE'),
    reliable,
    clock,
    (b) => sent.push([clock.now, b.toString()]),
    (r) => Buffer.from(`ACK for ${r.status}`),
    (o) => outcomes.push(o),
    () => (terminated = true),
  );
  tx.start();
  return { clock, sent, outcomes, tx, isTerminated: () => terminated };
}

describe('INVITE client transaction (RFC 3261 17.1.1, RFC 6026)', () => {
  it('retransmits over UDP at T1 doubling without a cap, and times out at Timer B (32 s)', () => {
    const { clock, sent, outcomes, isTerminated } = client();
    clock.advance(40_000);
    assert.deepEqual(sent.map(([t]) => t), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.deepEqual(outcomes, [{ kind: 'timeout' }]);
    assert.equal(isTerminated(), true);
  });

  it('stops retransmitting on a provisional response and does not time out while ringing', () => {
    const { clock, sent, tx, outcomes } = client();
    clock.advance(600);
    tx.receive(response(180));
    clock.advance(120_000);
    assert.equal(sent.length, 2);
    assert.deepEqual(outcomes.map((o) => o.kind), ['provisional']);
    assert.equal(tx.state, 'proceeding');
  });

  it('acknowledges an error response itself, again for each retransmission, and ends after Timer D', () => {
    const { clock, sent, tx, outcomes, isTerminated } = client();
    tx.receive(response(486));
    tx.receive(response(486));
    assert.deepEqual(sent.map(([, b]) => b), ['INVITE', 'ACK for 486', 'ACK for 486']);
    assert.deepEqual(outcomes.map((o) => o.kind), ['final'], 'the TU hears of the error once');
    clock.advance(31_999);
    assert.equal(isTerminated(), false);
    clock.advance(1);
    assert.equal(isTerminated(), true);
  });

  it('passes every 2xx to the TU and sends no ACK for it (the dialog does), until Timer M', () => {
    const { clock, sent, tx, outcomes, isTerminated } = client();
    tx.receive(response(200));
    tx.receive(response(200));
    assert.deepEqual(outcomes.map((o) => o.kind), ['final', 'final']);
    assert.deepEqual(sent.map(([, b]) => b), ['INVITE']);
    clock.advance(32_000);
    assert.equal(isTerminated(), true);
  });

  it('over TCP never retransmits and ends at once after an error response', () => {
    const { clock, sent, tx, isTerminated } = client(true);
    clock.advance(10_000);
    tx.receive(response(404));
    assert.deepEqual(sent.map(([, b]) => b), ['INVITE', 'ACK for 404']);
    assert.equal(isTerminated(), true);
  });
});

function server(reliable = false) {
  const clock = new FakeClock();
  const sent: Array<[number, string]> = [];
  let ackTimedOut = false;
  let terminated = false;
  const tx = new InviteServerTransaction('id', reliable, clock, (b) => sent.push([clock.now, b.toString()]), () => (ackTimedOut = true), () => (terminated = true));
  return { clock, sent, tx, ackTimedOut: () => ackTimedOut, isTerminated: () => terminated };
}

describe('INVITE server transaction (RFC 3261 17.2.1, RFC 6026)', () => {
  it('answers a retransmitted INVITE with the latest provisional response', () => {
    const { sent, tx } = server();
    tx.respond(Buffer.from('100'), 100);
    tx.respond(Buffer.from('180'), 180);
    tx.receiveRetransmission();
    assert.deepEqual(sent.map(([, b]) => b), ['100', '180', '180']);
  });

  it('retransmits an error response at T1 doubling up to T2 until the ACK, then ends after Timer I', () => {
    const { clock, sent, tx, isTerminated } = server();
    tx.respond(Buffer.from('486'), 486);
    clock.advance(9_000);
    assert.deepEqual(sent.map(([t]) => t), [0, 500, 1500, 3500, 7500]);
    tx.receiveAck();
    clock.advance(10_000);
    assert.equal(sent.length, 5, 'no retransmission after the ACK');
    assert.equal(tx.state, 'terminated');
    assert.equal(isTerminated(), true);
  });

  it('gives up after Timer H when the ACK never comes, and says so', () => {
    const { clock, tx, ackTimedOut, isTerminated } = server();
    tx.respond(Buffer.from('603'), 603);
    clock.advance(32_000);
    assert.equal(ackTimedOut(), true);
    assert.equal(isTerminated(), true);
  });

  it('after a 2xx absorbs retransmitted INVITEs (the dialog resends the 2xx) until Timer L', () => {
    const { clock, sent, tx, isTerminated } = server();
    tx.respond(Buffer.from('200'), 200);
    tx.receiveRetransmission();
    assert.deepEqual(sent.map(([, b]) => b), ['200']);
    assert.equal(tx.respond(Buffer.from('500'), 500), false, 'no second final response');
    clock.advance(32_000);
    assert.equal(isTerminated(), true);
  });
});
