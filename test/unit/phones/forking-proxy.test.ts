import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardedRequest, IncomingRequest, RequestOutcome, SipStack } from '../../../native/services/sip/index.js';
import { ForkingProxy } from '../../../native/services/phones/forking-proxy.js';
import type { SipRequest, SipResponse } from '../../../native/wire/sip/message.js';
import type { Remote } from '../../../native/transport/sip-sockets.js';

interface Branch {
  request: SipRequest;
  remote: Remote;
  respond(status: number): void;
  finish(outcome: RequestOutcome): void;
  cancelled: boolean;
}

/** A stack whose forwarded requests the test answers by hand. */
function fakeStack(): { stack: SipStack; branches: Branch[] } {
  const branches: Branch[] = [];
  const stack = {
    forward(request: SipRequest, remote: Remote, onResponse: (r: SipResponse) => void): ForwardedRequest {
      let finish: (o: RequestOutcome) => void = () => {};
      const outcome = new Promise<RequestOutcome>((r) => (finish = r));
      const branch: Branch = {
        request,
        remote,
        cancelled: false,
        respond(status) {
          const response = { status, reason: `R${status}`, version: '2.0', headers: { via: [{ host: 'us' }, ...request.headers.via] }, content: '' } as unknown as SipResponse;
          onResponse(response);
          if (status >= 200) finish({ kind: 'final', response });
        },
        finish: (o) => finish(o),
      };
      branches.push(branch);
      return { request, remote, outcome, cancel: () => (branch.cancelled = true) };
    },
  } as unknown as SipStack;
  return { stack, branches };
}

function incoming(method = 'INVITE'): IncomingRequest & { answers: Array<{ status: number; relayed: boolean }> } {
  const answers: Array<{ status: number; relayed: boolean }> = [];
  return {
    request: { method, uri: 'sip:bob@peerdial', version: '2.0', headers: { via: [{ host: 'caller', params: {} }], 'max-forwards': 70 }, content: '' } as unknown as SipRequest,
    remote: { protocol: 'udp', address: '192.0.2.1', port: 5060 },
    toTag: 't',
    respond: (status) => answers.push({ status, relayed: false }),
    relay: (response) => answers.push({ status: response.status, relayed: true }),
    discard: () => undefined,
    answers,
  };
}

const target = (n: number, alternates: Remote[] = []) => ({ uri: `sip:bob@10.0.0.${n}`, remote: { protocol: 'udp' as const, address: `10.0.0.${n}`, port: 5060 }, alternates, recordRoute: [] });
const tick = () => new Promise((r) => setImmediate(r));

describe('the forking proxy (RFC 3261 16.7)', () => {
  it('sends to every target at once; the first 2xx goes upstream and cancels the others', async () => {
    const { stack, branches } = fakeStack();
    const counters = { proxied: 0, branches: 0 };
    const request = incoming();
    new ForkingProxy({ stack, counters }).fork(request, [target(1), target(2)], 69);
    assert.equal(branches.length, 2);
    assert.equal(branches[0].request.uri, 'sip:bob@10.0.0.1');
    assert.equal(branches[1].request.headers['max-forwards'], 69);
    branches[0].respond(180);
    branches[1].respond(200);
    await tick();
    assert.deepEqual(request.answers, [{ status: 180, relayed: true }, { status: 200, relayed: true }]);
    assert.equal(branches[0].cancelled, true);
    branches[1].respond(200);
    assert.equal(request.answers.length, 3, 'a retransmitted 2xx goes upstream too');
    assert.deepEqual(counters, { proxied: 1, branches: 2 });
  });

  it('when every branch fails, the best answer goes upstream once: a busy device over a timeout', async () => {
    const { stack, branches } = fakeStack();
    const request = incoming();
    new ForkingProxy({ stack, counters: { proxied: 0, branches: 0 } }).fork(request, [target(1), target(2)], 69);
    branches[0].finish({ kind: 'timeout' });
    await tick();
    assert.deepEqual(request.answers, []);
    branches[1].respond(486);
    await tick();
    assert.deepEqual(request.answers, [{ status: 486, relayed: true }]);
  });

  it('a 503 or a dead target moves the branch to the next address DNS gave (RFC 3263 4.3)', async () => {
    const { stack, branches } = fakeStack();
    const request = incoming('MESSAGE');
    new ForkingProxy({ stack, counters: { proxied: 0, branches: 0 } }).fork(request, [target(1, [{ protocol: 'udp', address: '10.0.0.8', port: 5060 }, { protocol: 'tcp', address: '10.0.0.9', port: 5060 }])], 69);
    branches[0].respond(503);
    await tick();
    assert.equal(branches[1].remote.address, '10.0.0.8');
    branches[1].finish({ kind: 'transport-error', error: new Error('refused') });
    await tick();
    await tick();
    assert.equal(branches[2].remote.address, '10.0.0.9');
    branches[2].respond(200);
    await tick();
    assert.deepEqual(request.answers, [{ status: 200, relayed: true }]);
  });

  it('no target: 480; a 503 from the last target goes upstream as 500', async () => {
    const none = incoming();
    new ForkingProxy({ stack: fakeStack().stack, counters: { proxied: 0, branches: 0 } }).fork(none, [], 69);
    assert.equal(none.answers[0].status, 480);
    const { stack, branches } = fakeStack();
    const request = incoming();
    new ForkingProxy({ stack, counters: { proxied: 0, branches: 0 } }).fork(request, [target(1)], 69);
    branches[0].respond(503);
    await tick();
    assert.deepEqual(request.answers, [{ status: 500, relayed: false }]);
  });
});
