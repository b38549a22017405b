// DNS round robin (issue 18 item 2), in network namespaces this test makes and removes: a real
// authoritative server (knot) holding the site's zone and taking updates signed with a TSIG key,
// a caching resolver (unbound) in front of it that users ask, a web site behind `peerdial
// origin --dns-update`, a volunteer's node with "help rescue sites" on, and users who reach the
// site by its name. What a site owner sees: in a flash crowd the rescuer's address joins the
// site's name and users arrive at it by name, each getting the site's own bytes; when the crowd
// is over the address leaves the zone; a bad key or a refused update says what is wrong, and
// load still moves by redirects; a rescuer asked for a name no site gave it refuses and counts it.
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { OriginView } from '../../native/control/api.js';
import { CLI, REPO_ROOT, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { makeLan, requireNetnsPrivileges, runIn, spawnIn, type LanHost, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';
import { startLabDns, type LabDns } from '../netns/lab-dns.js';
import { startLabResolver, type LabResolver } from '../netns/lab-resolver.js';

const ZONE = 'example.test';
const NAME = `www.${ZONE}`;
const KEY = { name: 'peerdial-origin', algorithm: 'hmac-sha256', secret: Buffer.from('peerdial dns round robin test key').toString('base64') };
/** Known to the server, allowed to update another zone only. */
const OTHER_KEY = { name: 'someone-else', algorithm: 'hmac-sha256', secret: Buffer.from('a key that may not update this zone').toString('base64') };

const dirs: string[] = [];
const stops: Array<() => Promise<unknown>> = [];
let lan: NetnsLan;
let dnsHost: LanHost, resolverHost: LanHost, siteHost: LanHost, volunteerHost: LanHost, userHost: LanHost, malloryHost: LanHost;
let dns: LabDns;
let resolver: LabResolver;
let volunteer: LanNode;
let upstream: string;
let digests: Record<string, string>;
let keyDir: string;

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await Promise.all(dirs.map(removeDir));
});

