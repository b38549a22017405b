import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../native/log.js';
import { refreshDelayMs, retryDelayMs } from '../../../native/proto/sip/subscription-timing.js';
import { EventSubscriber, type NotifyVerdict } from '../../../native/services/sip/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeStack, incoming, ok, settle, status } from './fake-stack.js';

function subscriber(options: { targets?: string[][]; verdict?: NotifyVerdict } = {}) {
  const clock = new FakeClock();
  const stack = new FakeStack();
  const lookups: Array<{ key: string; skip?: string }> = [];
  const events: string[] = [];
  const targetLists = options.targets ?? [['sip:peer@192.0.2.2:5060']];
  const sub = new EventSubscriber({
    stack: stack.asStack(),
    timers: clock,
    log: createLogger('test', 'error'),
    event: 'test-event',
    accept: 'application/test',
    expires: 120,
    ownUri: () => 'sip:me@example',
    ownContact: () => 'sip:me@192.0.2.1:5060',
    targets: async ({ key, skip }) => {
      lookups.push({ key, skip });
      return (targetLists[Math.min(lookups.length - 1, targetLists.length - 1)] ?? []).filter((t) => t !== skip);
    },
    onNotify: async (key, _request, terminated) => {
      events.push(`notify ${key}${terminated ? ' terminated' : ''}`);
      return options.verdict ?? { status: 200 };
    },
    onActive: (key) => events.push(`active ${key}`),
    onUnreachable: (key) => events.push(`unreachable ${key}`),
    onTerminated: (key, again) => events.push(`terminated ${key} ${again ? 'again' : 'later'}`),
  });
  sub.start();
  return { clock, stack, sub, lookups, events };
}

function notifyFor(callId: string, state: string) {
  return incoming('NOTIFY', {
    'call-id': callId,
    'subscription-state': state,
    from: { uri: 'sip:peer@x', params: { tag: 'remote' } },
    to: { uri: 'sip:me@x', params: { tag: 'local' } },
  });
}

