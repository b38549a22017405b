// Relays learned on a LAN: two members relay calls for others and say so in their DNS-SD TXT
// record (`relay=turn:HOST:PORT`); a user on the same LAN, given no bootstrap and no relay,
// finds the overlay and both relays with zero configuration, lists them as "on this LAN", gets
// credentials from both and keeps them ready for its calls. A member that stops relaying takes
// the record out.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { LanPeerView, RelayView } from '../../native/control/api.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { makeLan, requireNetnsPrivileges, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';
import { CHORD_ENV } from '../netns/nat-lab-nodes.js';

const dirs: string[] = [];
const stops: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await Promise.all(dirs.map(removeDir));
});

async function start(host: NetnsLan['hosts'][number], args: string[]): Promise<LanNode> {
  const dir = await tempDataDir('peerdial-relay-lan-');
  dirs.push(dir);
  const node = await startLanNode(host, ['--data-dir', dir, '--no-multicast-register', ...args], CHORD_ENV);
  stops.push(() => node.stop());
  return node;
}

describe('relays on a LAN', () => {
  it('a user finds the members\' relays by DNS-SD, lists them as on this LAN and keeps both ready; a relay switched off leaves the record', async () => {
    await requireNetnsPrivileges();
    const lan: NetnsLan = await makeLan({ hosts: 3 });
    stops.push(() => lan.teardown());
    const [roseHost, ruthHost, samHost] = lan.hosts;
    const rose = await start(roseHost, ['--user', 'rose', '--role', 'member', '--relay']);
    const ruth = await start(ruthHost, ['--user', 'ruth', '--role', 'member', '--relay']);
    for (const member of [rose, ruth]) {
      await until('the members\' relays to run', async () => (await member.invoke('relay.status', {})).server.state === 'running', 40_000);
    }
    const sam = await start(samHost, ['--user', 'sam', '--no-relay']);
    const relayAddresses = [`${roseHost.address}:`, `${ruthHost.address}:`];
    let view: RelayView | undefined;
    await until('sam to keep both relays ready, found on the LAN', async () => {
      view = await sam.invoke('relay.status', {});
      const onLan = view.finder.relays.filter((r) => r.source === 'lan' && r.ready);
      return relayAddresses.every((a) => onLan.some((r) => r.address.startsWith(a)));
    }, 60_000, () => JSON.stringify(view?.finder));

    // Switched off, ruth's relay leaves her DNS-SD record.
    await ruth.invoke('relay.configure', { enabled: false });
    let peers: LanPeerView[] = [];
    const lanPeers = async () => (peers = (await sam.invoke('lan.status', {})).peers);
    await until('ruth\'s record to stop naming a relay', async () => (await lanPeers()).some((p) => p.host === ruthHost.address && p.relay === undefined), 30_000, () => JSON.stringify(peers));
    assert.ok((await lanPeers()).some((p) => p.host === roseHost.address && p.relay?.startsWith(`turn:${roseHost.address}:`)), 'rose still names hers');
  });
});
