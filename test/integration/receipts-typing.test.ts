// Read receipts and "is typing" (RFC 3994) between two users over real SIP on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageView, StreamItem } from '../../native/control/api.js';
import { Engine } from '../../native/roots/node-engine.js';
import { createLogger } from '../../native/log.js';
import { IdentityService } from '../../native/services/identity/identity-service.js';
import { ImService } from '../../native/services/im/im-service.js';
import { SipStack } from '../../native/services/sip/sip-stack.js';
import { Database } from '../../native/storage/db.js';
import { IdentityRepository } from '../../native/storage/repositories/identity-repository.js';
import { MessageRepository } from '../../native/storage/repositories/message-repository.js';
import { realTimers } from '../../native/transport/clock.js';
import { FakeClock } from '../support/fake-clock.js';
import { freePort, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeDir)));

/** Every status a message of `engine` goes through, in order. */
function statusesOf(engine: Engine): Map<number, string[]> {
  const seen = new Map<number, string[]>();
  engine.api.subscribe({ epoch: engine.api.events.epoch, seq: engine.api.events.lastSeq }, (item: StreamItem) => {
    if (item.type !== 'message.added' && item.type !== 'message.updated') return;
    const m = item.data as MessageView;
    seen.set(m.id, [...(seen.get(m.id) ?? []), m.status]);
  });
  return seen;
}

describe('read receipts between two engines', () => {
  let alice: Engine;
  let bob: Engine;
  before(async () => {
    const start = async (userName: string) => {
      const dataDir = await tempDataDir();
      dirs.push(dataDir);
      return Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName } });
    };
    alice = await start('alice');
    bob = await start('bob');
  });
  after(async () => {
    await alice.stop();
    await bob.stop();
  });

  it('a message shows delivered, then read once the recipient opens the conversation; unread counts follow', async () => {
    const aliceSees = statusesOf(alice);
    const sent = await alice.api.invoke('im.send', { to: bob.sipContact!, text: 'lunch at noon?' });
    await until('delivered', async () => aliceSees.get(sent.id)?.includes('delivered'));
    const peerAtBob = alice.sipContact!;
    assert.equal(await bob.im.unreadCount(peerAtBob), 1);
    await alice.api.invoke('im.send', { to: bob.sipContact!, text: 'or one?' });
    await until('the second arrives', async () => (await bob.im.unreadCount(peerAtBob)) === 2);

    await bob.api.invoke('im.markRead', { peer: peerAtBob });
    assert.equal(await bob.im.unreadCount(peerAtBob), 0);
    await until('alice sees both read', async () => (await alice.api.invoke('im.history', { peer: bob.sipContact! })).every((m) => m.status === 'read'));
    assert.deepEqual(aliceSees.get(sent.id), ['sending', 'delivered', 'read']);

    // Nothing unread: opening the conversation again sends nothing and changes nothing.
    await bob.api.invoke('im.markRead', { peer: peerAtBob });
    assert.deepEqual(aliceSees.get(sent.id), ['sending', 'delivered', 'read']);
  });

  it('the typing command is checked like any other', async () => {
    await assert.rejects(alice.api.invoke('im.typing', { peer: bob.sipContact!, active: 'yes' as unknown as boolean }), /"active" must be true or false/);
    await assert.rejects(alice.api.invoke('im.typing', { peer: 'not a uri', active: true }), (e: { code?: string }) => e.code === 'INVALID_URI');
  });
});

/** One user: a SIP stack, a database and IM, with what IM reports about the other side recorded. */
async function user(userName: string, clock?: FakeClock) {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const db = await Database.open(`${dataDir}/db.sqlite3`);
  const identity = new IdentityService(new IdentityRepository(db));
  await identity.create(userName, userName);
  const stack = new SipStack({ bind: '127.0.0.1', port: await freePort(), advertisedHost: '127.0.0.1', timers: realTimers, log: createLogger('test', 'silent') });
  await stack.start();
  const typing: Array<[string, boolean]> = [];
  const im = new ImService({ stack, messages: new MessageRepository(db), identity, timers: clock, now: clock ? () => clock.now : undefined, onMessage: () => undefined, onTyping: (peer, active) => typing.push([peer, active]) });
  await im.start();
  return {
    im,
    stack,
    typing,
    contact: () => im.ownUri()!,
    close: async () => {
      await im.stop();
      await stack.stop();
      await db.close();
    },
  };
}

