import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallView, StreamItem } from '../../../native/control/api.js';
import { IncomingCalls, incomingCallTitle } from '../../../electron/incoming-calls.js';
import { isCallAudioPermission } from '../../../electron/media-permission.js';

let seq = 0;
const changed = (data: CallView): StreamItem => ({ type: 'call.changed', seq: ++seq, epoch: 'e', data });
const call = (id: string, over: Partial<CallView> = {}): CallView => ({
  id,
  direction: 'in',
  peer: 'sip:bob@peerdial',
  state: 'incoming',
  hold: 'none',
  muted: false,
  startedAt: 0,
  dtmfReceived: '',
  ...over,
});

function follow() {
  const log: string[] = [];
  const calls = new IncomingCalls({ ringing: (c) => log.push(`ring ${c.id}`), stopped: (id) => log.push(`stop ${id}`) });
  return { calls, log };
}

describe('desktop notification of incoming calls', () => {
  it('notifies once when a call starts ringing, and takes it down when answered', () => {
    const { calls, log } = follow();
    calls.apply(changed(call('a')));
    calls.apply(changed(call('a', { peerName: 'Bob' }))); // an update while ringing: no second notification
    assert.deepEqual(calls.ringing.map((c) => incomingCallTitle(c)), ['Incoming call from Bob']);
    calls.apply(changed(call('a', { state: 'active' })));
    assert.deepEqual(log, ['ring a', 'stop a']);
    assert.deepEqual(calls.ringing, []);
  });

  it('never rings for our own outgoing calls', () => {
    const { calls, log } = follow();
    calls.apply(changed(call('b', { direction: 'out', state: 'ringing' })));
    calls.apply(changed(call('b', { direction: 'out', state: 'ended' })));
    assert.deepEqual(log, []);
  });

  it('after a reset, stops the calls that no longer ring and rings the new ones', () => {
    const { calls, log } = follow();
    calls.apply(changed(call('a')));
    assert.equal(calls.apply({ type: 'reset', epoch: 'new', seq: 0 }), 'reload');
    calls.fromList([call('c', { peerName: 'Carol' })]);
    assert.deepEqual(log, ['ring a', 'stop a', 'ring c']);
    calls.clear();
    assert.deepEqual(log.at(-1), 'stop c');
  });

  it('names the caller by address when no name came with the call', () => {
    assert.equal(incomingCallTitle({ peer: 'sip:dave@127.0.0.1:5070', peerName: '  ' }), 'Incoming call from sip:dave@127.0.0.1:5070');
  });
});

describe('window permissions for calls', () => {
  it('grants the microphone alone and the choice of speaker, nothing else', () => {
    assert.equal(isCallAudioPermission('media', ['audio']), true);
    assert.equal(isCallAudioPermission('media', ['audio', 'video']), false);
    assert.equal(isCallAudioPermission('media', ['video']), false);
    assert.equal(isCallAudioPermission('media', []), false);
    assert.equal(isCallAudioPermission('speaker-selection'), true);
    assert.equal(isCallAudioPermission('geolocation'), false);
    assert.equal(isCallAudioPermission('notifications'), false);
  });
});
