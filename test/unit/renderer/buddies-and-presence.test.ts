// What the buddy list and conversations decide on screen: names, presence words, "last seen",
// list order, the key-change warning, message status words, and when the UI tells the engine
// the user went idle or is typing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuddyView } from '../../../native/control/api.js';
import { IdleTracker } from '../../../renderer/src/lib/idle-tracker.js';
import { messageStatusLabel } from '../../../renderer/src/lib/message-status.js';
import {
  buddyForPeer,
  buddyListOrder,
  buddyName,
  buddyStatusLine,
  incomingRequests,
  keyChangeSentence,
  lastSeenText,
  presenceLabel,
} from '../../../renderer/src/lib/presence-format.js';
import type { Timers } from '../../../renderer/src/lib/timers.js';
import { TYPING_IDLE_MS, TYPING_REFRESH_MS, TypingNotifier } from '../../../renderer/src/lib/typing-notifier.js';
import { FakeClock } from '../../support/fake-clock.js';
import type { TimerHandle } from '../../../native/proto/sip/timers.js';

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 10, 25, 15, 0, 0);

const buddy = (over: Partial<BuddyView> & { aor: string }): BuddyView => ({
  state: 'accepted',
  presence: { status: 'available' },
  unread: 0,
  typing: false,
  verified: false,
  ...over,
});

function timersOf(clock: FakeClock): Timers {
  return { now: () => clock.now, set: (ms, fire) => clock.set(ms, fire), clear: (handle) => clock.clear(handle as TimerHandle) };
}

describe('buddies on screen', () => {
  it('names a buddy by display name, else by the user part of the AOR', () => {
    assert.equal(buddyName({ aor: 'sip:bob@peerdial', displayName: 'Bob Example' }), 'Bob Example');
    assert.equal(buddyName({ aor: 'sip:bob@peerdial' }), 'bob');
    assert.equal(buddyName({ aor: 'sip:bob@peerdial', displayName: '  ' }), 'bob');
  });

  it('says every presence in words, not colour alone', () => {
    assert.deepEqual(
      (['available', 'away', 'busy', 'offline'] as const).map(presenceLabel),
      ['Available', 'Away', 'Busy', 'Offline'],
    );
  });

  it('says how long ago an offline buddy was last seen', () => {
    assert.equal(lastSeenText(NOW - 20_000, NOW), 'last seen just now');
    assert.equal(lastSeenText(NOW - 5 * MINUTE - 10_000, NOW), 'last seen 5 min ago');
    assert.equal(lastSeenText(NOW - 3 * 60 * MINUTE, NOW), 'last seen 3 h ago');
    assert.equal(lastSeenText(NOW - 30 * 60 * MINUTE, NOW), 'last seen yesterday');
    assert.equal(lastSeenText(NOW - 4 * 24 * 60 * MINUTE, NOW), 'last seen 4 days ago');
    assert.match(lastSeenText(NOW - 40 * 24 * 60 * MINUTE, NOW), /^last seen on .*2026/);
    assert.equal(lastSeenText(undefined, NOW), 'not seen online yet');
    // A clock a little behind the engine's does not show "last seen in the future".
    assert.equal(lastSeenText(NOW + 5_000, NOW), 'last seen just now');
  });

  it('shows presence for buddies, "last seen" when offline, and where a request stands otherwise', () => {
    assert.equal(buddyStatusLine(buddy({ aor: 'sip:bob@peerdial', presence: { status: 'busy', note: 'in a meeting' } }), NOW), 'Busy');
    assert.equal(buddyStatusLine(buddy({ aor: 'sip:bob@peerdial', presence: { status: 'offline', lastSeen: NOW - 2 * MINUTE } }), NOW), 'Offline, last seen 2 min ago');
    assert.equal(buddyStatusLine(buddy({ aor: 'sip:bob@peerdial', state: 'requested' }), NOW), 'Request sent, waiting for them to accept');
    assert.equal(buddyStatusLine(buddy({ aor: 'sip:bob@peerdial', state: 'declined' }), NOW), 'Declined your request');
    assert.equal(buddyStatusLine(buddy({ aor: 'sip:bob@peerdial', state: 'blocked' }), NOW), 'Blocked');
  });

  it('lists who can talk now first, then waiting requests, then blocked; incoming requests go to the inbox', () => {
    const list = [
      buddy({ aor: 'sip:zed@p', state: 'blocked' }),
      buddy({ aor: 'sip:olga@p', presence: { status: 'offline' } }),
      buddy({ aor: 'sip:walt@p', state: 'requested', presence: { status: 'offline' } }),
      buddy({ aor: 'sip:ann@p', presence: { status: 'away' } }),
      buddy({ aor: 'sip:carl@p', presence: { status: 'available' } }),
      buddy({ aor: 'sip:bea@p', presence: { status: 'available' } }),
      buddy({ aor: 'sip:ivan@p', state: 'incoming' }),
    ];
    assert.deepEqual(buddyListOrder(list).map((b) => buddyName(b)), ['bea', 'carl', 'ann', 'olga', 'walt', 'zed']);
    assert.deepEqual(incomingRequests(list).map((b) => b.aor), ['sip:ivan@p']);
  });

  it('finds the buddy a conversation is with, whatever the case of the host', () => {
    const bob = buddy({ aor: 'sip:bob@peerdial' });
    assert.equal(buddyForPeer([bob], 'sip:bob@PeerDial'), bob);
    assert.equal(buddyForPeer([bob], 'sip:bob@127.0.0.1:5071'), undefined);
    assert.equal(buddyForPeer([bob], undefined), undefined);
  });

  it('spells out a changed key with both fingerprints, and says nothing while the key is trusted', () => {
    const changed = buddy({ aor: 'sip:bob@peerdial', fingerprint: 'AAAA BBBB', keyChanged: { fingerprint: 'CCCC DDDD', seenAt: NOW } });
    assert.equal(keyChangeSentence(changed), "bob's key changed (AAAA BBBB → CCCC DDDD). Messages are paused until you check it.");
    assert.equal(keyChangeSentence(buddy({ aor: 'sip:bob@peerdial', fingerprint: 'AAAA BBBB' })), undefined);
  });
});

