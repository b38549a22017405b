import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../native/log.js';
import { EventNotifier } from '../../../native/services/sip/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeStack, incoming, ok, settle, status } from './fake-stack.js';

function notifier(options: { authorize?: boolean; maxSubscriptions?: number } = {}) {
  const clock = new FakeClock();
  const stack = new FakeStack();
  let body: string | undefined = 'state 1';
  const subscribed: Array<string | undefined> = [];
  const n = new EventNotifier({
    stack: stack.asStack(),
    timers: clock,
    log: createLogger('test', 'error'),
    event: 'test-event',
    contentType: 'application/test',
    accepts: /application\/test/,
    maxExpires: 600,
    maxSubscriptions: options.maxSubscriptions,
    ownContact: () => 'sip:me@192.0.2.1:5060',
    unavailable: () => (body === undefined ? { status: 404, reason: 'Not Found' } : undefined),
    ...(options.authorize ? { authorize: (request) => (request.headers.from.uri === 'sip:friend@x' ? { who: 'friend' } : { status: 403, reason: 'Forbidden' }) } : {}),
    document: () => (body === undefined ? {} : { body }),
    onSubscribed: (who) => subscribed.push(who),
  });
  return { clock, stack, n, subscribed, setBody: (b: string | undefined) => (body = b) };
}

function subscribe(headers: Record<string, unknown> = {}) {
  return incoming('SUBSCRIBE', {
    'call-id': 'c1',
    from: { uri: 'sip:friend@x', params: { tag: 'theirs' } },
    to: { uri: 'sip:me@x', params: {} },
    cseq: { seq: 1, method: 'SUBSCRIBE' },
    contact: [{ uri: 'sip:friend@192.0.2.5:5060', params: {} }],
    event: 'test-event',
    expires: 300,
    ...headers,
  });
}

describe('RFC 6665 notifier', () => {
  it('grants at most its longest duration, answers 200, and sends the current state by NOTIFY at once', async () => {
    const { stack, n, subscribed } = notifier({ authorize: true });
    const request = subscribe({ expires: 7200 });
    n.onSubscribe(request);
    assert.equal(request.answered[0].status, 200);
    assert.equal((request.answered[0].options as { headers: { expires: number } }).headers.expires, 600);
    const notify = await stack.nth(0);
    assert.equal(notify.request.method, 'NOTIFY');
    assert.equal(notify.request.requestUri, 'sip:friend@192.0.2.5:5060');
    assert.equal(notify.request.body, 'state 1');
    assert.equal(notify.request.headers?.event, 'test-event');
    assert.match(String(notify.request.headers?.['subscription-state']), /^active;expires=(599|600)$/);
    assert.deepEqual(notify.request.dialog, { callId: 'c1', localTag: 'our-tag', remoteTag: 'theirs', cseq: 1, routeSet: [] });
    assert.deepEqual(subscribed, ['friend']);
    assert.equal(n.count, 1);
  });

  it('ends a subscription that is not refreshed with a final NOTIFY when it expires', async () => {
    const { clock, stack, n } = notifier();
    n.onSubscribe(subscribe({ expires: 60 }));
    (await stack.nth(0)).answer(ok());
    clock.advance(60_000);
    const final = await stack.nth(1);
    assert.equal(final.request.headers?.['subscription-state'], 'terminated;reason=timeout');
    assert.equal(final.request.dialog?.cseq, 2);
    assert.equal(n.count, 0);
  });

  it('answers an unsubscription (Expires: 0) with a final NOTIFY and forgets it', async () => {
    const { stack, n } = notifier();
    n.onSubscribe(subscribe());
    (await stack.nth(0)).answer(ok());
    n.onSubscribe(subscribe({ expires: 0, to: { uri: 'sip:me@x', params: { tag: 'our-tag' } }, cseq: { seq: 2, method: 'SUBSCRIBE' } }));
    const final = await stack.nth(1);
    assert.equal(final.request.headers?.['subscription-state'], 'terminated;reason=timeout');
    assert.equal(n.count, 0);
  });

  it('drops a subscriber whose NOTIFY gets 481 or no answer', async () => {
    const { stack, n } = notifier();
    n.onSubscribe(subscribe());
    (await stack.nth(0)).answer(status(481));
    await settle();
    assert.equal(n.count, 0);
    n.onSubscribe(subscribe({ 'call-id': 'c2' }));
    (await stack.nth(1)).answer({ kind: 'timeout' });
    await settle();
    assert.equal(n.count, 0);
  });

  it('refuses a refresh of an unknown dialog (481), too brief a subscription (423), a stranger, and one past the limit (503)', async () => {
    const { n } = notifier({ authorize: true, maxSubscriptions: 1 });
    const stale = subscribe({ to: { uri: 'sip:me@x', params: { tag: 'not-ours' } } });
    n.onSubscribe(stale);
    assert.equal(stale.answered[0].status, 481);
    const brief = subscribe({ expires: 1 });
    n.onSubscribe(brief);
    assert.equal(brief.answered[0].status, 423);
    const stranger = subscribe({ from: { uri: 'sip:stranger@x', params: { tag: 's' } } });
    n.onSubscribe(stranger);
    assert.equal(stranger.answered[0].status, 403);
    n.onSubscribe(subscribe());
    const second = subscribe({ 'call-id': 'c2' });
    n.onSubscribe(second);
    assert.equal(second.answered[0].status, 503);
    const wrongType = subscribe({ 'call-id': 'c3', accept: 'text/plain' });
    n.onSubscribe(wrongType);
    assert.equal(wrongType.answered[0].status, 406);
  });

  it('terminates every subscription with the reason given, and sends the new state on a change', async () => {
    const { stack, n, setBody } = notifier();
    n.onSubscribe(subscribe());
    (await stack.nth(0)).answer(ok());
    setBody('state 2');
    void n.notifyAll();
    assert.equal((await stack.nth(1)).request.body, 'state 2');
    setBody(undefined);
    void n.terminate(undefined, 'noresource');
    const final = await stack.nth(2);
    assert.equal(final.request.headers?.['subscription-state'], 'terminated;reason=noresource');
    assert.equal(final.request.body, undefined, 'a withdrawn document: a final NOTIFY with no body');
    assert.equal(n.count, 0);
  });
});
