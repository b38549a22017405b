// Rescue with zero configuration on a LAN: a volunteer's node with "help rescue sites" on in one
// network namespace, a web site with `peerdial origin` in front of it in another, given no
// rescuer and no overlay to ask. The origin finds the rescue server by mDNS alone (the node's
// _peerdial._udp TXT record names its rescue URL) and sends users to it across the LAN.
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { OriginView } from '../../native/control/api.js';
import { CLI, REPO_ROOT, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import type { LoadResult } from '../support/web-load.js';
import { makeLan, requireNetnsPrivileges, runIn, spawnIn, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';

const dirs: string[] = [];
const stops: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await Promise.all(dirs.map(removeDir));
});

function firstLine(child: ReturnType<typeof spawnIn>, matches: RegExp, what: string): Promise<string> {
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      out += line + '\n';
      if (matches.test(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${out}`)));
  });
}

describe('rescue on a LAN', () => {
  it('an origin finds a rescue server by mDNS alone and sends users to it across the LAN', async () => {
    await requireNetnsPrivileges();
    const lan: NetnsLan = await makeLan({ hosts: 2 });
    stops.push(() => lan.teardown());
    const [volunteerHost, siteHost] = lan.hosts;

    const volunteerDir = await tempDataDir('peerdial-lan-');
    dirs.push(volunteerDir);
    const volunteer: LanNode = await startLanNode(volunteerHost, ['--data-dir', volunteerDir, '--user', 'vera', '--rescue', '--donate-mbit', '40', '--cache-mb', '50', '--no-multicast-register']);
    stops.push(() => volunteer.stop());
    await until('the rescue server to be on', async () => (await volunteer.invoke('rescue.status', {})).advertised.mdns, 10_000);

    const site = spawnIn(siteHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/web-site.ts')], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    stops.push(async () => site.stdin!.end());
    const { url: upstream, paths } = JSON.parse(await firstLine(site, /^\{/, 'the web site')) as { url: string; paths: string[] };

    const originDir = await tempDataDir('peerdial-origin-');
    dirs.push(originDir);
    const originArgs = ['origin', '--upstream', upstream, '--listen', `${siteHost.address}:8081`, '--capacity', '1mbit', '--band', '0.5-0.7', '--data-dir', originDir, '--status-listen', '127.0.0.1:8090'];
    const origin = spawnIn(siteHost.ns, process.execPath, [CLI, ...originArgs], { cwd: REPO_ROOT });
    stops.push(async () => origin.kill('SIGTERM'));
    await firstLine(origin, /^origin: [0-9a-f]{16}$/, 'peerdial origin');
    const status = async () => JSON.parse((await runIn(siteHost.ns, process.execPath, ['-e', 'fetch("http://127.0.0.1:8090/status.json").then((r) => r.text()).then((t) => process.stdout.write(t))'])).stdout) as OriginView;

    const siteUrl = `http://${siteHost.address}:8081/`;
    const load = async (rps: number, seconds: number) =>
      JSON.parse((await runIn(siteHost.ns, process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/netns/web-load.ts'), siteUrl, upstream, String(rps), String(seconds), ...paths], 60_000)).stdout) as Omit<LoadResult, 'servedBy'> & { servedBy: Record<string, number> };
    await load(5, 2);
    const result = await load(30, 8);
    assert.deepEqual(result.failures.slice(0, 5), [], `no request failed (${result.failures.length} of ${result.sent})`);
    assert.equal(result.mismatched, 0, 'users got the site\'s own bytes');
    const rescuerHost = `${volunteerHost.address}:`;
    assert.ok(Object.keys(result.servedBy).some((h) => h.startsWith(rescuerHost)), `users were served by the volunteer across the LAN: ${JSON.stringify(result.servedBy)}`);
    const s = await status();
    assert.ok(s.rescuers.some((r) => r.httpUrl.startsWith(`http://${volunteerHost.address}:`)), 'the origin lists the rescue server it found on the LAN');
    const view = await volunteer.invoke('rescue.status', {});
    assert.ok(view.sites.some((x) => x.site === siteUrl && x.requestsServed > 0), 'the volunteer lists the site it helped');
  });
});
