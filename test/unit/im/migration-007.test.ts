// 007: an X25519 key for identities made before it, read marks, and the stored/read statuses.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { IdentityService } from '../../../native/services/identity/identity-service.js';
import { Database } from '../../../native/storage/db.js';
import { migrations } from '../../../native/storage/migrations/index.js';
import { IdentityRepository } from '../../../native/storage/repositories/identity-repository.js';
import { MessageRepository } from '../../../native/storage/repositories/message-repository.js';
import { x25519PublicOf } from '../../../native/wire/crypto/x25519.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function dbFile(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-mig7-'));
  dirs.push(dir);
  return path.join(dir, 'db.sqlite3');
}

describe('migration 007 (offline messages)', () => {
  it('gives an identity made before it an X25519 key, once, kept across restarts', async () => {
    const file = await dbFile();
    const old = await Database.open(file, migrations.filter((m) => m.version < 7));
    // An identity row as Peerdial wrote it before 007: an Ed25519 pair and nothing else.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    await old.run('INSERT INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (1, ?, ?, ?, ?, ?)', ['Ann', 'ann', spki, privateKey.export({ format: 'der', type: 'pkcs8' }), 1]);
    await old.close();
    const created = { publicKey: spki.subarray(spki.length - 32).toString('base64url') };

    const db = await Database.open(file, migrations.filter((m) => m.version <= 7));
    assert.equal(await db.schemaVersion(), 7);
    const first = new IdentityService(new IdentityRepository(db));
    assert.equal((await first.load())?.publicKey, created.publicKey, 'the same identity');
    const key = first.agreementKey!;
    assert.equal(key.publicKey.length, 32);
    assert.deepEqual(x25519PublicOf(key.privateKey), key.publicKey);
    const again = new IdentityService(new IdentityRepository(db));
    await again.load();
    assert.deepEqual(again.agreementKey?.publicKey, key.publicKey, 'not made anew at the next start');
    await db.close();
  });

  it('counts unread messages per peer until they are read, and says which were read', async () => {
    const db = await Database.open(await dbFile());
    const messages = new MessageRepository(db);
    const incoming = (callId: string, peer = 'sip:bob@peerdial') => messages.add({ peer, direction: 'in', text: callId, status: 'received', sipCallId: callId, sipCseq: 1, at: 1 });
    await incoming('c1');
    await incoming('c2');
    await incoming('d1', 'sip:dan@peerdial');
    await messages.add({ peer: 'sip:bob@peerdial', direction: 'out', text: 'mine', status: 'delivered', sipCallId: 'o1', sipCseq: 1, at: 2 });
    assert.equal(await messages.unreadCount('sip:bob@peerdial'), 2);
    assert.deepEqual(await messages.markRead('sip:bob@peerdial', 5), ['c1', 'c2']);
    assert.equal(await messages.unreadCount('sip:bob@peerdial'), 0);
    assert.deepEqual(await messages.markRead('sip:bob@peerdial', 6), [], 'nothing left to read');
    assert.equal(await messages.unreadCount('sip:dan@peerdial'), 1);
    await db.close();
  });

  it('moves our messages forward on a receipt from their peer only, never backwards', async () => {
    const db = await Database.open(await dbFile());
    const messages = new MessageRepository(db);
    const out = (callId: string, status: 'stored' | 'read' | 'delivered') => messages.add({ peer: 'sip:bob@peerdial', direction: 'out', text: callId, status, sipCallId: callId, sipCseq: 1, at: 1 });
    await out('s1', 'stored');
    await out('r1', 'read');
    assert.deepEqual((await messages.storedOutgoing()).map((m) => [m.callId, m.status]), [['s1', 'stored']]);
    assert.deepEqual(await messages.advance('sip:eve@peerdial', ['s1'], 'read', ['stored'], 3), [], 'another peer cannot mark it');
    assert.deepEqual(await messages.advance('sip:bob@peerdial', ['r1'], 'delivered', ['stored', 'sending'], 3), [], 'read stays read');
    const moved = await messages.advance('sip:bob@peerdial', ['s1', 'r1'], 'delivered', ['stored'], 3);
    assert.deepEqual(moved.map((m) => [m.text, m.status]), [['s1', 'delivered']]);
    assert.deepEqual(await messages.storedOutgoing(), []);
    await db.close();
  });
});
