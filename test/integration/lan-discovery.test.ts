// Zero configuration on a LAN (issue 6): three hosts on one bridge, each running
// `peerdial node --data-dir D --user NAME` and nothing more, form one ring and message each
// other by AOR (how fast the ring forms is bench:lan's to measure, target 5 s). Again with mDNS dropped by iptables on every host (only the SIP
// multicast REGISTER left), and with --no-multicast-register (only mDNS left).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { makeLan, requireNetnsPrivileges, type NetnsLan } from '../netns/lan.js';
import { formLanRing, RING_NAMES, ringProblem, type RingOptions } from '../netns/lan-ring.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function threeNodesFormOneRing(options: RingOptions & { expectVia: string[] }): Promise<void> {
  // How fast is bench:lan's to measure (target 5 s); here the ring must form, and the rest follow.
  const { nodes, ringMs, stop } = await formLanRing(options);
  try {
    process.stdout.write(`# one ring ${ringMs} ms after the three nodes were started (ready after ${nodes.map((n) => n.readyAfterMs).join(', ')} ms)\n`);

    // Every node lists the two others, found the way the network allows (the multicast answers
    // come at the next REGISTER of the backoff, 1 to 3 s after the start).
    for (const node of nodes) {
      const others = nodes.filter((n) => n !== node).map((n) => n.nodeId).sort();
      let seen = '';
      const view = await until(
        `${node.aor} lists the two others, found by ${options.expectVia.join(' and ')}`,
        async () => {
          const v = await node.invoke('lan.status', {});
          seen = JSON.stringify(v.peers.map((p) => ({ id: p.nodeId.slice(0, 8), via: p.via })));
          const complete = JSON.stringify(v.peers.map((p) => p.nodeId).sort()) === JSON.stringify(others) && v.peers.every((p) => p.via.length === options.expectVia.length);
          return complete && v;
        },
        8_000,
        () => seen,
      );
      for (const peer of view.peers) {
        assert.deepEqual(peer.via, options.expectVia, `${node.aor} found ${peer.aor ?? peer.nodeId} by ${peer.via.join(', ')}`);
        assert.equal(peer.overlay, 'peerdial');
        assert.match(peer.host, /^10\.77\.0\.\d+$/);
        const other = nodes.find((n) => n.nodeId === peer.nodeId)!;
        assert.equal(peer.host, other.host.address);
      }
      assert.deepEqual(view.methods, options.args?.includes('--no-multicast-register') ? ['mdns'] : ['mdns', 'multicast-register'], 'the methods running');
    }

    // By AOR: alice to bob, bob to carol, carol to alice, once each user's binding is in the ring.
    for (let i = 0; i < nodes.length; i++) {
      const from = nodes[i];
      const to = nodes[(i + 1) % nodes.length];
      await until(`${from.aor} finds ${to.aor}`, async () => {
        const found = await from.invoke('overlay.lookup', { aor: to.aor! }).catch(() => undefined);
        return !!found && found.contacts.length > 0;
      }, 10_000);
      const text = `hello ${RING_NAMES[(i + 1) % 3]}, from ${RING_NAMES[i]} on the LAN`;
      const sent = await from.invoke('im.send', { to: to.aor!, text });
      assert.notEqual(sent.status, 'failed', sent.reason);
      // Strangers to each other: the message waits in the receiver's Requests.
      await until(`${to.aor} receives the message`, async () => {
        const requests = await to.invoke('requests.list', {});
        return requests.some((c) => c.lastMessage.direction === 'in' && c.lastMessage.text === text);
      }, 10_000);
    }
  } finally {
    await stop();
  }
}

describe('LAN discovery: three hosts on one bridge', () => {
  before(async () => {
    await requireNetnsPrivileges();
  });

  it('form one ring with no flags and message each other by AOR (mDNS and the multicast REGISTER both find every peer)', async () => {
    await threeNodesFormOneRing({ expectVia: ['mdns', 'multicast-register'] });
  });

  it('do the same with mDNS blocked on every host: the multicast REGISTER alone finds the peers', async () => {
    await threeNodesFormOneRing({ blockMdns: true, expectVia: ['multicast-register'] });
  });

  it('do the same with --no-multicast-register: mDNS alone finds the peers', async () => {
    await threeNodesFormOneRing({ args: ['--no-multicast-register'], expectVia: ['mdns'] });
  });

  it('do the same by the multicast REGISTER alone when SIP is bound to the host address (the group is then heard and answered beside the SIP socket)', async () => {
    await threeNodesFormOneRing({ blockMdns: true, bindToAddress: true, expectVia: ['multicast-register'] });
  });
});

describe('LAN discovery: two LAN segments joined later', () => {
  before(async () => {
    await requireNetnsPrivileges();
  });

  it('two rings formed on separate bridges merge into one when the bridges are joined, and no binding is lost', async () => {
    const lan: NetnsLan = await makeLan({ hosts: 4, bridges: 2, hostBridges: [0, 0, 1, 1] });
    const users = ['ann', 'ben', 'cal', 'dot'];
    const nodes: LanNode[] = [];
    try {
      const dataDirs = await Promise.all(users.map(() => tempDataDir('peerdial-lan-merge-')));
      dirs.push(...dataDirs);
      nodes.push(...(await Promise.all(lan.hosts.map((host, i) => startLanNode(host, ['--data-dir', dataDirs[i], '--user', users[i]])))));
      const segments = [nodes.slice(0, 2), nodes.slice(2)];
      let last = '';
      for (const segment of segments) {
        await until('each segment forms its own ring', async () => {
          last = ringProblem(await Promise.all(segment.map((n) => n.invoke('overlay.status', {})))) ?? '';
          return last === '';
        }, 10_000, () => last, 50);
      }
      // Each segment's users are registered in their own ring before the cable goes in.
      for (const segment of segments) {
        for (const node of segment) {
          const other = segment.find((n) => n !== node)!;
          await until(`${node.aor} finds ${other.aor} in its segment`, async () => ((await node.invoke('overlay.lookup', { aor: other.aor! }).catch(() => undefined))?.contacts.length ?? 0) > 0, 10_000);
        }
      }

      await lan.linkBridges(0, 1);
      const linked = Date.now();
      await until('one ring of four', async () => {
        last = ringProblem(await Promise.all(nodes.map((n) => n.invoke('overlay.status', {})))) ?? '';
        return last === '';
      }, 90_000, () => last, 200);
      process.stdout.write(`# one ring of four ${Date.now() - linked} ms after the bridges were joined\n`);

      // Every user is found from every node, across the former rings, and a message gets through.
      for (const from of nodes) {
        for (const to of nodes) {
          if (to === from) continue;
          await until(`${from.aor} finds ${to.aor}`, async () => ((await from.invoke('overlay.lookup', { aor: to.aor! }).catch(() => undefined))?.contacts.length ?? 0) > 0, 20_000);
        }
      }
      const text = 'hello from the other segment';
      await nodes[0].invoke('im.send', { to: nodes[3].aor!, text });
      await until(`${nodes[3].aor} receives the message`, async () => (await nodes[3].invoke('requests.list', {})).some((c) => c.lastMessage.text === text), 10_000);
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      await lan.teardown();
    }
  });
});
