// `peerdial` as a user runs it: the built CLI in its own process.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { Database } from '../../native/storage/db.js';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, removeDir, runCli, startNode, tempDataDir } from '../support/node-process.js';
import { assertOneLineError } from '../support/cli-assertions.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeDir)));
const dataDir = async () => {
  const d = await tempDataDir();
  dirs.push(d);
  return d;
};


describe('peerdial CLI', () => {
  it('--help explains every node flag', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--data-dir', '--sip-port', '--ui-port', '--user', '--bind']) assert.match(r.stdout, new RegExp(flag));
  });

  it('refuses a port that is not a number', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--sip-port', 'abc']), /--sip-port must be a port number/);
  });

  it('refuses an unknown flag and points to --help', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--sip-prot', '5060']), /--sip-prot.*--help/);
  });

  it('refuses a --bind that is not an IP address', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--bind', 'my-laptop']), /--bind must be an IP address/);
  });

  it('refuses --port-mapping with --no-port-mapping, and lists both in --help', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--port-mapping', '--no-port-mapping']), /--port-mapping and --no-port-mapping say opposite things/);
    assert.match((await runCli(['--help'])).stdout, /--port-mapping .*ask the router to open the SIP port/);
  });

  it('keeps the identity key encrypted under --key-passphrase-file, and says what is missing without it', async () => {
    const dir = await dataDir();
    const passphrase = path.join(dir, '..', `${path.basename(dir)}-pass.txt`);
    await writeFile(passphrase, 'a long enough passphrase\n');
    dirs.push(passphrase);
    const first = await startNode({ user: 'kim', dataDir: dir, args: ['--key-passphrase-file', passphrase] });
    assert.equal(await first.stop(), 0);
    const db = await Database.open(path.join(dir, 'peerdial.sqlite3'));
    const row = await db.get<{ private_key: Buffer; x25519_private: Buffer; key_protection: string }>('SELECT private_key, x25519_private, key_protection FROM identity');
    await db.close();
    assert.equal(row?.key_protection, 'passphrase');
    // A PKCS#8 key starts 30 2e 02 01 00 30 05 06 03 2b 65 70 (Ed25519) or ... 2b 65 6e (X25519): neither is stored so.
    for (const key of [row!.private_key, row!.x25519_private]) assert.ok(!key.subarray(0, 12).equals(Buffer.from('302e020100300506032b6570', 'hex')) && !key.includes(Buffer.from('06032b65', 'hex')), 'no private key in the clear');
    assertOneLineError(await runCli(['node', '--data-dir', dir, '--bind', '127.0.0.1', '--sip-port', '0']), /encrypted with a passphrase: start with --key-passphrase-file FILE/);
    await writeFile(passphrase, 'not the right passphrase\n');
    assertOneLineError(await runCli(['node', '--data-dir', dir, '--bind', '127.0.0.1', '--sip-port', '0', '--key-passphrase-file', passphrase]), /does not unlock the identity key/);
    await writeFile(passphrase, 'short\n');
    assertOneLineError(await runCli(['node', '--data-dir', dir, '--key-passphrase-file', passphrase]), /at least 8 characters/);
    assertOneLineError(await runCli(['node', '--data-dir', dir, '--key-passphrase-file', path.join(dir, 'missing.txt')]), /cannot read --key-passphrase-file .*ENOENT/);
  });

  it('refuses a bad --user name', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--bind', '127.0.0.1', '--sip-port', String(await freePort()), '--user', 'Bad Name']), /user name/);
  });

  it('says which SIP port is taken and what to do', async () => {
    const port = await freePort();
    const blocker = dgram.createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(port, '127.0.0.1', () => r()));
    try {
      assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--bind', '127.0.0.1', '--sip-port', String(port)]), new RegExp(`${port}.*in use.*--sip-port`));
    } finally {
      blocker.close();
    }
  });

  it('prints its UI URL and SIP contact, and stops on SIGTERM within 2 s', async () => {
    const node = await startNode({ user: 'carol', dataDir: await dataDir() });
    assert.match(node.uiUrl, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
    assert.equal(node.sipContact, `sip:carol@127.0.0.1:${node.sipPort}`);
    const refused = await fetch(node.uiUrl.replace(/\?token=.*$/, ''));
    assert.equal(refused.status, 401);
    const started = Date.now();
    const code = await node.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
  });

  it('keeps the same token and UI address across restarts', async () => {
    const dir = await dataDir();
    const first = await startNode({ user: 'dave', dataDir: dir });
    await first.stop();
    const second = await startNode({ dataDir: dir });
    await second.stop();
    assert.equal(second.uiUrl, first.uiUrl);
    assert.equal(second.sipContact?.replace(/:\d+$/, ''), 'sip:dave@127.0.0.1');
  });
});
