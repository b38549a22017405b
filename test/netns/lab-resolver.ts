// A caching recursive resolver for a test LAN: Debian's unbound in one host's namespace, asking
// the lab's authoritative server (lab-dns.ts) for the test zones as a stub zone, caching by the
// records' TTL and rotating the order of the addresses it answers (rrset-roundrobin), as the
// resolvers between a site and its users do. Other hosts use it through /etc/netns/NS/resolv.conf.
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LanHost } from './lan.js';
import { startLabNameDaemon, type LabNameDaemon } from './lab-name-daemon.js';

export type LabResolver = LabNameDaemon;

export function requireUnbound(): void {
  const probe = spawnSync('unbound', ['-V'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`unbound is not installed (${(probe.error as NodeJS.ErrnoException).code}): run \`sudo bash scripts/install-test-deps.sh\` (it installs Debian's unbound)`);
}

/** `stubs`: zone -> the authoritative server's address. */
export async function startLabResolver(host: LanHost, stubs: Record<string, string>): Promise<LabResolver> {
  requireUnbound();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-unbound-'));
  await writeFile(
    path.join(dir, 'unbound.conf'),
    [
      'server:',
      `    interface: ${host.address}`,
      '    port: 53',
      '    access-control: 0.0.0.0/0 allow',
      '    do-ip6: no',
      '    do-not-query-localhost: no',
      '    username: ""',
      '    chroot: ""',
      `    directory: "${dir}"`,
      `    pidfile: "${path.join(dir, 'unbound.pid')}"`,
      '    use-syslog: no',
      '    logfile: ""',
      '    verbosity: 1',
      '    module-config: "iterator"',
      '    rrset-roundrobin: yes',
      '    prefetch: no',
      ...Object.keys(stubs).map((zone) => `    domain-insecure: "${zone}"`),
      // unbound answers special-use names (RFC 6761: test., invalid., ...) itself unless told not to.
      ...[...new Set(Object.keys(stubs).flatMap((zone) => [zone, zone.split('.').pop()!]))].map((zone) => `    local-zone: "${zone}." nodefault`),
      'remote-control:',
      '    control-enable: no',
      ...Object.entries(stubs).flatMap(([zone, address]) => ['stub-zone:', `    name: "${zone}"`, `    stub-addr: ${address}`]),
      '',
    ].join('\n'),
  );
  return startLabNameDaemon(host, 'unbound', 'unbound', ['-d', '-c', path.join(dir, 'unbound.conf')], dir, (out) => /start of service/i.test(out));
}
