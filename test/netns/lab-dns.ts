// An authoritative DNS server for a test LAN: Debian's knot, in one host's namespace, serving
// the zones the test writes (NAPTR, SRV, A for SIP domains, RFC 3263). Other hosts use it
// through /etc/netns/NS/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runIn, spawnIn, type LanHost } from './lan.js';

export const KNOT_INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s knot)';

export function requireKnot(): void {
  const probe = spawnSync('knotd', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`knotd is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${KNOT_INSTALL_HINT}`);
}

export interface LabDns {
  address: string;
  output(): string;
  /** Points `hosts` at this server (their resolv.conf), and undoes it on stop. */
  serve(hosts: LanHost[]): Promise<void>;
  stop(): Promise<void>;
}

/** A TSIG key the server knows, and the zones it may update (RFC 2136 dynamic updates). */
export interface LabDnsUpdateKey {
  name: string;
  algorithm: string;
  /** base64 */
  secret: string;
  zones: string[];
}

/**
 * `zones`: domain -> the zone file's records after $ORIGIN and $TTL (SOA and NS are added).
 * `updateKeys`: keys allowed to update those zones (any other update is refused).
 */
export async function startLabDns(host: LanHost, zones: Record<string, string>, options: { updateKeys?: LabDnsUpdateKey[] } = {}): Promise<LabDns> {
  requireKnot();
  const keys = options.updateKeys ?? [];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-knot-'));
  for (const [domain, records] of Object.entries(zones)) {
    await writeFile(
      path.join(dir, `${domain}.zone`),
      [`$ORIGIN ${domain}.`, '$TTL 60', `@ SOA ns.${domain}. admin.${domain}. 1 3600 600 86400 60`, `@ NS ns.${domain}.`, `ns A ${host.address}`, records, ''].join('\n'),
    );
  }
  await writeFile(
    path.join(dir, 'knot.conf'),
    [
      'server:',
      `    listen: ${host.address}@53`,
      `    rundir: ${dir}`,
      'database:',
      `    storage: ${dir}`,
      'log:',
      '  - target: stderr',
      '    any: info',
      ...(keys.length
        ? [
            'key:',
            ...keys.flatMap((k) => [`  - id: ${k.name}`, `    algorithm: ${k.algorithm}`, `    secret: ${k.secret}`]),
            'acl:',
            ...keys.flatMap((k, i) => [`  - id: update${i}`, `    key: ${k.name}`, '    action: update']),
          ]
        : []),
      'zone:',
      ...Object.keys(zones).flatMap((domain) => {
        const acl = keys.flatMap((k, i) => (k.zones.includes(domain) ? [`update${i}`] : []));
        // Updates are kept in the journal and written back to the file at once (the test reads neither).
        return [`  - domain: ${domain}`, `    file: ${path.join(dir, `${domain}.zone`)}`, ...(acl.length ? [`    acl: [${acl.join(', ')}]`, '    zonefile-sync: -1', '    journal-content: changes'] : [])];
      }),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawnIn(host.ns, 'knotd', ['-c', path.join(dir, 'knot.conf')], { cwd: dir });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!/server started/i.test(out) || Object.keys(zones).some((z) => !new RegExp(`\\[${z.replace(/\./g, '\\.')}\\.\\] loaded`).test(out))) {
    if (child.exitCode !== null) throw new Error(`knotd exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`knotd did not load its zones within 10 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const served: string[] = [];
  return {
    address: host.address,
    output: () => out,
    async serve(hosts) {
      for (const h of hosts) {
        const etc = `/etc/netns/${h.ns}`;
        await mkdir(etc, { recursive: true });
        await writeFile(path.join(etc, 'resolv.conf'), `nameserver ${host.address}\noptions timeout:1 attempts:2\n`);
        served.push(etc);
      }
      // The first query from each host must not race knotd's start.
      await runIn(hosts[0].ns, 'true', []);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const etc of served) await rm(etc, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
