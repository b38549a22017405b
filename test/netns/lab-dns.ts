// An authoritative DNS server for a test LAN: Debian's knot, in one host's namespace, serving
// the zones the test writes (NAPTR, SRV, A for SIP domains, RFC 3263). Other hosts use it
// through /etc/netns/NS/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf.
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LanHost } from './lan.js';
import { startLabNameDaemon, type LabNameDaemon } from './lab-name-daemon.js';

export const KNOT_INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s knot)';

export function requireKnot(): void {
  const probe = spawnSync('knotd', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`knotd is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${KNOT_INSTALL_HINT}`);
}

export type LabDns = LabNameDaemon;

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
  return startLabNameDaemon(host, 'knotd', 'knotd', ['-c', path.join(dir, 'knot.conf')], dir, (out) => /server started/i.test(out) && Object.keys(zones).every((z) => new RegExp(`\\[${z.replace(/\./g, '\\.')}\\.\\] loaded`).test(out)));
}
