// The rules for strangers: migration 015, where a stranger's message goes (request, conversation,
// nowhere past the caps), accept and delete, and the caller policy by relation.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { migrations } from '../../../native/storage/migrations/index.js';
import { MessageRepository, type NewMessage } from '../../../native/storage/repositories/message-repository.js';
import { SettingsRepository } from '../../../native/storage/repositories/settings-repository.js';
import type { BuddyState, BuddyView } from '../../../native/services/presence/index.js';
import { DEFAULT_STRANGER_SETTINGS, StrangersService } from '../../../native/services/strangers/index.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function open(version = migrations.length): Promise<Database> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'peerdial-requests-'));
  dirs.push(d);
  return Database.open(path.join(d, 'db.sqlite3'), migrations.filter((m) => m.version <= version));
}

let callSeq = 0;
const text = (peer: string, body: string, at = 1_000): NewMessage => ({ peer, direction: 'in', text: body, status: 'received', sipCallId: `c${++callSeq}`, sipCseq: 1, at, encrypted: true });
const LIMITS = { perRequest: 3, requests: 2 };

describe('migration 015 message requests', () => {
  it('keeps one request per peer, upgrading a version 14 database with its messages', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'peerdial-mig15-'));
    dirs.push(d);
    const file = path.join(d, 'db.sqlite3');
    const old = await Database.open(file, migrations.filter((m) => m.version <= 14));
    await new MessageRepository(old).add(text('sip:old@peerdial', 'from before'));
    await old.close();
    const db = await Database.open(file);
    assert.equal(await db.schemaVersion(), migrations.length);
    await db.run("INSERT INTO message_requests (peer, created_at, updated_at) VALUES ('sip:a@peerdial', 0, 0)");
    await assert.rejects(db.run("INSERT INTO message_requests (peer, created_at, updated_at) VALUES ('sip:a@peerdial', 1, 1)"), /UNIQUE|PRIMARY KEY/);
    // A conversation from before the migration stays a conversation.
    const messages = new MessageRepository(db);
    assert.equal((await messages.addFromStranger(text('sip:old@peerdial', 'again'), LIMITS)).kind, 'conversation');
    await db.close();
  });
});

describe('a stranger\'s messages', () => {
  it('open a request, join it, and stay out of the conversations; past the cap they are dropped and counted', async () => {
    const db = await open();
    const messages = new MessageRepository(db);
    const first = await messages.addFromStranger(text('sip:eve@peerdial', 'hi'), LIMITS);
    assert.equal(first.kind, 'request');
    assert.equal(first.kind === 'request' && first.message.request, true);
    assert.equal((await messages.addFromStranger(text('sip:eve@peerdial', 'hello?'), LIMITS)).kind, 'request');
    assert.equal((await messages.addFromStranger(text('sip:eve@peerdial', 'hey'), LIMITS)).kind, 'request');
    assert.equal((await messages.addFromStranger(text('sip:eve@peerdial', 'fourth'), LIMITS)).kind, 'over-limit');
    const [request] = await messages.requests();
    assert.deepEqual([request.peer, request.messageCount, request.dropped, request.lastMessage.text], ['sip:eve@peerdial', 3, 1, 'hey']);
    assert.deepEqual(await messages.conversations(), []);
    await db.close();
  });

  it('a retransmitted MESSAGE is stored once; a third stranger past the request cap is dropped', async () => {
    const db = await open();
    const messages = new MessageRepository(db);
    const once = text('sip:a@peerdial', 'once');
    assert.equal((await messages.addFromStranger(once, LIMITS)).kind, 'request');
    assert.equal((await messages.addFromStranger(once, LIMITS)).kind, 'duplicate');
    assert.equal((await messages.addFromStranger(text('sip:b@peerdial', 'b'), LIMITS)).kind, 'request');
    assert.equal((await messages.addFromStranger(text('sip:c@peerdial', 'c'), LIMITS)).kind, 'over-limit');
    assert.equal((await messages.requests()).length, 2);
    assert.equal((await messages.history('sip:c@peerdial', 10)).length, 0);
    await db.close();
  });

  it('go to the conversation once the user wrote first or accepted; delete takes the messages too', async () => {
    const db = await open();
    const messages = new MessageRepository(db);
    await messages.add({ peer: 'sip:bob@peerdial', direction: 'out', text: 'hi bob', status: 'sent', sipCallId: 'out1', sipCseq: 1, at: 1 });
    assert.equal((await messages.addFromStranger(text('sip:bob@peerdial', 'hi back'), LIMITS)).kind, 'conversation');

    await messages.addFromStranger(text('sip:eve@peerdial', 'hi'), LIMITS);
    assert.equal(await messages.acceptRequest('sip:eve@peerdial'), true);
    assert.equal(await messages.acceptRequest('sip:eve@peerdial'), false);
    assert.equal((await messages.addFromStranger(text('sip:eve@peerdial', 'thanks'), LIMITS)).kind, 'conversation');
    assert.deepEqual((await messages.conversations()).map((c) => [c.peer, c.messageCount]), [['sip:eve@peerdial', 2], ['sip:bob@peerdial', 2]]);

    await messages.addFromStranger(text('sip:mal@peerdial', 'buy now'), LIMITS);
    assert.equal(await messages.deleteRequest('sip:mal@peerdial'), true);
    assert.deepEqual(await messages.history('sip:mal@peerdial', 10), []);
    assert.equal((await messages.addFromStranger(text('sip:mal@peerdial', 'again'), LIMITS)).kind, 'request', 'a new request after a delete');
    await db.close();
  });
});

