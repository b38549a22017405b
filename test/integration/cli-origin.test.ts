// `peerdial origin` and the rescue flags of `peerdial node` as a site owner and a volunteer run
// them: every bad flag gets one line that says what to change, and a taken port is named.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { assertOneLineError } from '../support/cli-assertions.js';
import { controlOf } from '../support/control.js';
import { freePort, removeDir, runCli, startNode, tempDataDir } from '../support/node-process.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeDir)));
const dataDir = async () => {
  const d = await tempDataDir();
  dirs.push(d);
  return d;
};

describe('peerdial origin CLI', () => {
  it('--help explains the origin and its flags', async () => {
    const r = await runCli(['origin', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--upstream', '--listen', '--capacity', '--band', '--bootstrap', '--rescuer', '--status-listen']) assert.match(r.stdout, new RegExp(flag));
    assert.match((await runCli(['--help'])).stdout, /peerdial origin/);
  });

  it('says which required flag is missing and gives an example', async () => {
    assertOneLineError(await runCli(['origin', '--listen', ':8081', '--capacity', '20mbit']), /--upstream URL is needed.*http:\/\/127\.0\.0\.1:8080/);
    assertOneLineError(await runCli(['origin', '--upstream', 'http://127.0.0.1:8080', '--capacity', '20mbit']), /--listen \[HOST\]:PORT is needed/);
    assertOneLineError(await runCli(['origin', '--upstream', 'http://127.0.0.1:8080', '--listen', ':8081']), /--capacity RATE is needed/);
  });

  it('refuses bad values with the right form', async () => {
    const base = ['origin', '--upstream', 'http://127.0.0.1:8080', '--listen', '127.0.0.1:8081', '--data-dir', await dataDir()];
    assertOneLineError(await runCli([...base, '--capacity', '20 megs']), /--capacity must be a rate such as 20mbit/);
    assertOneLineError(await runCli([...base, '--capacity', '20mbit', '--band', '0.9-0.5']), /--band must be LOW-HIGH/);
    assertOneLineError(await runCli([...base, '--capacity', '20mbit', '--rescuer', 'somewhere']), /--rescuer must be \[ADDRESS\]:PORT/);
    assertOneLineError(await runCli(['origin', '--upstream', 'ftp://x', '--listen', ':1', '--capacity', '1mbit']), /--upstream must be an http:\/\/ URL/);
    assertOneLineError(await runCli([...base, '--capacity', '20mbit', '--frobnicate']), /--frobnicate.*peerdial origin --help/);
  });

  it('refuses DNS round robin flags that cannot work, each with what to give instead', async () => {
    const base = ['origin', '--upstream', 'http://127.0.0.1:8080', '--listen', '127.0.0.1:8081', '--capacity', '20mbit', '--data-dir', await dataDir()];
    const key = `peerdial-origin:hmac-sha256:${Buffer.alloc(32, 7).toString('base64')}`;
    assertOneLineError(await runCli([...base, '--tsig-key', key]), /--tsig-key is for DNS round robin: give --dns-update HOST\[:PORT\] too/);
    assertOneLineError(await runCli([...base, '--dns-update', 'ns.example.org', '--tsig-key', key]), /--dns-update must be the DNS server's IP address/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--site', 'http://www.example.org/']), /--dns-update needs the TSIG key.*--tsig-key-file FILE or --tsig-key NAME:ALGORITHM:SECRET/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--tsig-key', key]), /needs the site's name: give --dns-name NAME, or --site http:\/\/NAME\//);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--site', 'http://www.example.org/', '--tsig-key', 'peerdial-origin:hmac-md5:abcd']), /--tsig-key: unknown TSIG algorithm "hmac-md5"/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--site', 'http://www.example.org/', '--tsig-key-file', '/nonexistent/origin.key']), /--tsig-key-file: cannot read \/nonexistent\/origin\.key: ENOENT/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53:53', '--tsig-key', key, '--dns-name', 'www.example.org', '--dns-zone', 'example.net']), /www\.example\.org is not in zone example\.net/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--tsig-key', key, '--dns-name', 'www.example.org', '--dns-ttl', '0']), /--dns-ttl must be seconds from 1 to 3600/);
    assertOneLineError(await runCli([...base, '--dns-update', '192.0.2.53', '--tsig-key', key, '--site', 'https://www.example.org/']), /--dns-update is for plain-HTTP sites: no rescuer holds a certificate for an HTTPS site's own name/);
    const help = (await runCli(['origin', '--help'])).stdout;
    for (const flag of ['--dns-update', '--tsig-key-file', '--tsig-key', '--dns-name', '--dns-zone', '--dns-ttl']) assert.match(help, new RegExp(flag));
  });

  it('names a listen port that is taken', async () => {
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await runCli(['origin', '--upstream', 'http://127.0.0.1:9', '--listen', `127.0.0.1:${port}`, '--capacity', '1mbit', '--data-dir', await dataDir(), '--bind', '127.0.0.1', '--sip-port', String(await freePort()), '--no-mdns']);
      assertOneLineError(r, new RegExp(`Listen port ${port} is already in use.*--listen`));
    } finally {
      blocker.close();
    }
  });
});

describe('peerdial node rescue flags', () => {
  it('refuses a donation out of range and contradicting switches', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--donate-mbit', '0']), /--donate-mbit must be a number from 0.1 to 10000/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--cache-mb', 'lots']), /--cache-mb must be a number/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--rescue', '--no-rescue']), /--rescue and --no-rescue/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--rescue-url', 'not a url']), /--rescue-url must be http:\/\/HOST:PORT/);
  });

  it('keeps the donation for the next start, and --no-rescue turns it off', async () => {
    const dir = await dataDir();
    const first = await startNode({ dataDir: dir, user: 'vol', args: ['--rescue', '--donate-mbit', '7.5', '--donate-gb-per-day', '3', '--cache-mb', '64', '--no-mdns', '--no-multicast-register'] });
    assert.match(first.output(), /^rescue: http:\/\/127\.0\.0\.1:\d+$/m);
    await first.stop();
    const again = await startNode({ dataDir: dir, args: ['--no-mdns', '--no-multicast-register'] });
    const control = controlOf(again);
    try {
      const view = await control.invoke('rescue.status', {});
      assert.deepEqual(view.settings, { enabled: true, donateMbit: 7.5, donateGbPerDay: 3, cacheMb: 64 });
      assert.ok(view.httpUrl, 'rescuing again after the restart');
      const refused = await control.invoke('rescue.configure', { donateMbit: -1 }).catch((e: { code: string; message: string }) => e);
      assert.equal((refused as { code: string }).code, 'INVALID_ARGUMENT');
      assert.match((refused as { message: string }).message, /upload to give/);
    } finally {
      control.close();
      await again.stop();
    }
    const off = await startNode({ dataDir: dir, args: ['--no-rescue', '--no-mdns', '--no-multicast-register'] });
    assert.doesNotMatch(off.output(), /^rescue:/m);
    await off.stop();
  });
});
