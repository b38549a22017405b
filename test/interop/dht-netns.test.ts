// Found through the BitTorrent mainline DHT across routed networks: three Peerdial nodes (the built
// CLI), each in a namespace on a network of its own (the NAT lab's 'routed' networks: no NAT,
// public-style addresses, separate bridges, so no LAN discovery could reach across even if it were
// on), with no --bootstrap and mDNS and the multicast REGISTER off, start from a private DHT of 80
// bittorrent-dht nodes on a public host of the lab. They find each other under their overlay's
// infohash and form one ring of three: each resolves the other two users' AORs, each one's
// successors are the other two, and the ring's addresses are the namespaces' own. The lab's
// upstream counts what it forwarded: SIP between every two of the networks, KRPC to the DHT host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OverlayStatus } from '../../native/control/api.js';
import { until } from '../support/poll.js';
import { startLabDht, type LabDht } from '../netns/lab-dht.js';
import { ip, requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { ringProblem } from '../netns/lan-ring.js';
import { makeNatLab, type LabHost, type NatLab, type Router } from '../netns/nat-lab.js';
import { labNodes, QUIET, type LabNodes } from '../netns/nat-lab-nodes.js';

const NAMES = ['ann', 'ben', 'cat'];
const SIP_PORT = 5060;

describe('three nodes on separate routed networks find each other through a private mainline DHT', () => {
  let lab: NatLab | undefined;
  let dht: LabDht | undefined;
  let nodes: LabNodes | undefined;
  const networks: Router[] = [];
  const hosts: LabHost[] = [];
  let dhtHost: LabHost;

  before(async () => {
    await requireNetnsPrivileges();
    lab = await makeNatLab();
    dhtHost = await lab.addPublicHost();
    for (let i = 0; i < NAMES.length; i++) {
      const network = await lab.addRouter('routed');
      networks.push(network);
      hosts.push(await lab.addHost(network));
    }
    dht = await startLabDht(dhtHost, 80);
  });

  after(async () => {
    await nodes?.stopAll();
    await dht?.stop();
    await lab?.teardown();
    const left = (await ip('netns', 'list')).split('\n').filter((l) => l.startsWith(`pdnat-${process.pid}-`));
    assert.deepEqual(left, [], 'teardown deletes every namespace of the lab');
  });

  it('with no bootstrap and no LAN discovery they form one ring of three, over the routes', async (t) => {
    assert.ok(QUIET.includes('--no-mdns') && QUIET.includes('--no-multicast-register'), 'the lab nodes run with LAN discovery off');
    for (const b of dht!.bootstrap) assert.ok(b.startsWith(`${dhtHost.address}:`), `the DHT listens on the public host: ${b}`);
    // Counted from before the nodes start: SIP from each network to each other one's SIP port, and
    // KRPC from each network to the DHT host.
    const net = (r: Router) => `${r.lanPrefix}.0/24`;
    const sipCounts = networks.flatMap((from, i) =>
      networks.filter((to) => to !== from).map(async (to) => ({ what: `SIP from ${NAMES[i]}'s network to ${to.lanPrefix}.0/24`, read: await lab!.countForwarded({ from: net(from), to: net(to), protocol: 'udp', port: SIP_PORT }) })),
    );
    const dhtCounts = networks.map(async (from, i) => ({ what: `KRPC from ${NAMES[i]}'s network to the DHT host`, read: await lab!.countForwarded({ from: net(from), to: dhtHost.address, protocol: 'udp' }) }));
    const counts = [...(await Promise.all(sipCounts)), ...(await Promise.all(dhtCounts))];

    nodes = labNodes('peerdial-dhtns-');
    const started = Date.now();
    const peers: LanNode[] = await Promise.all(
      hosts.map((host, i) =>
        nodes!.start(host, ['--bind', host.address, '--sip-port', String(SIP_PORT), '--user', NAMES[i], '--dht', 'on', ...dht!.bootstrap.flatMap((b) => ['--dht-bootstrap', b])]),
      ),
    );
    for (const [i, peer] of peers.entries()) {
      assert.doesNotMatch(peer.output(), /--bootstrap/, 'no bootstrap member anywhere');
      const line = await until(`${NAMES[i]}'s dht: line`, async () => /^dht: (\S+)$/m.exec(peer.output())?.[1], 30_000, () => peer.output());
      assert.match(line, new RegExp(`^${hosts[i].address.replace(/\./g, '\\.')}:\\d+$`), `${NAMES[i]}'s DHT node listens on its own network`);
    }

    let statuses: OverlayStatus[] = [];
    /** What keeps the three from being one ring yet (undefined once they are). */
    const notYetOneRing = async (): Promise<string | undefined> => {
      statuses = await Promise.all(peers.map((p) => p.invoke('overlay.status', {})));
      const problem = ringProblem(statuses);
      if (problem) return problem;
      for (const [i, status] of statuses.entries()) {
        const others = statuses.filter((s) => s !== status).map((s) => s.nodeId);
        if (!others.every((id) => status.successors.some((s) => s.id === id))) return `${NAMES[i]}: successors ${JSON.stringify(status.successors)}`;
      }
      for (const [i, peer] of peers.entries()) {
        for (const [j, name] of NAMES.entries()) {
          if (i === j) continue;
          const found = await peer.invoke('overlay.lookup', { aor: name }).catch((e: Error) => e.message);
          if (typeof found === 'string' || !found.contacts.some((c) => c.includes(`@${hosts[j].address}:`))) return `${NAMES[i]} resolving ${name}: ${JSON.stringify(found)}`;
        }
      }
      return undefined;
    };
    let problem: string | undefined = 'not asked yet';
    await until(
      'one ring of three',
      async () => (problem = await notYetOneRing()) === undefined,
      90_000,
      () => `${problem}\n${peers.map((p) => p.output()).join('\n---\n')}`,
      250,
    );
    const ringMs = Date.now() - started;

    // The ring's contacts are the namespaces' addresses on their own networks, and everyone is a member.
    const byId = new Map(statuses.map((s, i) => [s.nodeId, hosts[i].address]));
    for (const [i, status] of statuses.entries()) {
      assert.equal(status.role, 'member', `${NAMES[i]} is a member of the ring`);
      assert.deepEqual(status.bootstrap, [], `${NAMES[i]} was given no bootstrap member`);
      for (const s of [...status.successors, status.predecessor!]) assert.deepEqual([s.host, s.port], [byId.get(s.id), SIP_PORT], `${NAMES[i]} knows ${s.id} at its own network's address`);
    }
    // The DHT did it: every node is in the private DHT, they announced, and merged through what it named.
    const views = await Promise.all(peers.map((p) => p.invoke('dht.status', {})));
    for (const [i, view] of views.entries()) {
      assert.equal(view.state, 'ready', `${NAMES[i]}'s DHT`);
      assert.ok(view.nodes > 0, `${NAMES[i]}'s DHT routing table has nodes`);
    }
    assert.ok(views.some((v) => v.stats.announces > 0), `someone announced: ${JSON.stringify(views.map((v) => v.stats))}`);
    assert.ok(views.some((v) => v.stats.merged > 0), `someone merged with a peer the DHT named: ${JSON.stringify(views.map((v) => v.stats))}`);
    // And their packets crossed the routes: the upstream forwarded SIP between every two networks and KRPC from each to the DHT.
    for (const count of counts) {
      const packets = await count.read();
      assert.ok(packets > 0, `${count.what}: ${packets} packets forwarded`);
    }
    t.diagnostic(`one ring of three ${ringMs} ms after the nodes were started; DHT stats ${JSON.stringify(views.map((v) => v.stats))}`);
  });
});
