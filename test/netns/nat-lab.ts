// A NAT lab for tests: a "public" network, home routers of each NAT behaviour on it, and hosts
// behind them, all network namespaces. Nothing is done in the root namespace: every address,
// sysctl, iptables/nftables rule and daemon lives in a namespace of this run.
//
//   public network   198.51.100.0/24 (TEST-NET-2) on bridge br0 in the switch namespace (…-sw)
//     public host    .10 .11 .12 .13 (…-pub: members, coturn); addPublicHost(): .20, .21, …
//                    (addPublicHost({ firewall: true }): no NAT, but a stateful firewall drops all it did not ask for)
//     router N       .100+N on its `wan` veth (…-rN)
//   router N's LAN   192.168.(10+N).0/24 on bridge `lan` in the router: the router is .1, hosts .2, .3, …
//   'double'         the carrier's router (…-rN, public side) and the home router (…-rNi) share
//                    100.64.N.0/24 (RFC 6598, carrier-grade NAT): .1 the carrier, .2 the home router
//   'routed'         no NAT: router N's network is 198.18.N.0/24 (RFC 2544's range, public-style
//                    addresses), routed to and from the public network by the upstream (below)
//
// Routers (mapping and filtering as RFC 4787 names them, and as coturn's RFC 5780 client finds them):
//
//   kind                 mapping                      filtering                    rules
//   full-cone            endpoint-independent         endpoint-independent         MASQUERADE; nftables remembers each mapped port's host:port and DNATs anything to that port back to it
//   address-restricted   endpoint-independent         address-dependent            as full-cone, but DNAT only from the addresses that mapping has sent to (an nftables set)
//   port-restricted      endpoint-independent         address-and-port-dependent   MASQUERADE (conntrack lets in only the answers)
//   symmetric            address-and-port-dependent   address-and-port-dependent   MASQUERADE --random-fully
//   upnp                 endpoint-independent         address-and-port-dependent   port-restricted, plus miniupnpd (UPnP IGD, NAT-PMP, PCP) on the LAN side adding DNATs on request
//   double               endpoint-independent         address-and-port-dependent   port-restricted behind port-restricted
//   udp-blocked          (no UDP at all)                                           MASQUERADE, and a firewall that drops every forwarded UDP datagram both ways
//
// The upstream (.1, in the switch namespace) forwards nothing, until a 'routed' network is added:
// from then on it routes each routed network through its router (packets between two of them cross
// it: countForwarded() counts them) and still drops every other destination silently.
//
// Namespaces are named with this run's process ID, like test/netns/lan.ts, so a later run removes
// what a crashed one left; teardown kills what runs in them (coturn, miniupnpd) and deletes them.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ip, namespaceRun, runIn, spawnIn } from './lan.js';
import type { LanHost } from './lan.js';

const PREFIX = 'pdnat';
export const PUBLIC_PREFIX = '198.51.100';
const UPSTREAM = `${PUBLIC_PREFIX}.1`;
/** Routed network N is `${ROUTED_PREFIX}.N.0/24`. */
export const ROUTED_PREFIX = '198.18';

export type RouterKind = 'full-cone' | 'address-restricted' | 'port-restricted' | 'symmetric' | 'upnp' | 'double' | 'udp-blocked';
/**
 * The kinds the NAT matrix walks (test/integration/nat-lab.test.ts, bench:nat): all but 'upnp',
 * which behaves as 'port-restricted' and adds a daemon (its own test maps ports through it).
 */
export const ROUTER_KINDS: RouterKind[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'double', 'udp-blocked'];
export const ALL_ROUTER_KINDS: RouterKind[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'upnp', 'double', 'udp-blocked'];

/** A router of one of the NAT kinds, or 'routed': a router with no NAT whose network is reachable from everywhere. */
export type NetworkKind = RouterKind | 'routed';

export type Mapping = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
export type Filtering = Mapping;

