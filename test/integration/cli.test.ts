// `peerdial` as a user runs it: the built CLI in its own process.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
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
