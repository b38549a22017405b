// `peerdial origin`'s trusted-rescue flags as a site owner gets them wrong: each mistake is one
// line that says what to change, before anything starts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneLineError } from '../support/cli-assertions.js';
import { runCli } from '../support/node-process.js';
import { makeRescueCa } from '../../native/wire/rescue/rescue-certificate.js';

const KEY = 'A'.repeat(43);
let dir: string;
let files: { caCert: string; caKey: string; otherKey: string; expiredCert: string; expiredKey: string };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pd-cli-trust-'));
  const ca = await makeRescueCa('Site CA');
  const other = await makeRescueCa('Other CA');
  const expired = await makeRescueCa('Old CA', Date.now() - 400 * 86_400_000, 30);
  const put = async (name: string, text: string) => {
    await writeFile(path.join(dir, name), text);
    return path.join(dir, name);
  };
  files = {
    caCert: await put('ca.pem', ca.certPem),
    caKey: await put('ca.key', ca.keyPem),
    otherKey: await put('other.key', other.keyPem),
    expiredCert: await put('old.pem', expired.certPem),
    expiredKey: await put('old.key', expired.keyPem),
  };
});
after(() => rm(dir, { recursive: true, force: true }));

describe('peerdial origin: trusted rescue flags', () => {
  const base = ['origin', '--upstream', 'http://127.0.0.1:8080', '--listen', '127.0.0.1:8081', '--capacity', '1mbit'];

  it('--help explains pinning, the CA, marked paths and HTTPS', async () => {
    const r = await runCli(['origin', '--help']);
    for (const flag of ['--trusted-rescuer', '--rescue-ca-cert', '--rescue-ca-key', '--rescue-cert-hours', '--dynamic', '--tls-cert', '--tls-listen']) assert.match(r.stdout, new RegExp(flag));
  });

  it('refuses marked paths and CA files without a pinned rescuer, and a key that is not one', async () => {
    assertOneLineError(await runCli([...base, '--dynamic', '/api/']), /--dynamic needs --trusted-rescuer/);
    assertOneLineError(await runCli([...base, '--trusted-rescuer', KEY, '--dynamic', 'api']), /--dynamic must be a path prefix such as \/api\//);
    assertOneLineError(await runCli([...base, '--trusted-rescuer', 'short']), /--trusted-rescuer must be KEY or KEY=HOST/);
    assertOneLineError(await runCli([...base, '--trusted-rescuer', `${KEY}=not a host`]), /HOST must be a DNS name/);
    assertOneLineError(await runCli([...base, '--rescue-ca-cert', files.caCert]), /need --trusted-rescuer KEY=HOST/);
  });

  it('needs a CA that can issue, with its own key, still valid', async () => {
    const pinned = [...base, '--trusted-rescuer', `${KEY}=r1.rescue.example.org`];
    assertOneLineError(await runCli(pinned), /needs --rescue-ca-cert and --rescue-ca-key/);
    assertOneLineError(await runCli([...pinned, '--rescue-ca-cert', files.caCert, '--rescue-ca-key', files.otherKey]), /--rescue-ca-key is not the key of the certificate/);
    assertOneLineError(await runCli([...pinned, '--rescue-ca-cert', files.expiredCert, '--rescue-ca-key', files.expiredKey]), /--rescue-ca-cert expired on/);
    assertOneLineError(await runCli([...pinned, '--rescue-ca-cert', path.join(dir, 'missing.pem'), '--rescue-ca-key', files.caKey]), /--rescue-ca-cert: cannot read .*missing\.pem \(ENOENT\)/);
    assertOneLineError(await runCli([...pinned, '--rescue-ca-cert', files.caCert, '--rescue-ca-key', files.caKey, '--rescue-cert-hours', '0']), /--rescue-cert-hours must be a number from 0.01/);
  });

  it('an HTTPS site needs a rescue host name for each pinned rescuer, and HTTPS flags go together', async () => {
    assertOneLineError(await runCli([...base, '--site', 'https://example.org/', '--trusted-rescuer', KEY]), /an HTTPS site sends users only to trusted rescuers with a certificate/);
    assertOneLineError(await runCli([...base, '--tls-cert', files.caCert]), /--tls-cert, --tls-key and --tls-listen go together/);
  });
});