/** What each router does, as RFC 5780 discovery should find it (no mapping or filtering where UDP does not pass). */
export const EXPECTED: Record<RouterKind, { udp: boolean; mapping?: Mapping; filtering?: Filtering }> = {
  'full-cone': { udp: true, mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  'address-restricted': { udp: true, mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted': { udp: true, mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: { udp: true, mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
  upnp: { udp: true, mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  double: { udp: true, mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  'udp-blocked': { udp: false },
};

export interface Router {
  kind: NetworkKind;
  /** The namespace whose WAN side is on the public network (the outer one for 'double'). */
  ns: string;
  publicAddress: string;
  /** The private network behind it, e.g. 192.168.3 (hosts are .2, .3, ...). */
  lanPrefix: string;
  /** The namespace the private network hangs off (the inner router for 'double'). */
  lanNs: string;
  /** Its address on the private network (the hosts' default gateway): `${lanPrefix}.1`. */
  gateway: string;
  /** For 'upnp': what miniupnpd has logged so far. */
  daemonLog?: () => string;
}

/** A host in the lab; usable wherever test/netns/lan.ts's LanHost is (startLanNode). */
export interface LabHost extends LanHost {
  router?: Router;
}

export interface Coturn {
  /** Where it listens (UDP and TCP), with RFC 5780's alternate port one above on each address. */
  addresses: [string, string];
  port: number;
  /** The long-term credentials of its one user. */
  user: string;
  password: string;
  log(): string;
  stop(): Promise<void>;
}

export interface NatLab {
  /** The public host: addresses .10, .11, .12, .13 of the public network. */
  publicHost: LabHost & { addresses: string[] };
  /** Another host on the public network (.20, .21, ...): a second member, a peer of a test. */
  addPublicHost(options?: { firewall?: boolean }): Promise<LabHost>;
  /** A router of `kind` on the public network (.100+N), with its own network behind it (see the top of the file). */
  addRouter(kind: NetworkKind): Promise<Router>;
  /** A host behind `router`, with its default route through it. */
  addHost(router: Router): Promise<LabHost>;
  /** Unplugs `host` from its router and plugs it in behind `router` with a new address (a laptop changing networks). */
  moveHost(host: LabHost, router: Router): Promise<void>;
  /**
   * coturn in the public host on .10 and .11, port 3478 (so it answers RFC 5780's CHANGE-REQUEST
   * from .11 and 3479): started on the first call (or by the first 'upnp' router, whose miniupnpd
   * asks it for its public address), the same one after that until it is stopped.
   */
  startCoturn(): Promise<Coturn>;
  /**
   * Starts counting the packets the upstream forwards from `from` to `to` (addresses or networks,
   * such as two routed networks' `${lanPrefix}.0/24`), optionally only UDP or TCP to `port`;
   * resolves with a reader of the count so far. Needs a routed network: nothing else is forwarded.
   */
  countForwarded(match: { from: string; to: string; protocol?: 'udp' | 'tcp'; port?: number }): Promise<() => Promise<number>>;
  /** Kills everything running in the lab, deletes its namespaces and its temporary files. */
  teardown(): Promise<void>;
}

export async function makeNatLab(): Promise<NatLab> {
  const { run, add: addNamespace, teardown: deleteNamespaces } = await namespaceRun(PREFIX);
  const switchNs = `${run}-sw`;
  const tempDirs: string[] = [];
  const children: ChildProcess[] = [];
  let hostCount = 0;
  let publicHosts = 0;
  let ports = 0;
  let routers = 0;
  let routing = false;
  let counters = 0;
  let coturn: Promise<Coturn> | undefined;
  /** The next host number on each private network. */
  const nextHost = new Map<string, number>();

  const teardown = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await deleteNamespaces();
    await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  };
  const tempDir = async (what: string) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), `peerdial-natlab-${what}-`));
    tempDirs.push(dir);
    return dir;
  };
  /** A veth from `ns` (named `iface`) to the public bridge. */
  const plugPublic = async (ns: string, iface: string, addresses: string[]) => {
    const port = `p${ports++}`;
    await ip('link', 'add', iface, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs);
    await ip('-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up');
    for (const a of addresses) await ip('-n', ns, 'addr', 'add', `${a}/24`, 'dev', iface);
    await ip('-n', ns, 'link', 'set', iface, 'up');
  };
  const plug = async (host: LabHost, router: Router) => {
    const index = (nextHost.get(router.lanNs) ?? 2);
    nextHost.set(router.lanNs, index + 1);
    const peer = `v${ports++}`;
    await ip('link', 'add', host.iface, 'netns', host.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', router.lanNs);
    await ip('-n', router.lanNs, 'link', 'set', peer, 'master', 'lan', 'up');
    host.address = `${router.lanPrefix}.${index}`;
    await ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', host.iface);
    await ip('-n', host.ns, 'link', 'set', host.iface, 'up');
    await ip('-n', host.ns, 'route', 'add', 'default', 'via', router.gateway);
    host.router = router;
  };

  try {
    await addNamespace(switchNs);
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
    // The "upstream" of the public network: an address of the switch, which forwards nothing.
    // Public hosts route everything through it, as servers on the internet have a default route
    // and what they send to a private address is dropped somewhere upstream, silently. Without it
    // a send to a peer's private host candidate fails at once (ENETUNREACH), and coturn closes a
    // relay socket on any send error (coturn 4.6.1, ns_ioalib_engine_impl.c), killing the allocation.
    await ip('-n', switchNs, 'addr', 'add', `${UPSTREAM}/24`, 'dev', 'br0');
    const publicNs = `${run}-pub`;
    await addNamespace(publicNs);
    const publicAddresses = [10, 11, 12, 13].map((n) => `${PUBLIC_PREFIX}.${n}`);
    await plugPublic(publicNs, 'eth0', publicAddresses);
    await ip('-n', publicNs, 'route', 'add', 'default', 'via', UPSTREAM);
    const publicHost = { ns: publicNs, address: publicAddresses[0], addresses: publicAddresses, iface: 'eth0', bridge: 0 };

    const lab: NatLab = {
      publicHost,
      async addPublicHost(options = {}) {
        const n = publicHosts++;
        const ns = `${run}-pub${n + 1}`;
        await addNamespace(ns);
        const address = `${PUBLIC_PREFIX}.${20 + n}`;
        await plugPublic(ns, 'eth0', [address]);
        await ip('-n', ns, 'route', 'add', 'default', 'via', UPSTREAM);
        if (options.firewall) {
          // A public address with no NAT, behind a stateful firewall: only answers to what it sent get in.
          await nft(ns, ['table inet firewall {', '  chain input { type filter hook input priority 0; policy drop; iif lo accept; ct state established,related accept; }', '}'].join('\n'));
        }
        return { ns, address, iface: 'eth0', bridge: 0 };
      },
      async addRouter(kind) {
        const n = routers++;
        const ns = `${run}-r${n}`;
        await addNamespace(ns);
        const publicAddress = `${PUBLIC_PREFIX}.${100 + n}`;
        await plugPublic(ns, 'wan', [publicAddress]);
        if (kind === 'routed') return addRoutedNetwork(ns, n, publicAddress);
        let lanNs = ns;
        const lanPrefix = `192.168.${10 + n}`;
        if (kind === 'double') {
          lanNs = `${run}-r${n}i`;
          await addNamespace(lanNs);
          const cgn = `100.64.${n}`;
          await ip('link', 'add', 'cgn', 'netns', ns, 'type', 'veth', 'peer', 'name', 'wan', 'netns', lanNs);
          await ip('-n', ns, 'addr', 'add', `${cgn}.1/24`, 'dev', 'cgn');
          await ip('-n', ns, 'link', 'set', 'cgn', 'up');
          await ip('-n', lanNs, 'addr', 'add', `${cgn}.2/24`, 'dev', 'wan');
          await ip('-n', lanNs, 'link', 'set', 'wan', 'up');
          await ip('-n', lanNs, 'route', 'add', 'default', 'via', `${cgn}.1`);
          await natRules(ns, 'port-restricted', 'cgn', `${cgn}.0/24`);
        }
        await ip('-n', lanNs, 'link', 'add', 'lan', 'type', 'bridge');
        await ip('-n', lanNs, 'addr', 'add', `${lanPrefix}.1/24`, 'dev', 'lan');
        await ip('-n', lanNs, 'link', 'set', 'lan', 'up');
        await natRules(lanNs, kind === 'double' ? 'port-restricted' : kind, 'lan', `${lanPrefix}.0/24`);
        const router: Router = { kind, ns, publicAddress, lanPrefix, lanNs, gateway: `${lanPrefix}.1` };
        if (kind === 'upnp') router.daemonLog = await startMiniupnpd(router, await lab.startCoturn(), await tempDir('miniupnpd'), children);
        return router;
      },
      async addHost(router) {
        const ns = `${run}-h${hostCount++}`;
        await addNamespace(ns);
        const host: LabHost = { ns, address: '', iface: 'eth0', bridge: 0 };
        await plug(host, router);
        return host;
      },
      async moveHost(host, router) {
        // Deleting one end of a veth deletes the other, in the old router's LAN bridge.
        await ip('-n', host.ns, 'link', 'del', host.iface);
        await plug(host, router);
      },
      startCoturn() {
        coturn ??= (async () => {
          const started = await startCoturn(publicNs, [publicAddresses[0], publicAddresses[1]], 3478, await tempDir('coturn'));
          children.push(started.child);
          const stop = started.handle.stop;
          started.handle.stop = async () => {
            coturn = undefined;
            await stop();
          };
          return started.handle;
        })();
        return coturn;
      },
      async countForwarded(match) {
        if (!routing) throw new Error('countForwarded: the upstream forwards nothing until a routed network is added (addRouter(\'routed\'))');
        // A rule of its own with no target: it only counts, and the packet goes on to the next rule.
        const comment = `count${counters++}`;
        const ports = match.protocol ? ['-p', match.protocol, ...(match.port ? ['--dport', String(match.port)] : [])] : [];
        await iptables(switchNs, '-I', 'FORWARD', '-s', match.from, '-d', match.to, ...ports, '-m', 'comment', '--comment', comment);
        return async () => {
          const { stdout } = await runIn(switchNs, 'iptables', ['-w', '-L', 'FORWARD', '-v', '-x', '-n']);
          const line = stdout.split('\n').find((l) => l.includes(`/* ${comment} */`));
          if (!line) throw new Error(`countForwarded: no rule ${comment} in ${switchNs}:\n${stdout}`);
          return Number(line.trim().split(/\s+/)[0]);
        };
      },
      teardown,
    };

    /** Router N with no NAT: its network 198.18.N.0/24 behind it, routed both ways through the upstream. */
    const addRoutedNetwork = async (ns: string, n: number, publicAddress: string): Promise<Router> => {
      if (!routing) {
        // The upstream starts routing. Every destination but the routed networks is still dropped
        // without a word (a blackhole sends no ICMP), as before; and it sends no ICMP redirects, so
        // that traffic between two routed networks keeps crossing it rather than going router to
        // router (both routers' WANs are on the public network).
        await runIn(switchNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.br0.send_redirects=0']);
        await ip('-n', switchNs, 'route', 'add', 'blackhole', 'default');
        routing = true;
      }
      const lanPrefix = `${ROUTED_PREFIX}.${n}`;
      await ip('-n', ns, 'link', 'add', 'lan', 'type', 'bridge');
      await ip('-n', ns, 'addr', 'add', `${lanPrefix}.1/24`, 'dev', 'lan');
      await ip('-n', ns, 'link', 'set', 'lan', 'up');
      await ip('-n', ns, 'route', 'add', 'default', 'via', UPSTREAM);
      await runIn(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await ip('-n', switchNs, 'route', 'add', `${lanPrefix}.0/24`, 'via', publicAddress);
      return { kind: 'routed', ns, publicAddress, lanPrefix, lanNs: ns, gateway: `${lanPrefix}.1` };
    };
    return lab;
  } catch (error) {
    await teardown();
    throw error;
  }
}

async function iptables(ns: string, ...rule: string[]): Promise<void> {
  await runIn(ns, 'iptables', ['-w', ...rule]);
}

async function nft(ns: string, rules: string): Promise<void> {
  await runIn(ns, 'sh', ['-c', `printf '%s\\n' "$0" | nft -f -`, rules]);
}

/**
 * A router's rules, in its own namespace: forwarding on, NAT from `lanNet` (behind `lan`) out
 * of `wan`, and what makes each kind's filtering. (ip_forward and every table are per namespace.)
 */
async function natRules(ns: string, kind: Exclude<RouterKind, 'double'>, lan: string, lanNet: string): Promise<void> {
  const wan = 'wan';
  await runIn(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // Without --random the kernel keeps the host's source port when it is free, and otherwise picks
  // one port per host:port: the same mapping whatever the destination (endpoint-independent).
  // --random-fully picks a new random port for every destination (address-and-port-dependent).
  await iptables(ns, '-t', 'nat', '-A', 'POSTROUTING', '-s', lanNet, '-o', wan, '-j', 'MASQUERADE', ...(kind === 'symmetric' ? ['--random-fully'] : []));
  if (kind === 'udp-blocked') {
    await iptables(ns, '-A', 'FORWARD', '-p', 'udp', '-j', 'DROP');
  }
  // Like a home router's firewall, unsolicited datagrams for the router itself are dropped. Were
  // they taken in (and answered with ICMP), the kernel would keep a conntrack entry for them, and
  // the host's next datagram to that sender would get another public port: the peer's first ICE
  // check, arriving before ours left, would break every later one. Not on the UPnP router:
  // miniupnpd's own STUN test needs answers from another address and port to reach it.
  if (kind !== 'upnp') for (const proto of ['udp', 'tcp']) await iptables(ns, '-A', 'INPUT', '-i', wan, '-p', proto, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
  if (kind === 'full-cone' || kind === 'address-restricted') {
    // After MASQUERADE (srcnat + 1) the conntrack entry knows the mapping: the reply tuple's
    // destination port is the public port, the original tuple's source the host's address and
    // port. `mapped` keeps that (refreshed by every datagram out); a new flow from outside to a
    // mapped port is DNATed back to its host. 'address-restricted' lets it in only from an address
    // that mapping has sent to (`sentto`), whatever its port.
    const restricted = kind === 'address-restricted';
    await nft(ns, [
      'table ip cone {',
      '  map mapped { type inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout 5m; }',
      '  set sentto { type inet_proto . inet_service . ipv4_addr; flags dynamic,timeout; timeout 5m; }',
      '  chain remember {',
      '    type filter hook postrouting priority srcnat + 1; policy accept;',
      `    oifname "${wan}" ct direction original meta l4proto { tcp, udp } update @mapped { meta l4proto . ct reply proto-dst : ct original ip saddr . ct original proto-src } update @sentto { meta l4proto . ct reply proto-dst . ip daddr }`,
      '  }',
      '  chain letin {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      `    iifname "${wan}" meta l4proto { tcp, udp } ${restricted ? 'meta l4proto . th dport . ip saddr @sentto ' : ''}dnat ip to meta l4proto . th dport map @mapped`,
      '  }',
      '}',
    ].join('\n'));
  }
  if (kind === 'upnp') {
    // The tables and chains miniupnpd adds its rules to (Debian's /etc/miniupnpd/nft_init.sh makes
    // the same, with a forward policy of drop: here forwarding stays open, as for port-restricted).
    await nft(ns, [
      'table inet miniupnpd {',
      '  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }',
      '  chain miniupnpd { }',
      '  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }',
      '  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump postrouting_miniupnpd; }',
      '  chain prerouting_miniupnpd { }',
      '  chain postrouting_miniupnpd { }',
      '}',
    ].join('\n'));
  }
}

/** miniupnpd in the router, serving the LAN; resolves once it listens for UPnP and NAT-PMP/PCP. */
async function startMiniupnpd(router: Router, stun: Coturn, dir: string, children: ChildProcess[]): Promise<() => string> {
  const conf = path.join(dir, 'miniupnpd.conf');
  await writeFile(conf, [
    'ext_ifname=wan',
    // miniupnpd refuses to map ports when its WAN address is private or reserved, and the lab's
    // public network is TEST-NET-2 (198.51.100.0/24, reserved): asked over STUN, the public host
    // says the router is reachable as itself, and miniupnpd then takes that address as public.
    'ext_perform_stun=yes',
    `ext_stun_host=${stun.addresses[0]}`,
    `ext_stun_port=${stun.port}`,
    'listening_ip=lan',
    'http_port=0',
    'enable_upnp=yes',
    // NAT-PMP and PCP share port 5351; this one switch turns on both.
    'enable_natpmp=yes',
    'ipv6_disable=yes',
    'secure_mode=yes',
    'system_uptime=yes',
    'notify_interval=60',
    'uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
    `lease_file=${path.join(dir, 'upnp.leases')}`,
    'upnp_table_name=miniupnpd',
    'upnp_nat_table_name=miniupnpd',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    `allow 1024-65535 ${router.lanPrefix}.0/24 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
  ].join('\n') + '\n');
  const child = spawnIn(router.lanNs, '/usr/sbin/miniupnpd', ['-f', conf, '-d', '-P', path.join(dir, 'miniupnpd.pid')]);
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`miniupnpd in ${router.lanNs} did not start listening within 10 s:\n${log}`)), 10_000);
    const check = () => {
      if (/HTTP listening on port/.test(log) && /Listening for NAT-PMP\/PCP traffic on port/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`miniupnpd could not start (is the miniupnpd-nftables package installed? scripts/install-test-deps.sh): ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`miniupnpd in ${router.lanNs} exited with ${code} (is the miniupnpd-nftables package installed? scripts/install-test-deps.sh):\n${log}`));
    });
  });
  return () => log;
}

