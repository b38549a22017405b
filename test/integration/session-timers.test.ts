// RFC 4028 session timers, against a bare UDP phone that this test drives: a call whose peer
// stops refreshing ends as "connection lost" even when no media would show it (the phone sends
// no RTP at all), the node refreshes when it is the refresher, and it answers an interval below
// its minimum with 422. The engine's intervals are shortened to seconds for the test.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { BarePhone } from '../support/bare-phone.js';
import { EngineHarness } from '../support/engines.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

describe('session timers (RFC 4028)', () => {
  let node: Engine;
  let phone: BarePhone;
  const calls = new Map<string, CallView>();

  before(async () => {
    node = await engines.start('nora', { sessionExpiresS: 4, minSessionExpiresS: 2, autoAnswer: true });
    node.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') calls.set(item.data.id, item.data as CallView);
    });
  });
  afterEach(() => phone?.close());

  it('a phone that calls with Session-Expires and then never refreshes: the node ends the call once the interval runs out', async () => {
    phone = await BarePhone.open();
    phone.invite(node, ['Supported: timer', 'Require: timer', 'Session-Expires: 3;refresher=uac']);
    const answered = await until('the 200 to the phone', async () => phone.seen.find((m) => m.start.startsWith('SIP/2.0 200')));
    assert.equal(answered.header('Session-Expires'), '3;refresher=uac', 'the phone refreshes, as it asked');
    assert.equal(answered.header('Require'), 'timer');
    const startedAt = Date.now();
    const ended = await until('the call ends', async () => [...calls.values()].find((c) => c.peer.includes('deskphone') && c.state === 'ended'), 10_000);
    const after = (Date.now() - startedAt) / 1000;
    assert.equal(ended.endReason, 'connection-lost');
    assert.match(ended.endMessage ?? '', /no session refresh/);
    // RFC 4028 10: the interval less a third of it (or 32 s): 2 s of the 3.
    assert.ok(after > 1.5 && after < 4, `ended after ${after.toFixed(1)} s`);
    await until('the BYE at the phone', async () => phone.seen.find((m) => m.start.startsWith('BYE ')));
    calls.clear();
  });

  it('as the refresher, the node sends a re-INVITE every half interval, and the call goes on', async () => {
    phone = await BarePhone.open();
    phone.answeredExpires = '4;refresher=uac';
    const { id } = await node.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
    const invite = await until('the INVITE', async () => phone.seen.find((m) => m.start.startsWith('INVITE ') && !/;tag=/.test(m.header('To') ?? '')));
    assert.match(invite.header('Supported') ?? '', /timer/);
    assert.equal(invite.header('Session-Expires'), '4');
    const refreshes = await until('two refreshes', async () => {
      const reinvites = phone.seen.filter((m) => m.start.startsWith('INVITE ') && /;tag=/.test(m.header('To') ?? ''));
      return reinvites.length >= 2 ? reinvites : undefined;
    }, 10_000);
    assert.equal(refreshes[0].header('Session-Expires'), '4;refresher=uac');
    assert.equal(calls.get(id)?.state, 'active', 'refreshed calls go on');
    await node.api.invoke('call.hangup', { id });
    calls.clear();
  });

  it('as the refresher, a refresh the phone no longer knows (481) ends the call', async () => {
    phone = await BarePhone.open();
    phone.answeredExpires = '2;refresher=uac';
    const { id } = await node.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
    await until('the call is up', async () => (calls.get(id)?.state === 'active' ? true : undefined));
    phone.reinviteStatus = 481;
    const ended = await until('the call ends', async () => (calls.get(id)?.state === 'ended' ? calls.get(id) : undefined), 5_000);
    assert.equal(ended!.endReason, 'connection-lost');
    assert.match(ended!.endMessage ?? '', /481/);
    calls.clear();
  });

  it('an interval below the minimum gets 422 with Min-SE', async () => {
    phone = await BarePhone.open();
    phone.invite(node, ['Supported: timer', 'Session-Expires: 1']);
    const refused = await until('the 422', async () => phone.seen.find((m) => m.start.startsWith('SIP/2.0 422')));
    assert.equal(refused.header('Min-SE'), '2');
  });
});