function lines(child: ReturnType<typeof spawnIn>): { wait(matches: RegExp, what: string): Promise<string>; text(): string } {
  let out = '';
  const waiting: Array<{ matches: RegExp; resolve(line: string): void }> = [];
  child.stderr!.on('data', (d) => (out += d));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out += line + '\n';
    for (const w of waiting.splice(0)) {
      if (w.matches.test(line)) w.resolve(line);
      else waiting.push(w);
    }
  });
  return {
    text: () => out,
    wait: (matches, what) => {
      const already = out.split('\n').find((l) => matches.test(l));
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what} did not appear:\n${out}`)), 20_000);
        waiting.push({ matches, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        child.once('exit', (code) => reject(new Error(`exited with ${code} before ${what}:\n${out}`)));
      });
    },
  };
}

async function startSiteOrigin(args: string[], statusPort: number) {
  const originDir = await tempDataDir('peerdial-origin-');
  dirs.push(originDir);
  const child = spawnIn(siteHost.ns, process.execPath, [CLI, 'origin', '--upstream', upstream, '--capacity', '1mbit', '--band', '0.5-0.7', '--data-dir', originDir, '--status-listen', `127.0.0.1:${statusPort}`, ...args], { cwd: REPO_ROOT });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  stops.push(stop);
  const out = lines(child);
  await out.wait(/^origin: [0-9a-f]{16}$/, 'peerdial origin');
  const status = async () => JSON.parse((await runIn(siteHost.ns, process.execPath, ['-e', `fetch("http://127.0.0.1:${statusPort}/status.json").then((r) => r.text()).then((t) => process.stdout.write(t))`])).stdout) as OriginView;
  const page = async () => (await runIn(siteHost.ns, process.execPath, ['-e', `fetch("http://127.0.0.1:${statusPort}/").then((r) => r.text()).then((t) => process.stdout.write(t))`])).stdout;
  return { out, status, page, stop };
}

/** The site's name as users' resolver answers it. */
async function resolved(): Promise<string[]> {
  const { stdout } = await runIn(userHost.ns, process.execPath, ['-e', `require("node:dns").promises.resolve4(${JSON.stringify(NAME)}).then((a) => process.stdout.write(JSON.stringify(a.sort())), () => process.stdout.write("[]"))`]);
  return JSON.parse(stdout) as string[];
}

interface ByNameLoad {
  sent: number;
  ok: number;
  mismatched: number;
  redirected: number;
  failures: string[];
  byName: Record<string, number>;
  byRedirect: Record<string, number>;
}

async function loadByName(site: string, rps: number, seconds: number): Promise<ByNameLoad> {
  const { stdout } = await runIn(userHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/web-load-by-name.ts'), site, String(rps), String(seconds), JSON.stringify(digests)], 90_000);
  return JSON.parse(stdout) as ByNameLoad;
}

before(async () => {
  await requireNetnsPrivileges();
  lan = await makeLan({ hosts: 6 });
  stops.push(() => lan.teardown());
  [dnsHost, resolverHost, siteHost, volunteerHost, userHost, malloryHost] = lan.hosts;
  dns = await startLabDns(dnsHost, { [ZONE]: `www A ${siteHost.address}`, 'other.test': `www A ${siteHost.address}` }, { updateKeys: [{ ...KEY, zones: [ZONE] }, { ...OTHER_KEY, zones: ['other.test'] }] });
  stops.push(() => dns.stop());
  resolver = await startLabResolver(resolverHost, { [ZONE]: dnsHost.address });
  stops.push(() => resolver.stop());
  await resolver.serve([userHost, siteHost]);

  const volunteerDir = await tempDataDir('peerdial-lan-');
  dirs.push(volunteerDir);
  // The rescue server on the site's own port (80): users who look the name up connect to ADDRESS:80.
  volunteer = await startLanNode(volunteerHost, ['--data-dir', volunteerDir, '--user', 'vera', '--rescue', '--rescue-port', '80', '--donate-mbit', '40', '--cache-mb', '50', '--no-multicast-register']);
  stops.push(() => volunteer.stop());
  await until('the rescue server to be on', async () => (await volunteer.invoke('rescue.status', {})).advertised.mdns, 10_000);

  const site = spawnIn(siteHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/web-site.ts')], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
  stops.push(async () => site.stdin!.end());
  const first = await lines(site).wait(/^\{/, 'the web site');
  const described = JSON.parse(first) as { url: string; paths: string[] };
  upstream = described.url;
  const { stdout } = await runIn(siteHost.ns, process.execPath, [
    '-e',
    `const { createHash } = require("node:crypto"); Promise.all(${JSON.stringify(described.paths)}.map(async (p) => [p, createHash("sha256").update(Buffer.from(await (await fetch(new URL(p, ${JSON.stringify(upstream)}))).arrayBuffer())).digest("hex")])).then((e) => process.stdout.write(JSON.stringify(Object.fromEntries(e))))`,
  ]);
  digests = JSON.parse(stdout) as Record<string, string>;

  keyDir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-tsig-'));
  stops.push(() => rm(keyDir, { recursive: true, force: true }));
  // As `tsig-keygen peerdial-origin` prints it.
  await writeFile(path.join(keyDir, 'origin.key'), `key "${KEY.name}" {\n\talgorithm ${KEY.algorithm};\n\tsecret "${KEY.secret}";\n};\n`, { mode: 0o600 });
  await writeFile(path.join(keyDir, 'wrong.key'), `key "${KEY.name}" {\n\talgorithm ${KEY.algorithm};\n\tsecret "${Buffer.from('not the secret the server holds').toString('base64')}";\n};\n`, { mode: 0o600 });
});

describe('DNS round robin', () => {
  it('the update client adds and deletes one address at a real server, and says why a refused update was refused', async () => {
    const run = async (key: typeof KEY, add: string, remove: string) =>
      JSON.parse((await runIn(siteHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/dns-update-run.ts'), dnsHost.address, `${key.name}:${key.algorithm}:${key.secret}`, ZONE, NAME, add, remove])).stdout) as {
        outcome: { ok: boolean; reason?: string };
        addresses: string[];
      };
    const added = await run(KEY, '10.77.0.200', '');
    assert.equal(added.outcome.ok, true, `the update with the zone's key worked: ${added.outcome.reason}`);
    assert.deepEqual(added.addresses, [siteHost.address, '10.77.0.200'].sort(), 'the address joined the name beside the site\'s own');
    const removed = await run(KEY, '', '10.77.0.200');
    assert.equal(removed.outcome.ok, true);
    assert.deepEqual(removed.addresses, [siteHost.address], 'only that address left: the site\'s own stayed');

    const badSecret = await run({ ...KEY, secret: Buffer.from('not the secret the server holds').toString('base64') }, '10.77.0.201', '');
    assert.equal(badSecret.outcome.ok, false);
    assert.match(badSecret.outcome.reason!, /BADSIG.*secret of key "peerdial-origin"/);
    const unknownKey = await run({ ...KEY, name: 'nobody-knows-me' }, '10.77.0.201', '');
    assert.match(unknownKey.outcome.reason!, /does not accept TSIG key "nobody-knows-me" \(hmac-sha256\) for zone example\.test \(BADKEY\)/);
    const notAllowed = await run(OTHER_KEY, '10.77.0.201', '');
    assert.equal(notAllowed.outcome.ok, false);
    // knot says BADKEY for a key the zone's ACL does not name; BIND says REFUSED or NOTAUTH.
    assert.match(notAllowed.outcome.reason!, /"someone-else".*(BADKEY|NOTAUTH|REFUSED)/);
    assert.match(notAllowed.outcome.reason!, /may not update/);
    assert.deepEqual(notAllowed.addresses, [siteHost.address], 'no refused update changed the zone');
  });

  it('in a flash crowd the rescuer joins the site\'s name, users arrive at it by name, and it leaves when the crowd is over', async () => {
    assert.deepEqual(await resolved(), [siteHost.address], 'before the crowd the name is the site alone');
    const origin = await startSiteOrigin(['--listen', `${siteHost.address}:80`, '--site', `http://${NAME}/`, '--dns-update', dnsHost.address, '--tsig-key-file', path.join(keyDir, 'origin.key'), '--dns-ttl', '2'], 8090);
    await origin.out.wait(/^dns: rescuers go into www\.example\.test \(zone example\.test, TTL 2 s\)/, 'the DNS line');
    assert.equal((await origin.status()).dns?.state, 'ready', 'the key was checked at start');

    await loadByName(`http://${NAME}/`, 5, 2);
    const crowd = await loadByName(`http://${NAME}/`, 30, 12);
    assert.deepEqual(crowd.failures.slice(0, 5), [], `no request failed (${crowd.failures.length} of ${crowd.sent})`);
    assert.equal(crowd.mismatched, 0, 'users got the site\'s own bytes');
    assert.ok((crowd.byName[volunteerHost.address] ?? 0) > 0, `users who looked the name up were served by the volunteer directly: ${JSON.stringify(crowd)}`);

    const during = await origin.status();
    assert.equal(during.state, 'sos');
    assert.deepEqual(during.dns?.addresses, [volunteerHost.address], 'the status page lists the rescuer\'s address in the zone');
    assert.ok((await resolved()).includes(volunteerHost.address), 'the users\' resolver hands out the rescuer\'s address');
    await until('the rescuer to report what it served by name', async () => (await origin.status()).totals.byName > 0, 10_000);

    // A name no site gave it: refused (421), and counted on the origin's status page.
    const wrong = await runIn(userHost.ns, process.execPath, ['-e', `require("node:http").get({ host: ${JSON.stringify(volunteerHost.address)}, port: 80, path: "/", headers: { host: "bank.example" } }, (r) => { r.resume(); process.stdout.write(String(r.statusCode)); })`]);
    assert.equal(wrong.stdout, '421', 'a rescuer serves no name it was not given');
    const counted = await until('the origin to show the refused host name', async () => {
      const s = await origin.status();
      return s.totals.refusedHosts >= 1 ? s : undefined;
    }, 10_000);
    assert.ok(counted.rescuers.some((r) => (r.refusedHosts ?? 0) >= 1));
    assert.match(await origin.page(), /1 refused for host names no site gave them/);

    // Another site naming the same host name is refused while this one is served under it.
    const rival = JSON.parse(
      (await runIn(userHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/sos-run.ts'), userHost.address, `sip:rescue@${volunteerHost.address}:5060`, `http://${NAME}/`, NAME])).stdout,
    ) as { type: string; reason?: string };
    assert.deepEqual(rival, { type: 'reject', reason: `another site is served under ${NAME} here` });

    // The crowd is over: the origin releases the rescuer and deletes its address.
    const after = await until('the rescuer\'s address to leave the zone', async () => {
      const s = await origin.status();
      return s.state === 'normal' && s.dns?.addresses.length === 0 ? s : undefined;
    }, 45_000);
    assert.ok(after.log.some((l) => l.text.includes(`DNS: removed ${volunteerHost.address} from ${NAME}`)), 'the log says the address was removed');
    // A user whose resolver still held the rescuer's address is sent back to the site itself.
    const firstPath = Object.keys(digests)[0];
    const late = await until('the rescuer to send a late user back to the site', async () => {
      const { stdout } = await runIn(userHost.ns, process.execPath, ['-e', `require("node:http").get({ host: ${JSON.stringify(volunteerHost.address)}, port: 80, path: ${JSON.stringify(firstPath)}, headers: { host: ${JSON.stringify(NAME)} } }, (r) => { r.resume(); process.stdout.write(JSON.stringify([r.statusCode, r.headers.location])); })`]);
      const [code, location] = JSON.parse(stdout) as [number, string | undefined];
      return code === 302 ? location : undefined;
    }, 10_000);
    assert.equal(new URL(late!).host, siteHost.address, 'to the site\'s own address: its name may still lead to the rescuer');
    assert.equal(new URL(late!).pathname, firstPath);
    await until('the users\' resolver to answer the site alone again (after the TTL)', async () => JSON.stringify(await resolved()) === JSON.stringify([siteHost.address]), 10_000);
    await origin.stop();
  });

  it('an update the server refuses leaves the load to redirects, and the origin says why', async () => {
    const origin = await startSiteOrigin(['--listen', `${siteHost.address}:8081`, '--site', `http://${NAME}:8081/`, '--dns-update', dnsHost.address, '--tsig-key-file', path.join(keyDir, 'wrong.key'), '--dns-ttl', '2'], 8091);
    const line = await origin.out.wait(/^dns: /, 'the DNS line');
    assert.match(line, /cannot be updated at .*BADSIG.*moving load by HTTP redirects only/);
    const s = await origin.status();
    assert.equal(s.dns?.state, 'failed');
    assert.match(s.dns!.lastError!, /secret of key "peerdial-origin" differs/);
    assert.match(await origin.page(), /Failing: .*BADSIG.*Load moves by HTTP redirects only/);

    await loadByName(`http://${NAME}:8081/`, 5, 2);
    const crowd = await loadByName(`http://${NAME}:8081/`, 30, 10);
    assert.deepEqual(crowd.failures.slice(0, 5), [], `no request failed (${crowd.failures.length} of ${crowd.sent})`);
    assert.equal(crowd.mismatched, 0);
    assert.ok(crowd.redirected > 0, `the crowd still moved by redirects: ${JSON.stringify(crowd)}`);
    assert.deepEqual(await resolved(), [siteHost.address], 'nothing was added to the name');
    assert.deepEqual((await origin.status()).dns?.addresses, []);
    await origin.stop();
  });

  it('a rescuer that alters what it serves by name is caught by a spot check by name, dropped, and taken out of the zone', async () => {
    const malloryDir = await tempDataDir('peerdial-lan-');
    dirs.push(malloryDir);
    // Its rescue server on 8080 behind a front on 80 that alters only what is served by name.
    const mallory = await startLanNode(malloryHost, ['--data-dir', malloryDir, '--user', 'mallory', '--rescue', '--rescue-port', '8080', '--rescue-url', `http://${malloryHost.address}:80`, '--donate-mbit', '40', '--cache-mb', '50', '--no-multicast-register']);
    stops.push(() => mallory.stop());
    const front = spawnIn(malloryHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/tamper-by-name.ts'), malloryHost.address, '80', '8080'], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    stops.push(async () => front.stdin!.end());
    await lines(front).wait(/^ready$/, 'the tampering front');

    const origin = await startSiteOrigin(['--listen', `${siteHost.address}:80`, '--site', `http://${NAME}/`, '--no-mdns', '--rescuer', `${malloryHost.address}:5060`, '--dns-update', dnsHost.address, '--tsig-key-file', path.join(keyDir, 'origin.key'), '--dns-ttl', '2'], 8092);
    await loadByName(`http://${NAME}/`, 5, 2);
    await loadByName(`http://${NAME}/`, 30, 10);
    const dropped = await until('the origin to drop the rescuer', async () => (await origin.status()).rescuers.find((r) => r.state === 'dropped'), 30_000);
    assert.match(dropped.reason ?? '', /altered content: it served content for www\.example\.test that does not match the site's digest/);
    const s = await until('its address to leave the zone', async () => {
      const v = await origin.status();
      return v.dns?.addresses.length === 0 ? v : undefined;
    }, 15_000);
    assert.ok(s.totals.spotCheckFailures >= 1);
    assert.ok(s.log.some((l) => l.text.includes(`DNS: added ${malloryHost.address} to ${NAME}`)), 'it had been in the zone');
    assert.ok(s.log.some((l) => l.text.includes(`DNS: removed ${malloryHost.address} from ${NAME}`)), 'and was taken out');
    await origin.stop();
  });
});
