// Strangers, between real engines in one ring: a stranger's message waits in Requests and learns
// nothing (no read receipt) until accepted; a blocked identity's messages and calls are refused
// without telling it; the caller policy for strangers (ask, reject).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageView, StreamItem } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { CallEvents } from '../support/calls.js';
import { EngineHarness } from '../support/engines.js';
import { until } from '../support/poll.js';

const BOB = 'sip:bob@peerdial';
const CAROL = 'sip:carol@peerdial';

/** Resolves with the first event of `type` for which `match` holds, from now on. */
function nextEvent<T>(engine: Engine, type: string, match: (data: T) => boolean, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${type} event`));
    }, timeoutMs);
    const stop = engine.api.subscribe({ epoch: engine.api.events.epoch, seq: engine.api.events.lastSeq }, (item: StreamItem) => {
      if (item.type !== type || !('data' in item) || !match(item.data as T)) return;
      clearTimeout(timer);
      stop();
      resolve(item.data as T);
    });
  });
}

async function settled(engine: Engine, id: number): Promise<MessageView> {
  return until(`message ${id} settled`, async () => {
    const m = (await engine.api.invoke('im.history', { peer: BOB })).find((x) => x.id === id);
    return m && m.status !== 'sending' ? m : undefined;
  });
}

describe('strangers', () => {
  const harness = new EngineHarness();
  let bob: Engine;
  let carol: Engine;
  before(async () => {
    [bob, carol] = await harness.pair('bob', 'carol');
  });
  after(() => harness.stopAll());

  it('a stranger\'s first message waits in Requests, gets no read receipt, and moves to conversations on accept', async () => {
    const arrived = nextEvent<MessageView>(bob, 'message.added', (m) => m.text === 'hi bob, we met at the conference');
    const listed = nextEvent<unknown[]>(bob, 'requests.changed', (list) => list.length === 1);
    const sent = await carol.api.invoke('im.send', { to: 'bob', text: 'hi bob, we met at the conference' });
    assert.equal((await arrived).request, true);
    await listed;
    assert.equal((await settled(carol, sent.id)).status, 'delivered');
    const [request] = await bob.api.invoke('requests.list', {});
    assert.equal(request.peer, CAROL);
    assert.equal(request.messageCount, 1);
    assert.equal(request.lastMessage.text, 'hi bob, we met at the conference');
    assert.ok(!(await bob.api.invoke('im.conversations', {})).some((c) => c.peer === CAROL), 'not among the conversations');
    // Reading it while it is a request tells carol nothing.
    await bob.api.invoke('im.markRead', { peer: CAROL });
    // Her second message joins the request; bob's stranger's presence stays hidden (no buddy).
    const second = await carol.api.invoke('im.send', { to: 'bob', text: 'are you there?' });
    assert.equal((await settled(carol, second.id)).status, 'delivered');
    assert.equal((await bob.api.invoke('requests.list', {}))[0].messageCount, 2);
    assert.equal((await carol.api.invoke('im.history', { peer: BOB })).find((m) => m.id === sent.id)?.status, 'delivered', 'no read receipt while a request');
    assert.equal((await carol.api.invoke('buddy.list', {})).length, 0);

    await bob.api.invoke('requests.accept', { peer: CAROL });
    assert.deepEqual(await bob.api.invoke('requests.list', {}), []);
    const conversation = (await bob.api.invoke('im.conversations', {})).find((c) => c.peer === CAROL);
    assert.equal(conversation?.messageCount, 2);
    const read = nextEvent<MessageView>(carol, 'message.updated', (m) => m.id === second.id && m.status === 'read');
    await bob.api.invoke('im.markRead', { peer: CAROL });
    await read;
    // Accepted: her next message goes straight to the conversation.
    const third = nextEvent<MessageView>(bob, 'message.added', (m) => m.text === 'thanks');
    await carol.api.invoke('im.send', { to: 'bob', text: 'thanks' });
    assert.equal((await third).request, undefined);
  });

  it('blocking refuses a stranger\'s messages (she reads "sent", never "delivered") and declines her calls', async () => {
    await bob.api.invoke('block.add', { aor: CAROL });
    assert.deepEqual(await bob.api.invoke('block.list', {}), [{ aor: CAROL }]);
    const sent = await carol.api.invoke('im.send', { to: 'bob', text: 'let me in' });
    assert.equal((await settled(carol, sent.id)).status, 'sent', '202: accepted, not known delivered');
    assert.ok(!(await bob.api.invoke('im.history', { peer: CAROL })).some((m) => m.text === 'let me in'));
    assert.deepEqual(await bob.api.invoke('requests.list', {}), []);

    const bobCalls = new CallEvents(bob);
    const carolCalls = new CallEvents(carol);
    const dialled = await carol.api.invoke('call.dial', { to: 'bob' });
    const ended = await carolCalls.waitFor('the declined call', (v) => v.id === dialled.id && v.state === 'ended');
    assert.equal(ended.endReason, 'declined');
    assert.equal(bobCalls.seen.length, 0, 'nothing rang at bob');
    bobCalls.close();
    carolCalls.close();
    const counted = (await bob.api.invoke('node.status', {})).strangers!;
    assert.equal(counted.blockedMessages, 1);
    assert.equal(counted.callsRejected, 1);

    await bob.api.invoke('block.remove', { aor: CAROL });
    assert.deepEqual(await bob.api.invoke('block.list', {}), []);
  });

  it('caller policy for strangers: reject declines at once, ask shows a silent call request', async () => {
    const bobCalls = new CallEvents(bob);
    const carolCalls = new CallEvents(carol);
    assert.equal((await bob.api.invoke('strangers.settings', {})).strangerCalls, 'ring');
    await bob.api.invoke('strangers.configure', { strangerCalls: 'reject' });
    const rejected = await carol.api.invoke('call.dial', { to: 'bob' });
    assert.equal((await carolCalls.waitFor('the rejected call', (v) => v.id === rejected.id && v.state === 'ended')).endReason, 'declined');
    assert.equal(bobCalls.seen.length, 0, 'nothing rang at bob');

    await bob.api.invoke('strangers.configure', { strangerCalls: 'ask' });
    const asked = await carol.api.invoke('call.dial', { to: 'bob' });
    const atBob = await bobCalls.waitFor('the call request', (v) => v.state === 'incoming');
    assert.equal(atBob.request, true);
    await carolCalls.waitFor('ringing at carol', (v) => v.id === asked.id && v.state === 'ringing');
    await bob.api.invoke('call.answer', { id: atBob.id });
    await carolCalls.waitFor('answered', (v) => v.id === asked.id && v.state === 'active');
    await carol.api.invoke('call.hangup', { id: asked.id });
    await bobCalls.waitFor('ended at bob', (v) => v.id === atBob.id && v.state === 'ended');
    await bob.api.invoke('strangers.configure', { strangerCalls: 'ring' });
    await assert.rejects(bob.api.invoke('strangers.configure', { strangerCalls: 'maybe' as 'ring' }), { code: 'INVALID_ARGUMENT' });
    bobCalls.close();
    carolCalls.close();
  });
});
