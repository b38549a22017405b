import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeBuddyMessage, parseBuddyMessage, type BuddyMessage } from '../../../native/wire/presence/buddy-message.js';

const KEY = 'A'.repeat(43);
const request: BuddyMessage = { v: 1, type: 'request', from: 'sip:alice@peerdial', to: 'sip:bob@peerdial', displayName: 'Alice', note: 'from the choir', publicKey: KEY, at: 1_764_000_000_000 };

describe('buddy messages', () => {
  it('round-trip every type', () => {
    for (const type of ['request', 'accept', 'decline', 'remove'] as const) {
      assert.deepEqual(parseBuddyMessage(encodeBuddyMessage({ ...request, type })), { ...request, type });
    }
  });

  it('say what is wrong with a bad one', () => {
    const bad = (patch: Record<string, unknown>) => parseBuddyMessage(JSON.stringify({ ...request, ...patch }));
    assert.equal(parseBuddyMessage('hello'), 'not JSON');
    assert.equal(parseBuddyMessage('[]'), 'unknown version');
    assert.equal(bad({ v: 2 }), 'unknown version');
    assert.equal(bad({ type: 'befriend' }), 'unknown type');
    assert.equal(bad({ from: 'alice' }), 'bad from');
    assert.equal(bad({ to: 'sip:bob' }), 'bad to');
    assert.equal(bad({ publicKey: 'x' }), 'bad public key');
    assert.equal(bad({ at: -1 }), 'bad time');
    assert.equal(bad({ note: 'n'.repeat(281) }), 'bad note');
    assert.equal(bad({ displayName: 7 }), 'bad display name');
    assert.equal(parseBuddyMessage(' '.repeat(5000)), 'too large');
  });

  it('keep only the fields they define', () => {
    const parsed = parseBuddyMessage(JSON.stringify({ ...request, admin: true }));
    assert.equal(typeof parsed === 'object' && 'admin' in parsed, false);
  });
});
