// A LAN made of network namespaces for tests: one "switch" namespace holding one or more
// bridges, and hosts that each have a veth port on a bridge with an address on 10.77.0.0/24.
// Every namespace is named with this run's process ID, so a later run removes what a crashed
// one left behind; nothing is done in the root namespace.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const PREFIX = 'pdlan';

export interface LanHost {
  /** The namespace. */
  ns: string;
  /** Its address on the LAN. */
  address: string;
  /** Its interface (inside the namespace). */
  iface: string;
  /** The bridge it is plugged into. */
  bridge: number;
}

export interface NetnsLan {
  readonly switchNs: string;
  readonly hosts: LanHost[];
  /** Plugs a new host into `bridge` (default 0). */
  addHost(bridge?: number): Promise<LanHost>;
  /** Connects two bridges with a cable: their hosts are one LAN from then on. */
  linkBridges(a: number, b: number): Promise<void>;
  /** Drops mDNS (UDP 5353) in and out of a host. */
  blockMdns(host: LanHost): Promise<void>;
  /** Drops the SIP multicast REGISTER (anything to 224.0.1.75) in and out of a host. */
  blockMulticastRegister(host: LanHost): Promise<void>;
  /**
   * Drops this fraction of the UDP datagrams arriving at a host's ports LO-HI, each at random
   * (iptables' statistic match: the kernels we run on have no netem). Resolves with the undo.
   */
  loseUdp(host: LanHost, ports: string, fraction: number): Promise<() => Promise<void>>;
  /** Kills every process in the namespaces and deletes them (and their links with them). */
  teardown(): Promise<void>;
}

/** Fails (never skips) with a sentence saying what is missing: CI runs these tests as root. */
export async function requireNetnsPrivileges(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('This test needs root: it makes network namespaces, bridges and iptables rules (run it as root, as CI does).');
  }
  try {
    await exec('ip', ['-V']);
  } catch {
    throw new Error('This test needs the `ip` command (Debian package iproute2): run scripts/install-test-deps.sh.');
  }
}

export async function ip(...args: string[]): Promise<string> {
  return (await exec('ip', args)).stdout;
}

/** Runs a command inside a namespace to completion. */
export async function runIn(ns: string, command: string, args: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
  return exec('ip', ['netns', 'exec', ns, command, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
}

/** Starts a long-running command inside a namespace. */
export function spawnIn(ns: string, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/**
 * The namespaces of one test run, named `PREFIX-PID-RANDOM-...` (what an earlier, crashed run
 * left under PREFIX is removed first): `add` makes one with its loopback up, `teardown` kills
 * what runs in them and deletes them, newest first.
 */
export async function namespaceRun(prefix: string): Promise<{ run: string; add(ns: string): Promise<void>; teardown(): Promise<void> }> {
  await removeLeftoverNamespaces(prefix);
  const made: string[] = [];
  return {
    run: `${prefix}-${process.pid}-${randomBytes(2).toString('hex')}`,
    async add(ns) {
      await ip('netns', 'add', ns);
      made.push(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    },
    async teardown() {
      for (const ns of [...made].reverse()) await deleteNamespace(ns);
      made.length = 0;
    },
  };
}

export async function makeLan(options: { hosts: number; bridges?: number; hostBridges?: number[] } = { hosts: 0 }): Promise<NetnsLan> {
  const { run, add: addNamespace, teardown } = await namespaceRun(PREFIX);
  const switchNs = `${run}-sw`;
  const hosts: LanHost[] = [];
  let links = 0;
  const lan: NetnsLan = {
    switchNs,
    hosts,
    async addHost(bridge = 0) {
      const index = hosts.length;
      const ns = `${run}-h${index}`;
      await addNamespace(ns);
      const iface = 'eth0';
      const port = `p${index}`;
      await ip('link', 'add', iface, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs);
      await ip('-n', switchNs, 'link', 'set', port, 'master', `br${bridge}`, 'up');
      const address = `10.77.0.${index + 1}`;
      await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', iface);
      await ip('-n', ns, 'link', 'set', iface, 'up');
      // Without a route for multicast, a socket that names no interface cannot send to a group.
      await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', iface);
      const host = { ns, address, iface, bridge };
      hosts.push(host);
      return host;
    },
    async linkBridges(a, b) {
      const n = links++;
      await ip('-n', switchNs, 'link', 'add', `l${n}a`, 'type', 'veth', 'peer', 'name', `l${n}b`);
      await ip('-n', switchNs, 'link', 'set', `l${n}a`, 'master', `br${a}`, 'up');
      await ip('-n', switchNs, 'link', 'set', `l${n}b`, 'master', `br${b}`, 'up');
    },
    async blockMdns(host) {
      await iptables(host.ns, ['-A', 'INPUT', '-p', 'udp', '--dport', '5353', '-j', 'DROP']);
      await iptables(host.ns, ['-A', 'OUTPUT', '-p', 'udp', '--dport', '5353', '-j', 'DROP']);
    },
    async blockMulticastRegister(host) {
      await iptables(host.ns, ['-A', 'INPUT', '-d', '224.0.1.75', '-j', 'DROP']);
      await iptables(host.ns, ['-A', 'OUTPUT', '-d', '224.0.1.75', '-j', 'DROP']);
    },
    async loseUdp(host, ports, fraction) {
      const rule = ['INPUT', '-p', 'udp', '--dport', ports.replace('-', ':'), '-m', 'statistic', '--mode', 'random', '--probability', String(fraction), '-j', 'DROP'];
      await iptables(host.ns, ['-A', ...rule]);
      return () => iptables(host.ns, ['-D', ...rule]);
    },
    teardown,
  };
  try {
    await addNamespace(switchNs);
    for (let b = 0; b < (options.bridges ?? 1); b++) {
      await ip('-n', switchNs, 'link', 'add', `br${b}`, 'type', 'bridge');
      // Without snooping the bridge floods multicast to every port, as a plain switch does.
      await ip('-n', switchNs, 'link', 'set', `br${b}`, 'type', 'bridge', 'mcast_snooping', '0');
      await ip('-n', switchNs, 'link', 'set', `br${b}`, 'up');
    }
    for (let i = 0; i < options.hosts; i++) await lan.addHost(options.hostBridges?.[i] ?? 0);
  } catch (error) {
    await teardown();
    throw error;
  }
  return lan;
}

async function iptables(ns: string, rule: string[]): Promise<void> {
  try {
    await runIn(ns, 'iptables', ['-w', ...rule]);
  } catch (error) {
    throw new Error(`iptables ${rule.join(' ')} failed in ${ns} (is the iptables package installed?): ${(error as Error).message}`);
  }
}

/** Kills the processes inside a namespace (SIGKILL), waits for them to go, and deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = (await ip('netns', 'pids', ns).catch(() => ''))
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  // A killed process leaves its namespace only once it has died: wait a little for that.
  for (let i = 0; i < 20 && pids.length; i++) {
    const left = (await ip('netns', 'pids', ns).catch(() => '')).trim();
    if (!left) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await ip('netns', 'del', ns).catch(() => undefined);
}

/**
 * Namespaces named `PREFIX-PID-...` by earlier runs whose process is gone (a crash, a killed
 * run): deleted; returns their names.
 */
export async function removeLeftoverNamespaces(prefix: string): Promise<string[]> {
  const list = await ip('netns', 'list').catch(() => '');
  const removed: string[] = [];
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(name);
    if (!m || alive(Number(m[1]))) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
