// A NAT lab for tests: a "public" network (198.51.100.0/24 on a bridge in a switch namespace),
// a public host with several addresses (members, coturn), and home routers of each NAT
// behaviour, each with one host behind it. Routers are namespaces with iptables rules:
//
//   kind                 mapping (RFC 4787)           filtering                    rules
//   full-cone            endpoint-independent         endpoint-independent         MASQUERADE + DNAT of every inbound UDP to the host
//   address-restricted   endpoint-independent         address-dependent            as full-cone, DNAT only from addresses that port sent to (an nftables set)
//   port-restricted      endpoint-independent         address-and-port-dependent   MASQUERADE
//   symmetric            address-and-port-dependent   address-and-port-dependent   MASQUERADE --random-fully
//   double               endpoint-independent         address-and-port-dependent   MASQUERADE twice (a home router behind a carrier's, 100.64.0.0/10)
//   udp-blocked          (no UDP at all)                                           MASQUERADE, and a firewall that drops every UDP datagram both ways
//
// Namespaces are named with this run's process ID, like test/netns/lan.ts, so a later run removes
// what a crashed one left; nothing is done in the root namespace.
import { ip, namespaceRun, runIn } from './lan.js';
import type { LanHost } from './lan.js';

const PREFIX = 'pdnat';
export const PUBLIC_PREFIX = '198.51.100';

export type RouterKind = 'full-cone' | 'address-restricted' | 'port-restricted' | 'symmetric' | 'double' | 'udp-blocked';
export const ROUTER_KINDS: RouterKind[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'double', 'udp-blocked'];