describe('is typing (RFC 3994)', () => {
  let ann: Awaited<ReturnType<typeof user>>;
  let ben: Awaited<ReturnType<typeof user>>;
  const annClock = new FakeClock();
  before(async () => {
    ann = await user('ann', annClock);
    ben = await user('ben');
  });
  after(async () => {
    await ann.close();
    await ben.close();
  });

  it('tells the other side once when typing starts, not at every keystroke, and when it stops', async () => {
    const before = ben.stack.counters.requestsIn;
    for (let i = 0; i < 5; i++) await ann.im.typing(ben.contact(), true);
    await until('ben sees ann typing', async () => ben.typing.length === 1);
    assert.deepEqual(ben.typing, [[ann.contact(), true]]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ben.stack.counters.requestsIn - before, 1, 'one isComposing for five keystrokes');

    await ann.im.typing(ben.contact(), false);
    await until('ben sees ann stop', async () => ben.typing.length === 2);
    assert.deepEqual(ben.typing[1], [ann.contact(), false]);
  });

  it('goes idle by itself after 15 s without typing', async () => {
    ben.typing.length = 0;
    const before = ben.stack.counters.requestsIn;
    await ann.im.typing(ben.contact(), true);
    await until('active', async () => ben.typing.length === 1);
    annClock.advance(15_000);
    await until('idle after 15 s', async () => ben.typing.length === 2);
    assert.deepEqual(ben.typing, [
      [ann.contact(), true],
      [ann.contact(), false],
    ]);
    assert.equal(ben.stack.counters.requestsIn - before, 2);
  });

  it('refreshes "active" every 90 s while the user keeps typing', async () => {
    ben.typing.length = 0;
    const before = ben.stack.counters.requestsIn;
    await ann.im.typing(ben.contact(), true);
    await until('active', async () => ben.typing.length === 1);
    for (let second = 10; second <= 90; second += 10) {
      annClock.advance(10_000);
      await ann.im.typing(ben.contact(), true);
    }
    await until('the refresh arrives', async () => ben.stack.counters.requestsIn - before === 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ben.stack.counters.requestsIn - before, 2, 'one refresh in 90 s of typing');
    assert.deepEqual(ben.typing, [[ann.contact(), true]], 'still typing, without a flicker');
    await ann.im.typing(ben.contact(), false);
    await until('idle', async () => ben.typing.length === 2);
  });

  it('a text message ends the typing state at the receiver', async () => {
    ben.typing.length = 0;
    await ann.im.typing(ben.contact(), true);
    await until('active', async () => ben.typing.length === 1);
    await ann.im.send(ben.contact(), 'here it is');
    await until('typing ended by the message', async () => ben.typing.length === 2);
    assert.deepEqual(ben.typing[1], [ann.contact(), false]);
  });
});

describe('typing and unread counts on the buddy list (engine wiring)', () => {
  const FAST = { stabilizeMs: 200, fixFingersMs: 100, checkPredecessorMs: 400, replicateMs: 1_000, requestTimeoutMs: 1_000 };
  let uma: Engine;
  let vic: Engine;
  const UMA = 'sip:uma@peerdial';
  const VIC = 'sip:vic@peerdial';
  const buddy = async (engine: Engine, aor: string) => (await engine.api.invoke('buddy.list', {})).find((b) => b.aor === aor);

  before(async () => {
    const start = async (userName: string, bootstrap: string[]) => {
      const dataDir = await tempDataDir();
      dirs.push(dataDir);
      return Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, bootstrap, overlayConfig: FAST, registrationRefreshMs: 2_000 });
    };
    uma = await start('uma', []);
    vic = await start('vic', [`127.0.0.1:${uma.sip.port}`]);
    await until('both found in the overlay', async () => {
      for (const user of ['uma', 'vic']) if (!(await uma.overlay.lookupAor(user).catch(() => undefined))?.contacts.length) return false;
      return true;
    });
    await uma.api.invoke('buddy.add', { aor: 'vic' });
    await until('the request at vic', async () => (await buddy(vic, UMA))?.state === 'incoming');
    await vic.api.invoke('buddy.accept', { aor: UMA });
    await until('accepted at uma', async () => (await buddy(uma, VIC))?.state === 'accepted');
  });
  after(async () => {
    await uma.stop();
    await vic.stop();
  });

  it('shows the buddy typing, then their message unread, then read at the sender once opened', async () => {
    await uma.api.invoke('im.typing', { peer: VIC, active: true });
    await until('uma typing at vic', async () => (await buddy(vic, UMA))?.typing === true);
    const sent = await uma.api.invoke('im.send', { to: VIC, text: 'are you coming tonight?' });
    const atVic = await until('the message ends typing and counts as unread', async () => {
      const b = await buddy(vic, UMA);
      return b && !b.typing && b.unread === 1 ? b : undefined;
    });
    assert.equal(atVic.unread, 1);
    await vic.api.invoke('im.markRead', { peer: UMA });
    await until('no unread at vic', async () => (await buddy(vic, UMA))?.unread === 0);
    await until('read at uma', async () => (await uma.api.invoke('im.history', { peer: VIC })).find((m) => m.id === sent.id)?.status === 'read');
  });

  it('refuses to send to a buddy the user blocked, saying why, and stores nothing', async () => {
    await vic.api.invoke('buddy.block', { aor: UMA });
    const before = (await vic.api.invoke('im.history', { peer: UMA })).length;
    await assert.rejects(vic.api.invoke('im.send', { to: UMA, text: 'hello?' }), (e: { code?: string; message?: string }) => e.code === 'UNAVAILABLE' && /blocked/.test(e.message ?? ''));
    assert.equal((await vic.api.invoke('im.history', { peer: UMA })).length, before);
  });
});