describe('message status words', () => {
  it('reads each delivery state in plain words', () => {
    assert.equal(messageStatusLabel({ status: 'sending' }), 'sending');
    assert.equal(messageStatusLabel({ status: 'stored' }), 'stored for delivery');
    assert.equal(messageStatusLabel({ status: 'delivered' }), 'delivered');
    assert.equal(messageStatusLabel({ status: 'read' }), 'read');
    assert.equal(messageStatusLabel({ status: 'sent' }), 'sent');
    assert.equal(messageStatusLabel({ status: 'failed', reason: '404 Not Found' }), 'failed: 404 Not Found');
    assert.equal(messageStatusLabel({ status: 'failed' }), 'failed');
  });
});

describe('idle tracking', () => {
  it('reports idle once after the chosen minutes without input, and back on the next input', () => {
    const clock = new FakeClock();
    const reports: boolean[] = [];
    const tracker = new IdleTracker(timersOf(clock), (idle) => reports.push(idle));
    tracker.setAwayAfterMinutes(5);
    clock.advance(4 * MINUTE);
    tracker.input();
    clock.advance(4 * MINUTE);
    assert.deepEqual(reports, [], 'input within the five minutes keeps the user active');
    clock.advance(MINUTE);
    assert.deepEqual(reports, [true]);
    clock.advance(30 * MINUTE);
    assert.deepEqual(reports, [true], 'idle is reported once');
    tracker.input();
    tracker.input();
    assert.deepEqual(reports, [true, false]);
    clock.advance(5 * MINUTE);
    assert.deepEqual(reports, [true, false, true], 'idle again after another quiet period');
  });

  it('never reports idle when set to 0, and counts from the last input when the setting changes', () => {
    const clock = new FakeClock();
    const reports: boolean[] = [];
    const tracker = new IdleTracker(timersOf(clock), (idle) => reports.push(idle));
    tracker.setAwayAfterMinutes(0);
    clock.advance(120 * MINUTE);
    assert.deepEqual(reports, []);
    assert.equal(clock.pending, 0);
    tracker.input();
    clock.advance(3 * MINUTE);
    tracker.setAwayAfterMinutes(5);
    clock.advance(2 * MINUTE);
    assert.deepEqual(reports, [true], 'five minutes after the last input, not after the change');
  });

  it('keeps one timer however many inputs come', () => {
    const clock = new FakeClock();
    const tracker = new IdleTracker(timersOf(clock), () => {});
    tracker.setAwayAfterMinutes(1);
    for (let i = 0; i < 1000; i++) {
      clock.advance(10);
      tracker.input();
    }
    assert.equal(clock.pending, 1);
  });

  it('reports back on the first input when the engine already shows the user away for idleness', () => {
    const clock = new FakeClock();
    const reports: boolean[] = [];
    const tracker = new IdleTracker(timersOf(clock), (idle) => reports.push(idle));
    tracker.setAwayAfterMinutes(5);
    tracker.assumeIdle();
    tracker.input();
    assert.deepEqual(reports, [false]);
  });
});

describe('typing notifications', () => {
  it('says "typing" once for a burst of keystrokes and "stopped" after five quiet seconds', () => {
    const clock = new FakeClock();
    const sent: boolean[] = [];
    const notifier = new TypingNotifier(timersOf(clock), (active) => sent.push(active));
    for (let i = 0; i < 20; i++) {
      notifier.typed();
      clock.advance(200);
    }
    assert.deepEqual(sent, [true]);
    clock.advance(TYPING_IDLE_MS - 200 - 1);
    assert.deepEqual(sent, [true]);
    clock.advance(1);
    assert.deepEqual(sent, [true, false]);
  });

  it('stops at once when the message is sent, and only once', () => {
    const clock = new FakeClock();
    const sent: boolean[] = [];
    const notifier = new TypingNotifier(timersOf(clock), (active) => sent.push(active));
    notifier.typed();
    notifier.stopped();
    notifier.stopped();
    clock.advance(TYPING_IDLE_MS * 2);
    assert.deepEqual(sent, [true, false]);
  });

  it('refreshes "typing" while typing goes on for long', () => {
    const clock = new FakeClock();
    const sent: boolean[] = [];
    const notifier = new TypingNotifier(timersOf(clock), (active) => sent.push(active));
    for (let t = 0; t <= TYPING_REFRESH_MS; t += 1_000) {
      notifier.typed();
      clock.advance(1_000);
    }
    assert.deepEqual(sent, [true, true]);
  });
});
