// DNS-SD interop with avahi, the mDNS responder of Linux desktops, across two hosts of a test
// LAN: avahi-browse sees the `_sip._udp` service of a Peerdial node with its TXT records, and a
// Peerdial node sees a service published with avahi-publish (in `lan.status`, as the Network
// screen lists it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startAvahi, type Avahi, type BrowsedService } from '../netns/avahi.js';
import { makeLan, requireNetnsPrivileges, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';

describe('DNS-SD interop with avahi', () => {
  let lan: NetnsLan;
  let node: LanNode;
  let avahi: Avahi;
  const dirs: string[] = [];

  before(async () => {
    await requireNetnsPrivileges();
    lan = await makeLan({ hosts: 2 });
    try {
      const dataDir = await tempDataDir('peerdial-avahi-node-');
      dirs.push(dataDir);
      node = await startLanNode(lan.hosts[0], ['--data-dir', dataDir, '--user', 'alice']);
      avahi = await startAvahi(lan.hosts[1]);
      dirs.push(avahi.dir);
    } catch (error) {
      await lan.teardown();
      throw error;
    }
  });
  after(async () => {
    await node?.stop();
    await lan?.teardown();
    await Promise.all(dirs.map(removeDir));
  });

  it("avahi-browse in another host sees the node's _sip._udp service, at its address and SIP port, with its TXT records", async () => {
    let seen: BrowsedService[] = [];
    const service = await until(
      'avahi-browse resolves the node',
      async () => {
        seen = await avahi.browse('_sip._udp');
        // Once its user's identity exists (the first advert may go out before it does, unnamed).
        return seen.find((s) => s.txt.includes(`node=${node.nodeId}`) && s.txt.includes('aor=sip:alice@peerdial'));
      },
      10_000,
      () => JSON.stringify(seen),
    );
    assert.equal(service.address, node.host.address);
    assert.equal(service.port, 5060);
    assert.equal(service.name, `alice (${node.nodeId.slice(0, 8)})`);
    assert.equal(service.host, `pd-${node.nodeId.slice(0, 12)}.local`);
    for (const record of ['txtvers=1', 'overlay=peerdial', 'v=1', 'cfg=0', 'aor=sip:alice@peerdial']) assert.ok(service.txt.includes(record), `TXT ${record} in ${service.txt.join(' ')}`);
    // The Peerdial type says the same.
    const peerdial = (await avahi.browse('_peerdial._udp')).find((s) => s.txt.includes(`node=${node.nodeId}`));
    assert.ok(peerdial, '_peerdial._udp is published too');
    assert.equal(peerdial.port, 5060);
  });

  it('a _peerdial._udp service published with avahi-publish appears in lan.status, with what its TXT says', async () => {
    const nodeId = 'c0ffee'.padEnd(40, '0');
    // Another overlay's node: listed, never joined.
    const publisher = avahi.publish('desk phone', '_peerdial._udp', 5070, ['txtvers=1', 'overlay=office.example', `node=${nodeId}`, 'v=1', 'cfg=1', 'aor=sip:dave@office.example']);
    try {
      let peers = '';
      const peer = await until(
        'the node lists the avahi service',
        async () => {
          const view = await node.invoke('lan.status', {});
          peers = JSON.stringify(view.peers);
          return view.peers.find((p) => p.nodeId === nodeId);
        },
        10_000,
        () => peers,
      );
      assert.deepEqual(peer.via, ['mdns']);
      assert.equal(peer.overlay, 'office.example');
      assert.equal(peer.host, lan.hosts[1].address);
      assert.equal(peer.port, 5070);
      assert.equal(peer.aor, 'sip:dave@office.example');
      assert.equal(peer.offersConfig, true);
      // Still alone: a node of another overlay is not joined.
      assert.deepEqual((await node.invoke('overlay.status', {})).successors, []);

      // avahi-publish ends: the goodbye takes the peer off the list.
      publisher.kill('SIGTERM');
      await until('the peer leaves the list', async () => !(await node.invoke('lan.status', {})).peers.some((p) => p.nodeId === nodeId), 10_000);
    } finally {
      publisher.kill('SIGKILL');
    }
  });

  it('a name another responder holds is given up for "NAME (2)" (RFC 6762 9), said in one plain line, with no stack trace', async () => {
    const name = `alice (${node.nodeId.slice(0, 8)})`;
    // While the node is down, avahi on the other host takes its instance name; the node comes
    // back on the same data dir (same node ID, same name), probes, finds it taken, and renames.
    await node.stop();
    const squatter = avahi.publish(name, '_sip._udp', 5090, ['txtvers=1', 'overlay=elsewhere']);
    try {
      await until('avahi holds the name', async () => (await avahi.browse('_sip._udp')).some((s) => s.name === name && s.port === 5090), 10_000);
      node = await startLanNode(lan.hosts[0], ['--data-dir', dirs[0], '--user', 'alice'], { PEERDIAL_LOG: 'info' });
      let seen: BrowsedService[] = [];
      const renamed = await until(
        'the node advertised under a new name',
        async () => {
          seen = await avahi.browse('_sip._udp');
          return seen.find((s) => s.txt.includes(`node=${node.nodeId}`) && s.txt.includes('aor=sip:alice@peerdial'));
        },
        15_000,
        () => JSON.stringify(seen),
      );
      assert.equal(renamed.name, `${name} (2)`);
      assert.ok((await avahi.browse('_peerdial._udp')).some((s) => s.name === `${name} (2)`), 'both types keep one instance name');
      const quoted = (text: string) => text.replace(/[()]/g, '\\$&');
      assert.match(node.output(), new RegExp(`mDNS name "${quoted(name)}" is taken on this network: advertising as "${quoted(name)} \\(2\\)"`));
      assert.doesNotMatch(node.output(), /already in use on the network|^\s+at /m);
    } finally {
      squatter.kill();
    }
  });
});
