// The network of the rescue benchmark (bench/rescue.ts): one switch namespace holding a bridge,
// and hosts (the origin, the rescue nodes, the client) each in its own namespace with a veth port
// on that bridge and an address on 10.78.0.0/24. Hosts may have their egress capped by a tc tbf
// on their interface, as a home or small-server uplink is.
//
// Every namespace is named `pdrescue-PID-RANDOM-ROLE`: a later run removes what a crashed or
// killed one left behind (its PID is gone), and nothing is ever done in the root namespace
// beyond creating and deleting these namespaces.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { deleteNamespace, ip, removeLeftoverNamespaces, runIn, spawnIn } from '../test/netns/lan.js';

const exec = promisify(execFile);
export const NETNS_PREFIX = 'pdrescue';
const SUBNET = '10.78.0';

export interface RescueHost {
  /** origin, client, r1, r2, ... */
  role: string;
  ns: string;
  address: string;
  /** Its interface inside the namespace. */
  iface: string;
  /** The tbf rate on its egress, Mbit/s; undefined when uncapped. */
  capMbit?: number;
}

export interface RescueNet {
  readonly switchNs: string;
  readonly hosts: RescueHost[];
  addHost(role: string, options?: { capMbit?: number; address?: string }): Promise<RescueHost>;
  /** Kills every process in the namespaces and deletes them. Safe to call twice. */
  teardown(): Promise<void>;
}

export async function requireRoot(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('bench:rescue needs root: it makes network namespaces, a bridge and tc qdiscs (run it as root).');
  }
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['tc', 'iproute2'],
  ]) {
    try {
      await exec(tool, ['-V']);
    } catch {
      throw new Error(`bench:rescue needs \`${tool}\` (Debian package ${pkg}): run scripts/install-test-deps.sh.`);
    }
  }
}

// The namespace plumbing is the test LAN's (test/netns/lan.ts).
export { deleteNamespace, ip, runIn, spawnIn };

/** `tc qdisc replace ... tbf`: a token bucket of `mbit` on the host's egress. */
export async function capEgress(host: RescueHost, mbit: number): Promise<void> {
  // burst: what the link may send at once (about 2.5 ms of the rate, at least 16 KB so that a
  // 64 KB GSO packet is split, not dropped); latency bounds the queue (50 ms, as a modem's buffer).
  const burstBytes = Math.max(16 * 1024, Math.round((mbit * 1e6) / 8 / 400));
  await runIn(host.ns, 'tc', ['qdisc', 'replace', 'dev', host.iface, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes), 'latency', '50ms']);
  host.capMbit = mbit;
}

/** What tc says the qdisc on the host's interface sent and dropped (to show the cap did its work). */
export async function qdiscStats(host: RescueHost): Promise<{ sentBytes: number; dropped: number; overlimits: number } | undefined> {
  try {
    const { stdout } = await runIn(host.ns, 'tc', ['-s', 'qdisc', 'show', 'dev', host.iface]);
    const m = /Sent (\d+) bytes \d+ pkt \(dropped (\d+), overlimits (\d+)/.exec(stdout);
    return m ? { sentBytes: Number(m[1]), dropped: Number(m[2]), overlimits: Number(m[3]) } : undefined;
  } catch {
    return undefined;
  }
}

export async function makeRescueNet(): Promise<RescueNet> {
  await removeLeftovers();
  const run = `${NETNS_PREFIX}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const switchNs = `${run}-sw`;
  const made: string[] = [];
  const hosts: RescueHost[] = [];
  let tornDown = false;
  const addNamespace = async (ns: string) => {
    await ip('netns', 'add', ns);
    made.push(ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  };
  const net: RescueNet = {
    switchNs,
    hosts,
    async addHost(role, options = {}) {
      if (tornDown) throw new Error('the rescue network is torn down');
      const index = hosts.length;
      const ns = `${run}-${role}`;
      await addNamespace(ns);
      const iface = 'eth0';
      const port = `p${index}`;
      await ip('link', 'add', iface, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs);
      await ip('-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up');
      const address = options.address ?? `${SUBNET}.${index + 1}`;
      await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', iface);
      await ip('-n', ns, 'link', 'set', iface, 'up');
      // mDNS and the SIP multicast REGISTER need a multicast route to leave the host.
      await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', iface);
      const host: RescueHost = { role, ns, address, iface };
      if (options.capMbit) await capEgress(host, options.capMbit);
      hosts.push(host);
      return host;
    },
    async teardown() {
      tornDown = true;
      for (const ns of [...made].reverse()) await deleteNamespace(ns);
      made.length = 0;
    },
  };
  try {
    await addNamespace(switchNs);
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
  } catch (error) {
    await net.teardown();
    throw error;
  }
  return net;
}

/** Namespaces of earlier runs of this benchmark whose process is gone. */
export function removeLeftovers(): Promise<string[]> {
  return removeLeftoverNamespaces(NETNS_PREFIX);
}
