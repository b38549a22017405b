// A caching recursive resolver for a test LAN: Debian's unbound in one host's namespace, asking
// the lab's authoritative server (lab-dns.ts) for the test zones as a stub zone, caching by the
// records' TTL and rotating the order of the addresses it answers (rrset-roundrobin), as the
// resolvers between a site and its users do. Other hosts use it through /etc/netns/NS/resolv.conf.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runIn, spawnIn, type LanHost } from './lan.js';

export interface LabResolver {
  address: string;
  output(): string;
  /** Points `hosts` at this resolver (their resolv.conf), and undoes it on stop. */
  serve(hosts: LanHost[]): Promise<void>;
  stop(): Promise<void>;
}

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
  const child: ChildProcess = spawnIn(host.ns, 'unbound', ['-d', '-c', path.join(dir, 'unbound.conf')], { cwd: dir });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!/start of service/i.test(out)) {
    if (child.exitCode !== null) throw new Error(`unbound exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`unbound did not start within 10 s:\n${out}`);
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