/** What each router does, as RFC 5780 discovery should find it. */
export const EXPECTED: Record<RouterKind, { udp: boolean; mapping?: 'endpoint-independent' | 'address-and-port-dependent'; filtering?: 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' }> = {
  'full-cone': { udp: true, mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  'address-restricted': { udp: true, mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted': { udp: true, mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: { udp: true, mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
  double: { udp: true, mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  'udp-blocked': { udp: false },
};

export interface Router {
  kind: RouterKind;
  /** The namespace whose WAN side is on the public network (the outer one for 'double'). */
  ns: string;
  publicAddress: string;
  /** The private network behind it, e.g. 192.168.3 (hosts are .2, .3, ...). */
  lanPrefix: string;
  /** The namespace the private network hangs off (the inner router for 'double'). */
  lanNs: string;
}

/** A host in the lab; usable wherever test/netns/lan.ts's LanHost is (startLanNode). */
export interface LabHost extends LanHost {
  router?: Router;
}

export interface NatLab {
  /** The public host: addresses .10, .11, .12, .13 of the public network. */
  publicHost: LabHost & { addresses: string[] };
  addRouter(kind: RouterKind): Promise<Router>;
  /** A host behind `router`, with its default route through it. */
  addHost(router: Router): Promise<LabHost>;
  /** Unplugs `host` from its router and plugs it in behind `router` (a laptop changing networks). */
  moveHost(host: LabHost, router: Router): Promise<void>;
  teardown(): Promise<void>;
}

export async function makeNatLab(): Promise<NatLab> {
  const { run, add: addNamespace, teardown } = await namespaceRun(PREFIX);
  let hostCount = 0;
  const switchNs = `${run}-sw`;
  let ports = 0;
  let routers = 0;
  /** A veth from `ns` (named `iface`) to the public bridge. */
  const plugPublic = async (ns: string, iface: string, addresses: string[]) => {
    const port = `p${ports++}`;
    await ip('link', 'add', iface, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs);
    await ip('-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up');
    for (const a of addresses) await ip('-n', ns, 'addr', 'add', `${a}/24`, 'dev', iface);
    await ip('-n', ns, 'link', 'set', iface, 'up');
  };
  const iptables = (ns: string, ...rule: string[]) => runIn(ns, 'iptables', ['-w', ...rule]);
  const routerRules = async (ns: string, wan: string, lan: string, lanNet: string, kind: RouterKind, host: string) => {
    await runIn(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (kind === 'symmetric') await iptables(ns, '-t', 'nat', '-A', 'POSTROUTING', '-s', lanNet, '-o', wan, '-j', 'MASQUERADE', '--random-fully');
    else await iptables(ns, '-t', 'nat', '-A', 'POSTROUTING', '-s', lanNet, '-o', wan, '-j', 'MASQUERADE');
    if (kind === 'udp-blocked') {
      // A strict firewall: TCP out (and its answers) only.
      await iptables(ns, '-A', 'FORWARD', '-p', 'udp', '-j', 'DROP');
    }
    if (kind === 'full-cone') {
      // Any packet to the router's address goes on to the host, at the port MASQUERADE kept.
      await iptables(ns, '-t', 'nat', '-A', 'PREROUTING', '-i', wan, '-p', 'udp', '-j', 'DNAT', '--to-destination', host);
    }
    if (kind === 'address-restricted') {
      // Remember (host port, remote address) for every datagram out; let in (to the host) only
      // datagrams from a remote address that host port has sent to. MASQUERADE keeps the port,
      // so the mapped port is the host's. An nftables set keyed by both: filtering per mapping.
      const rules = [
        'table ip restricted {',
        '  set sentto { type inet_service . ipv4_addr; flags dynamic,timeout; timeout 300s; }',
        '  chain out {',
        '    type filter hook forward priority 0;',
        `    iifname "${lan}" oifname "${wan}" meta l4proto udp update @sentto { udp sport . ip daddr }`,
        '  }',
        '  chain in {',
        '    type nat hook prerouting priority -100;',
        `    iifname "${wan}" meta l4proto udp udp dport . ip saddr @sentto dnat to ${host}`,
        '  }',
        '}',
      ].join('\n');
      await runIn(ns, 'sh', ['-c', `printf '%s\\n' "$0" | nft -f -`, rules]);
    }
  };

  try {
    await addNamespace(switchNs);
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
    const publicNs = `${run}-pub`;
    await addNamespace(publicNs);
    const publicAddresses = [10, 11, 12, 13].map((n) => `${PUBLIC_PREFIX}.${n}`);
    await plugPublic(publicNs, 'eth0', publicAddresses);
    const publicHost = { ns: publicNs, address: publicAddresses[0], addresses: publicAddresses, iface: 'eth0', bridge: 0 };
    const hosts = new Map<string, number>();

    const lab: NatLab = {
      publicHost,
      async addRouter(kind) {
        const n = routers++;
        const ns = `${run}-r${n}`;
        await addNamespace(ns);
        const publicAddress = `${PUBLIC_PREFIX}.${100 + n}`;
        await plugPublic(ns, 'wan', [publicAddress]);
        let lanNs = ns;
        const lanPrefix = `192.168.${10 + n}`;
        if (kind === 'double') {
          // The carrier's router (outer, ns) and the home router (inner, lanNs) between them 100.64.N.0/24.
          lanNs = `${run}-r${n}i`;
          await addNamespace(lanNs);
          const cgn = `100.64.${n}`;
          await ip('link', 'add', 'cgn', 'netns', ns, 'type', 'veth', 'peer', 'name', 'wan', 'netns', lanNs);
          await ip('-n', ns, 'addr', 'add', `${cgn}.1/24`, 'dev', 'cgn');
          await ip('-n', ns, 'link', 'set', 'cgn', 'up');
          await ip('-n', lanNs, 'addr', 'add', `${cgn}.2/24`, 'dev', 'wan');
          await ip('-n', lanNs, 'link', 'set', 'wan', 'up');
          await ip('-n', lanNs, 'route', 'add', 'default', 'via', `${cgn}.1`);
          await routerRules(ns, 'wan', 'cgn', `${cgn}.0/24`, 'port-restricted', `${cgn}.2`);
        }
        await ip('-n', lanNs, 'link', 'add', 'lan', 'type', 'bridge');
        await ip('-n', lanNs, 'addr', 'add', `${lanPrefix}.1/24`, 'dev', 'lan');
        await ip('-n', lanNs, 'link', 'set', 'lan', 'up');
        await routerRules(lanNs, 'wan', 'lan', `${lanPrefix}.0/24`, kind === 'double' ? 'port-restricted' : kind, `${lanPrefix}.2`);
        hosts.set(lanNs, 1);
        return { kind, ns, publicAddress, lanPrefix, lanNs };
      },
      async addHost(router) {
        const ns = `${run}-h${hostCount++}`;
        await addNamespace(ns);
        const host: LabHost = { ns, address: '', iface: 'eth0', bridge: 0 };
        await plug(host, router);
        return host;
      },
      async moveHost(host, router) {
        await ip('-n', host.ns, 'link', 'del', host.iface).catch(() => undefined);
        await plug(host, router);
      },
      teardown,
    };

    const plug = async (host: LabHost, router: Router) => {
      const index = (hosts.get(router.lanNs) ?? 1) + 1;
      hosts.set(router.lanNs, index);
      const peer = `v${ports++}`;
      await ip('link', 'add', host.iface, 'netns', host.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', router.lanNs);
      await ip('-n', router.lanNs, 'link', 'set', peer, 'master', 'lan', 'up');
      host.address = `${router.lanPrefix}.${index}`;
      await ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', host.iface);
      await ip('-n', host.ns, 'link', 'set', host.iface, 'up');
      await ip('-n', host.ns, 'route', 'add', 'default', 'via', `${router.lanPrefix}.1`);
      host.router = router;
    };
    return lab;
  } catch (error) {
    await teardown();
    throw error;
  }
}
