// What the lab's DNS daemons (lab-dns.ts: knot; lab-resolver.ts: unbound) share: one process in
// a host's namespace, waited on until its log says it is ready, which other hosts then use as
// their name server through /etc/netns/NS/resolv.conf.
import type { ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runIn, spawnIn, type LanHost } from './lan.js';

export interface LabNameDaemon {
  address: string;
  output(): string;
  /** Points `hosts` at this server (their resolv.conf), and undoes it on stop. */
  serve(hosts: LanHost[]): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `command` in `host`'s namespace and waits (10 s at most) until `ready(output)`; `dir` is removed on stop. */
export async function startLabNameDaemon(
  host: LanHost,
  what: string,
  command: string,
  args: string[],
  dir: string,
  ready: (output: string) => boolean,
): Promise<LabNameDaemon> {
  const child: ChildProcess = spawnIn(host.ns, command, args, { cwd: dir });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!ready(out)) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready within 10 s:\n${out}`);
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
      // The first query from each host must not race the daemon's start.
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