describe('RFC 6665 subscriber', () => {
  it('subscribes with the event package and refreshes within the dialog at half the granted duration', async () => {
    const { clock, stack, sub, events } = subscriber();
    sub.subscribe('bob', 'sip:bob@example');
    const first = await stack.nth(0);
    assert.equal(first.request.method, 'SUBSCRIBE');
    assert.equal(first.request.requestUri, 'sip:peer@192.0.2.2:5060');
    assert.deepEqual([first.request.headers?.event, first.request.headers?.accept, first.request.headers?.expires], ['test-event', 'application/test', 120]);
    assert.equal(first.request.dialog, undefined);
    first.answer(ok({ expires: 60 }));
    await settle();
    assert.deepEqual(events, ['active bob']);
    clock.advance(refreshDelayMs(60) - 1);
    assert.equal(stack.sent.length, 1, 'no refresh before half the granted 60 s');
    clock.advance(1);
    const refresh = await stack.nth(1);
    assert.equal(refresh.request.callId, first.request.callId);
    assert.deepEqual(refresh.request.dialog, { callId: first.request.callId, localTag: 'local', remoteTag: 'remote', cseq: 2, routeSet: [] });
  });

  it('sets the subscription up again after a fresh lookup when a refresh gets 481', async () => {
    const { clock, stack, sub, lookups } = subscriber();
    sub.subscribe('bob', 'sip:bob@example');
    (await stack.nth(0)).answer(ok());
    await settle();
    clock.advance(refreshDelayMs(120));
    (await stack.nth(1)).answer(status(481));
    const again = await stack.nth(2);
    assert.equal(lookups.length, 2);
    assert.equal(lookups[1].skip, undefined, 'a node that answered 481 restarted: it is tried again');
    assert.notEqual(again.request.callId, stack.sent[0].request.callId, 'a new dialog');
    assert.equal(again.request.dialog, undefined);
  });

  it('does not try at once again a target that did not answer a refresh', async () => {
    const { clock, stack, sub, lookups } = subscriber({ targets: [['sip:a@192.0.2.2'], ['sip:a@192.0.2.2', 'sip:b@192.0.2.3']] });
    sub.subscribe('bob', 'sip:bob@example');
    (await stack.nth(0)).answer(ok());
    await settle();
    clock.advance(refreshDelayMs(120));
    (await stack.nth(1)).answer({ kind: 'timeout' });
    const again = await stack.nth(2);
    assert.equal(lookups[1].skip, 'sip:a@192.0.2.2');
    assert.equal(again.request.requestUri, 'sip:b@192.0.2.3');
  });

  it('says the peer is unreachable when every target fails, and tries again after the back-off', async () => {
    const { clock, stack, sub, events } = subscriber({ targets: [['sip:a@192.0.2.2', 'sip:b@192.0.2.3']] });
    sub.subscribe('bob', 'sip:bob@example');
    (await stack.nth(0)).answer(status(404));
    (await stack.nth(1)).answer({ kind: 'timeout' });
    await settle();
    assert.deepEqual(events, ['unreachable bob']);
    assert.equal(sub.dialogOf('bob'), undefined);
    clock.advance(retryDelayMs(120, 1) - 1);
    assert.equal(stack.sent.length, 2);
    clock.advance(1);
    await stack.nth(2);
  });

  it('unsubscribes with Expires: 0 and answers the final NOTIFY without reading it', async () => {
    const { stack, sub, events } = subscriber();
    sub.subscribe('bob', 'sip:bob@example');
    (await stack.nth(0)).answer(ok());
    await settle();
    sub.unsubscribe('bob');
    const bye = await stack.nth(1);
    assert.equal(bye.request.headers?.expires, 0);
    const final = notifyFor(bye.request.callId!, 'terminated;reason=timeout');
    await sub.onNotify(final);
    assert.deepEqual(final.answered.map((a) => a.status), [200]);
    assert.deepEqual(events, ['active bob'], 'the package never sees it');
    const late = notifyFor(bye.request.callId!, 'active');
    await sub.onNotify(late);
    assert.deepEqual(late.answered.map((a) => a.status), [481], 'after the final NOTIFY the dialog is gone');
  });

  it('after "terminated;reason=timeout" subscribes again at once; after "noresource" says so and waits', async () => {
    const { clock, stack, sub, events } = subscriber();
    sub.subscribe('bob', 'sip:bob@example');
    (await stack.nth(0)).answer(ok());
    await settle();
    await sub.onNotify(notifyFor(stack.sent[0].request.callId!, 'terminated;reason=timeout'));
    clock.advance(0);
    const again = await stack.nth(1);
    again.answer(ok());
    await settle();
    const ended = notifyFor(again.request.callId!, 'terminated;reason=noresource');
    await sub.onNotify(ended);
    assert.deepEqual(ended.answered.map((a) => a.status), [200]);
    assert.deepEqual(events.slice(-2), ['notify bob terminated', 'terminated bob later']);
    clock.advance(retryDelayMs(120, 1) - 1);
    assert.equal(stack.sent.length, 2);
    clock.advance(1);
    await stack.nth(2);
  });

  it('answers 481 to a NOTIFY of no subscription, and a forged one changes nothing', async () => {
    const { stack, sub } = subscriber({ verdict: { status: 403, reason: 'Forbidden', forged: true } });
    const stray = notifyFor('unknown', 'active');
    await sub.onNotify(stray);
    assert.deepEqual(stray.answered.map((a) => a.status), [481]);
    sub.subscribe('bob', 'sip:bob@example');
    const first = await stack.nth(0);
    const forged = incoming('NOTIFY', { 'call-id': first.request.callId, 'subscription-state': 'terminated;reason=noresource', from: { uri: 'sip:x@x', params: { tag: 'evil' } }, to: { uri: 'sip:me@x', params: {} } });
    await sub.onNotify(forged);
    assert.deepEqual(forged.answered.map((a) => a.status), [403]);
    first.answer(ok());
    await settle();
    assert.equal(sub.dialogOf('bob')?.remoteTag, 'remote', "the forged NOTIFY's tag was not taken");
  });
});
