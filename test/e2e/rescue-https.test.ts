// An HTTPS site rescued through a trusted rescuer, in Chromium. The test is the site owner: it
// makes its own CA, serves www.example.test over HTTPS with a certificate from it, and runs
// `peerdial origin` pinning one rescuer (a real `peerdial node --rescue`) by key with the name
// r1.rescue.example.test. Chromium trusts that CA for the run the way a managed machine would (an
// NSS database in the browser's HOME: the chain is verified, not waved through), and resolves
// both names to loopback. In a flash crowd the browser asks the site over HTTPS, is redirected to
// https://r1.rescue.example.test, and gets the page there over a connection whose certificate the
// site issued to that rescuer; a browser that does not trust the site's CA refuses the rescuer,
// which shows the check is real. The rescuer never held the site's key.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { controlOf } from '../support/control.js';
import { launchBrowser } from '../support/browser.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { startOrigin, type OriginProcess } from '../support/origin-process.js';
import { until } from '../support/poll.js';
import { issueRescueCertificate, makeRescueCa, makeRescueTlsKey } from '../../native/wire/rescue/rescue-certificate.js';
import { certificatePem } from '../../native/wire/rescue/rescue-certificate.js';

const SITE_HOST = 'www.example.test';
const RESCUE_HOST = 'r1.rescue.example.test';
const CA_NAME = 'Peerdial e2e site CA';
const PAGES = 12;
const RESCUE_ARGS = ['--rescue', '--donate-mbit', '40', '--donate-gb-per-day', '10', '--cache-mb', '50', '--no-mdns', '--no-multicast-register'];

