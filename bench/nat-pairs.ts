// The router pairs of bench:nat, in the NAT lab (test/netns/nat-lab.ts; needs root): two
// members on the public network, one client behind each kind of router. For each ordered pair:
// whether a message by name is delivered, and how long it takes (im.send to "delivered"), and
// how long an INVITE takes to bring back its 180 (call.dial to "ringing"). Also whether each
// client's NAT discovery names its router's behaviour.
import { until } from '../test/support/poll.js';
import type { LanNode } from '../test/netns/lan-node.js';
import { EXPECTED, makeNatLab, ROUTER_KINDS, type RouterKind } from '../test/netns/nat-lab.js';
import { labNodes, startPartnerMembers } from '../test/netns/nat-lab-nodes.js';

export interface PairResult {
  reachable: boolean;
  messageMs: number | null;
  inviteTo180Ms: number | null;
}

export async function measurePairs(rounds: number): Promise<{ pairs: Record<string, PairResult>; reachableFraction: number; discoveryAccuracy: number; roleAccuracy: number; roles: Record<string, string> }> {
  if (process.getuid?.() !== 0) throw new Error('bench:nat needs root for the NAT lab (network namespaces and iptables): run it as root.');
  const lab = await makeNatLab();
  const nodes = labNodes('peerdial-bench-nat-');
  const start = nodes.start;
  try {
    const members = await startPartnerMembers(nodes, lab);
    const clients = new Map<RouterKind, LanNode>();
    const routerByKind = new Map<RouterKind, Awaited<ReturnType<typeof lab.addRouter>>>();
    const user = (kind: RouterKind) => kind.replace(/-/g, '');
    for (const kind of ROUTER_KINDS) {
      const router = await lab.addRouter(kind);
      routerByKind.set(kind, router);
      const host = await lab.addHost(router);
      clients.set(kind, await start(host, ['--client', '--sip-port', '5060', '--user', user(kind), ...members.flatMap((m) => ['--bootstrap', m])]));
    }
    let discovered = 0;
    for (const kind of ROUTER_KINDS) {
      const view = await until(`${kind} attached and checked`, async () => {
        const v = await clients.get(kind)!.invoke('nat.status', {});
        return v.attachment?.state === 'attached' && v.behaviour && (v.behaviour.filtering || !v.behaviour.udp) && !v.checking ? v : undefined;
      }, 30_000);
      const e = EXPECTED[kind];
      if (view.behaviour?.udp === e.udp && view.behaviour.mapping === e.mapping && view.behaviour.filtering === e.filtering) discovered++;
    }
    const pairs: Record<string, PairResult> = {};
    for (const from of ROUTER_KINDS) {
      for (const to of ROUTER_KINDS) {
        if (from === to) continue;
        const sender = clients.get(from)!;
        const messageMs: number[] = [];
        const inviteMs: number[] = [];
        for (let round = 0; round < rounds; round++) {
          const t0 = performance.now();
          const sent = await sender.invoke('im.send', { to: user(to), text: `bench ${from} -> ${to} ${round}` });
          const status = await until('a final status', async () => {
            const m = (await sender.invoke('im.history', { peer: user(to) })).find((x) => x.id === sent.id);
            return m && m.status !== 'sending' ? m.status : undefined;
          }, 40_000, undefined, 5).catch(() => 'failed');
          if (status === 'delivered' || status === 'read') messageMs.push(performance.now() - t0);
          const c0 = performance.now();
          const call = await sender.invoke('call.dial', { to: user(to) });
          const rang = await until('180', async () => (await sender.invoke('call.list', {})).some((c) => c.id === call.id && c.state === 'ringing'), 20_000, undefined, 5).then(
            () => true,
            () => false,
          );
          if (rang) inviteMs.push(performance.now() - c0);
          await sender.invoke('call.hangup', { id: call.id }).catch(() => undefined);
          await until('the call to end there', async () => !(await clients.get(to)!.invoke('call.list', {})).some((c) => c.state !== 'ended'), 20_000).catch(() => undefined);
        }
        const median = (xs: number[]) => (xs.length ? Number([...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)].toFixed(1)) : null);
        pairs[`${from} -> ${to}`] = { reachable: messageMs.length === rounds && inviteMs.length === rounds, messageMs: median(messageMs), inviteTo180Ms: median(inviteMs) };
        console.log(JSON.stringify({ pair: `${from} -> ${to}`, ...pairs[`${from} -> ${to}`] }));
      }
    }
    // --role auto: one more node behind each router, one on the public network, and one on a
    // public address behind a stateful firewall, choose (--member-uptime 0: the uptime rule aside).
    const roles: Record<string, string> = {};
    const boot = members.slice(0, 1).flatMap((m) => ['--bootstrap', m]);
    const autoNodes: Array<{ where: string; node: LanNode; right: 'member' | 'client' }> = [
      { where: 'public', node: await start(lab.publicHost, ['--bind', lab.publicHost.addresses[3], '--user', 'paula', '--member-uptime', '0', ...boot]), right: 'member' },
      { where: 'public-firewalled', node: await start(await lab.addPublicHost({ firewall: true }), ['--user', 'wally', '--member-uptime', '0', ...boot]), right: 'client' },
    ];
    // Behind each router (on port 5062: the router's client holds 5060 outside). A node its router
    // forwards to (a full cone; the miniupnpd router, where it maps its own port) is a member.
    for (const kind of ROUTER_KINDS) {
      const host = await lab.addHost(routerByKind.get(kind)!);
      autoNodes.push({ where: kind, node: await start(host, ['--user', `auto${user(kind)}`, '--sip-port', '5062', '--member-uptime', '0', ...boot]), right: kind === 'full-cone' ? 'member' : 'client' });
    }
    const upnpHost = await lab.addHost(await lab.addRouter('upnp'));
    autoNodes.push({ where: 'upnp', node: await start(upnpHost, ['--user', 'autoupnp', '--sip-port', '5062', '--member-uptime', '0', ...boot]), right: 'member' });
    let right = 0;
    for (const a of autoNodes) {
      // Settled: the check, the port mapping and the probes are done, and the role they lead to taken.
      const role = await until(`${a.where}: the role chosen`, async () => {
        const v = await a.node.invoke('nat.status', {});
        const settled = v.behaviour && !v.checking && !['waiting', 'trying'].includes(v.portMapping.state) && v.reachability.state !== 'checking';
        if (!settled) return undefined;
        if (v.role === 'member') return (await a.node.invoke('overlay.status', {})).role === 'member' ? 'member' : undefined;
        // A client that the probes reach is about to move up (--member-uptime 0).
        return v.reachability.state !== 'reachable' && v.attachment?.state === 'attached' ? 'client' : undefined;
      }, 40_000).catch(() => 'undecided');
      roles[a.where] = role;
      if (role === a.right) right++;
    }
    const all = Object.values(pairs);
    return { pairs, reachableFraction: all.filter((p) => p.reachable).length / all.length, discoveryAccuracy: discovered / ROUTER_KINDS.length, roleAccuracy: right / autoNodes.length, roles };
  } finally {
    await nodes.stopAll();
    await lab.teardown();
  }
}