describe('strangers service', () => {
  async function service(states: Record<string, BuddyState>) {
    const db = await open();
    const blocked: string[] = [];
    const canonicalAor = (t: string) => (t.startsWith('sip:') ? t : `sip:${t}@peerdial`);
    // BuddyService's own rules, as far as these tests lean on them: any spelling names one row.
    const buddies = {
      stateOf: (aor: string) => states[aor],
      canonicalAor,
      block: async (text: string) => {
        const aor = canonicalAor(text);
        blocked.push(aor);
        states[aor] = 'blocked';
        return { aor, state: 'blocked' } as BuddyView;
      },
      remove: async (aor: string) => void delete states[aor],
      list: async () => Object.entries(states).map(([aor, state]) => ({ aor, state }) as BuddyView),
    };
    let changed = 0;
    const strangers = new StrangersService({
      messages: new MessageRepository(db),
      settings: new SettingsRepository(db),
      buddies,
      onRequestsChanged: () => changed++,
      onSettingsChanged: () => undefined,
      onAccepted: () => undefined,
    });
    await strangers.load();
    return { db, strangers, changes: () => changed };
  }

  it('calls: buddies ring, blocked identities are rejected, strangers follow the setting (ring by default)', async () => {
    const { db, strangers } = await service({ 'sip:pal@peerdial': 'accepted', 'sip:asked@peerdial': 'requested', 'sip:asking@peerdial': 'incoming', 'sip:mal@peerdial': 'blocked' });
    assert.deepEqual(strangers.settings, DEFAULT_STRANGER_SETTINGS);
    for (const policy of ['ring', 'ask', 'reject'] as const) {
      await strangers.configure({ strangerCalls: policy });
      assert.equal(strangers.callPolicy('sip:pal@peerdial'), 'ring');
      assert.equal(strangers.callPolicy('sip:asked@peerdial'), 'ring', 'someone the user asked is no stranger');
      assert.equal(strangers.callPolicy('sip:asking@peerdial'), policy, 'someone who only asked is');
      assert.equal(strangers.callPolicy('sip:nobody@peerdial'), policy);
      assert.equal(strangers.callPolicy('sip:desk@192.0.2.7:5060'), policy);
      assert.equal(strangers.callPolicy('sip:mal@peerdial'), 'reject');
    }
    await assert.rejects(strangers.configure({ strangerCalls: 'sometimes' as 'ring' }), { code: 'INVALID_ARGUMENT' });
    await db.close();
  });

  it('keeps its settings across a restart', async () => {
    const { db, strangers } = await service({});
    await strangers.configure({ strangerCalls: 'ask', strangerMailbox: false });
    const again = new StrangersService({ messages: new MessageRepository(db), settings: new SettingsRepository(db), buddies: { stateOf: () => undefined, canonicalAor: () => undefined, block: async () => ({}) as BuddyView, remove: async () => undefined, list: async () => [] }, onRequestsChanged: () => undefined, onSettingsChanged: () => undefined, onAccepted: () => undefined });
    await again.load();
    assert.deepEqual(again.settings, { strangerCalls: 'ask', strangerMailbox: false });
    await db.close();
  });

  it('blocking from a request removes the request; unblocking makes them a stranger again; answers to no request say so', async () => {
    const { db, strangers, changes } = await service({});
    await new MessageRepository(db).addFromStranger(text('sip:mal@peerdial', 'spam'), LIMITS);
    await strangers.block('mal');
    assert.deepEqual(await strangers.requests(), []);
    assert.equal(changes(), 1);
    assert.deepEqual(await strangers.blocked(), [{ aor: 'sip:mal@peerdial' }]);
    assert.equal(strangers.relation('sip:mal@peerdial'), 'blocked');
    await strangers.unblock('sip:mal@peerdial');
    assert.equal(strangers.relation('sip:mal@peerdial'), 'stranger');
    await assert.rejects(strangers.unblock('sip:mal@peerdial'), { code: 'NOT_FOUND' });
    await assert.rejects(strangers.accept('nobody'), { code: 'NOT_FOUND' });
    await assert.rejects(strangers.delete('nobody'), { code: 'NOT_FOUND' });
    await db.close();
  });
});