async function startCoturn(ns: string, addresses: [string, string], port: number, dir: string): Promise<{ child: ChildProcess; handle: Coturn }> {
  const conf = path.join(dir, 'turnserver.conf');
  const user = 'alice';
  const password = 'secret';
  await writeFile(conf, [
    `listening-ip=${addresses[0]}`,
    `listening-ip=${addresses[1]}`,
    `relay-ip=${addresses[0]}`,
    `listening-port=${port}`,
    'min-port=49160',
    'max-port=49300',
    'realm=natlab.test',
    'lt-cred-mech',
    `user=${user}:${password}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'simple-log',
    `userdb=${path.join(dir, 'turndb')}`,
    `log-file=${path.join(dir, 'turn.log')}`,
    `pidfile=${path.join(dir, 'turn.pid')}`,
  ].join('\n') + '\n');
  const child = spawnIn(ns, 'turnserver', ['-c', conf]);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `turnserver exited with ${code ?? signal}`));
  child.once('error', (error) => (exited = `turnserver could not start (is the coturn package installed?): ${error.message}`));
  // Ready once it listens on both addresses, on its port and RFC 5780's alternate port.
  const wanted = addresses.flatMap((a) => [`${a}:${port}`, `${a}:${port + 1}`]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`${exited}:\n${log}`);
    const { stdout } = await runIn(ns, 'ss', ['-Hlnu']);
    const listening = stdout.split('\n').map((line) => line.split(/\s+/)[3]);
    if (wanted.every((w) => listening.includes(w))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`coturn did not listen on ${wanted.join(', ')} within 10 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    handle: {
      addresses,
      port,
      user,
      password,
      log: () => log,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await gone;
      },
    },
  };
}