/** The site's own server: HTML pages of about 40 kB, cacheable for a minute. */
async function startPages(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const m = /^\/page\/(\d+)\.html$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const body = `<!doctype html><title>Page ${m[1]}</title><h1>Rescued page ${m[1]}</h1><p>${'lorem ipsum '.repeat(3_300)}</p>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'public, max-age=60', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('rescue: an HTTPS site through a trusted rescuer, in Chromium', () => {
  let dir: string;
  let pages: Awaited<ReturnType<typeof startPages>>;
  let rescuer: NodeProcess;
  let origin: OriginProcess;
  let trusting: Browser;
  let untrusting: Browser;
  let tlsPort: number;
  let plainPort: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pd-rescue-https-'));
    const ca = await makeRescueCa(CA_NAME);
    const siteKey = makeRescueTlsKey();
    const now = Date.now();
    const siteCert = await issueRescueCertificate({ ca, host: SITE_HOST, spki: siteKey.spki, notBefore: now - 60_000, notAfter: now + 86_400_000 });
    const file = async (name: string, text: string) => {
      await writeFile(path.join(dir, name), text, { mode: 0o600 });
      return path.join(dir, name);
    };
    const caCertFile = await file('ca.pem', ca.certPem);
    const caKeyFile = await file('ca.key', ca.keyPem);
    const siteCertFile = await file('site.pem', certificatePem(siteCert));
    const siteKeyFile = await file('site.key', siteKey.keyPem);

    // The browser's trust: the CA in an NSS database in a HOME of its own, as a trusted root for TLS servers.
    const trustingHome = path.join(dir, 'home-trusting');
    const nssdb = path.join(trustingHome, '.pki', 'nssdb');
    await mkdir(nssdb, { recursive: true });
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', CA_NAME, '-i', caCertFile]);
    const untrustingHome = path.join(dir, 'home-untrusting');
    await mkdir(untrustingHome, { recursive: true });

    pages = await startPages();
    rescuer = await startNode({ user: 'r1', args: RESCUE_ARGS });
    const control = controlOf(rescuer);
    const key = (await control.invoke('rescue.status', {})).nodeKey;
    control.close();
    assert.ok(key);
    tlsPort = await freePort();
    plainPort = await freePort();
    origin = await startOrigin({
      upstream: pages.url,
      capacity: '1mbit',
      band: '0.3-0.6',
      listen: `127.0.0.1:${plainPort}`,
      rescuers: [`127.0.0.1:${rescuer.sipPort}`],
      args: [
        '--site', `https://${SITE_HOST}:${tlsPort}/`,
        '--tls-cert', siteCertFile, '--tls-key', siteKeyFile, '--tls-listen', `127.0.0.1:${tlsPort}`,
        '--trusted-rescuer', `${key}=${RESCUE_HOST}`,
        '--rescue-ca-cert', caCertFile, '--rescue-ca-key', caKeyFile,
      ],
    });
    const resolve = [`--host-resolver-rules=MAP ${SITE_HOST} 127.0.0.1, MAP ${RESCUE_HOST} 127.0.0.1`];
    trusting = await launchBrowser(resolve, { env: { ...process.env, HOME: trustingHome } });
    untrusting = await launchBrowser(resolve, { env: { ...process.env, HOME: untrustingHome } });
  });

  after(async () => {
    await trusting?.close();
    await untrusting?.close();
    await origin?.stop();
    await rescuer?.stop();
    await pages?.close();
    await removeDir(origin?.dataDir);
    await removeDir(rescuer?.dataDir);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a crowd sends the browser to r1.rescue.example.test, which serves the site\'s page under a certificate the site issued it', async () => {
    const plain = `http://127.0.0.1:${plainPort}`;
    for (let i = 0; i < PAGES; i++) await (await fetch(`${plain}/page/${i}.html`)).arrayBuffer();
    // The crowd: ~12 pages of 40 kB a second against 1 Mbit/s. It asks the plain front and
    // does not follow redirects (this process cannot resolve the rescue name); it counts them.
    const tally = { redirected: 0, elsewhere: 0 };
    let stop = false;
    const crowd = (async () => {
      let i = 0;
      const inFlight = new Set<Promise<void>>();
      while (!stop) {
        const one = fetch(`${plain}/page/${i++ % PAGES}.html`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) })
          .then(async (r) => {
            await r.arrayBuffer();
            const location = r.headers.get('location');
            if (r.status === 302 && location) {
              if (location.startsWith(`https://${RESCUE_HOST}:`)) tally.redirected++;
              else tally.elsewhere++;
            }
          })
          .catch(() => undefined)
          .finally(() => inFlight.delete(one));
        inFlight.add(one);
        await new Promise((r) => setTimeout(r, 80));
      }
      await Promise.all(inFlight);
    })();
    try {
      await until('the origin sending users to its verified trusted rescuer', async () => tally.redirected > 5 && (await origin.status()).trust?.rescuers[0]?.state === 'verified', 40_000, () => JSON.stringify(tally));
      const page = await trusting.newPage();
      let landed: { url: string; issuer?: string; subject?: string; text: string } | undefined;
      for (let attempt = 0; attempt < 40 && !landed; attempt++) {
        const response = await page.goto(`https://${SITE_HOST}:${tlsPort}/page/${attempt % PAGES}.html`);
        assert.ok(response, 'a response');
        assert.equal(response.status(), 200);
        if (new URL(page.url()).hostname !== RESCUE_HOST) continue;
        const security = await response.securityDetails();
        landed = { url: page.url(), issuer: security?.issuer, subject: security?.subjectName, text: await page.locator('h1').innerText() };
      }
      assert.ok(landed, 'the browser was sent to the trusted rescuer at least once');
      assert.match(landed.url, new RegExp(`^https://${RESCUE_HOST.replace(/\./g, '\\.')}:\\d+/r/[0-9a-f]{16}/page/\\d+\\.html$`));
      assert.match(landed.text, /^Rescued page \d+$/);
      assert.equal(landed.subject, RESCUE_HOST, 'the rescuer presented its own name, not the site\'s');
      assert.equal(landed.issuer, CA_NAME);
      // Under the name the site gave it, the rescuer serves that site only.
      const elsewhere = await page.goto(landed.url.replace(/\/r\/[0-9a-f]{16}\//, '/r/0123456789abcdef/'));
      assert.equal(elsewhere?.status(), 421);
      await page.close();
      // ...and the refusal is counted on the origin's status page, as a Host no site gave is.
      await until('the origin to count the refused rescue name', async () => (await origin.status()).totals.refusedHosts >= 1, 20_000);

      // A browser that does not trust the site's CA will not take the rescuer's certificate.
      const doubter = await untrusting.newPage();
      await assert.rejects(doubter.goto(landed.url), /ERR_CERT_AUTHORITY_INVALID/);
      await doubter.close();
    } finally {
      stop = true;
      await crowd;
    }
    assert.equal(tally.elsewhere, 0, 'users of the HTTPS site are never sent to plain HTTP');
    const status = await origin.status();
    assert.ok(status.trust!.totals.certificatesIssued >= 1);
    assert.equal(status.trust!.totals.certificatesRefused, 0);
  });
});
