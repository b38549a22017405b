// 012: the identity's private keys encrypted on disk under a passphrase, an existing identity
// wrapped in place, a node that cannot open them without it, and the encrypted backup file.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { IdentityService } from '../../../native/services/identity/identity-service.js';
import { Database } from '../../../native/storage/db.js';
import { migrations } from '../../../native/storage/migrations/index.js';
import { IdentityRepository } from '../../../native/storage/repositories/identity-repository.js';
import { openIdentityBackup, unwrapKey, wrapKey, deriveKek, newKdfParams } from '../../../native/wire/crypto/key-wrap.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function dbFile(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-keys-'));
  dirs.push(dir);
  return path.join(dir, 'db.sqlite3');
}

const PASS = { kind: 'passphrase' as const, secret: 'correct horse battery' };

describe('key wrapping (AES-256-GCM under a scrypt key)', () => {
  it('opens with the same secret and label only', () => {
    const kek = deriveKek('a passphrase', newKdfParams());
    const wrapped = wrapKey(Buffer.from('the key'), kek, 'slot-a');
    assert.equal(unwrapKey(wrapped, kek, 'slot-a')?.toString(), 'the key');
    assert.equal(unwrapKey(wrapped, kek, 'slot-b'), undefined, 'moved to another slot');
    assert.equal(unwrapKey(wrapped, deriveKek('another one', newKdfParams()), 'slot-a'), undefined);
    assert.equal(unwrapKey(wrapped.subarray(0, 10), kek, 'slot-a'), undefined);
  });
});

describe('the identity at rest', () => {
  it('an identity kept in the clear is wrapped in place by the first start with a passphrase, and then needs it', async () => {
    const file = await dbFile();
    const plainDb = await Database.open(file, migrations);
    const plain = new IdentityService(new IdentityRepository(plainDb));
    const made = await plain.create('Ann', 'ann');
    assert.equal(made.keyProtection, 'none');
    const pkcs8 = plain.signingKey!;
    await plainDb.close();
    assert.ok((await readFile(file)).includes(pkcs8), 'in the clear before');

    const db = await Database.open(file, migrations);
    const locked = new IdentityService(new IdentityRepository(db), undefined, PASS);
    const opened = await locked.load();
    assert.equal(opened?.keyProtection, 'passphrase');
    assert.equal(opened?.publicKey, made.publicKey, 'the same identity');
    assert.deepEqual(locked.signingKey, pkcs8, 'open in memory');
    await db.close();
    const bytes = await readFile(file);
    assert.ok(!bytes.includes(pkcs8.subarray(16)), 'the Ed25519 private key is no longer on disk in the clear');

    const again = await Database.open(file, migrations);
    await assert.rejects(new IdentityService(new IdentityRepository(again)).load(), { code: 'IDENTITY_LOCKED', message: /--key-passphrase-file/ });
    await assert.rejects(new IdentityService(new IdentityRepository(again), undefined, { kind: 'passphrase', secret: 'wrong horse battery' }).load(), { code: 'IDENTITY_LOCKED', message: /does not unlock/ });
    const reopened = new IdentityService(new IdentityRepository(again), undefined, PASS);
    assert.equal((await reopened.load())?.publicKey, made.publicKey);
    assert.ok(reopened.agreementKey, 'the X25519 key opens too');
    await again.close();
  });

  it('a new identity made with a passphrase is never on disk in the clear', async () => {
    const file = await dbFile();
    const db = await Database.open(file, migrations);
    const service = new IdentityService(new IdentityRepository(db), undefined, PASS);
    const made = await service.create('Bea', 'bea');
    assert.equal(made.keyProtection, 'passphrase');
    const pkcs8 = service.signingKey!;
    await db.close();
    assert.ok(!(await readFile(file)).includes(pkcs8.subarray(16)));
  });

  it('exports an encrypted backup that another node imports as the same identity; refuses a wrong passphrase', async () => {
    const fromDb = await Database.open(await dbFile(), migrations);
    const from = new IdentityService(new IdentityRepository(fromDb));
    const made = await from.create('Cid', 'cid');
    assert.throws(() => from.exportBackup('short'), /at least 8/);
    const backup = from.exportBackup('moving to a new laptop');
    assert.ok(!backup.includes(from.signingKey!.toString('base64url')), 'the backup does not hold the key in the clear');
    assert.equal(openIdentityBackup(backup, 'not the passphrase').ok, false);

    const toDb = await Database.open(await dbFile(), migrations);
    const to = new IdentityService(new IdentityRepository(toDb), undefined, PASS);
    await assert.rejects(to.importBackup(backup, 'not the passphrase'), /does not open/);
    await assert.rejects(to.importBackup('{"hello":1}', 'moving to a new laptop'), /not a Peerdial identity backup/);
    const imported = await to.importBackup(backup, 'moving to a new laptop');
    assert.equal(imported.publicKey, made.publicKey);
    assert.equal(imported.userName, 'cid');
    assert.equal(imported.keyProtection, 'passphrase', 'kept under this node\'s passphrase');
    assert.deepEqual(to.agreementKey, from.agreementKey);
    await assert.rejects(to.importBackup(backup, 'moving to a new laptop'), { code: 'IDENTITY_EXISTS' });
    await fromDb.close();
    await toDb.close();
  });
});
