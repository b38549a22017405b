// With the DHT off, nothing of it leaves the node: tshark captures every interface while a node
// runs with --dht off, and finds neither a KRPC datagram (BEP 5's bencoded queries) nor a DNS
// query for the public DHT routers. The same capture around a node with --dht on (started from a
// private DHT on loopback) sees its KRPC, so the check can fail.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPackets, requireTshark, startCapture } from '../peers/tshark.js';
import { freePort, removeDir, startNode } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startPrivateDht } from '../support/private-dht.js';

/** A bencoded KRPC message (BEP 5): a dictionary with a "y" of q, r or e. */
function isKrpc(payload: Buffer): boolean {
  const text = payload.toString('latin1');
  return text.startsWith('d') && /1:y1:[qre]/.test(text);
}

const ROUTERS = ['router.bittorrent.com', 'router.utorrent.com', 'dht.transmissionbt.com'];

/** A DNS query (UDP port 53) naming one of the public DHT routers. */
function asksForRouter(payload: Buffer): boolean {
  const labels = payload.toString('latin1').replace(/[\x00-\x1f]/g, '.').toLowerCase();
  return ROUTERS.some((name) => labels.includes(name.split('.')[0]) && labels.includes(name.split('.')[1]));
}

describe('the DHT off sends nothing to the DHT (tshark)', () => {
  let dir: string;
  before(async () => {
    requireTshark();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-dht-off-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function captureAround(name: string, args: string[]): Promise<{ krpc: number; dns: number }> {
    const file = path.join(dir, `${name}.pcap`);
    const capture = await startCapture({ file, ports: [53], probePort: await freePort(), maxSeconds: 60, iface: 'any', hosts: ['127.0.0.1'] });
    const node = await startNode({ user: name, args: ['--no-mdns', '--no-multicast-register', ...args] });
    try {
      // Long enough for a DHT node to resolve its routers and send its first queries.
      await until('the node ran a while', async () => node.output().includes('overlay:'), 10_000);
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      await node.stop();
      await capture.stop();
      await removeDir(node.dataDir);
    }
    // tshark reads back what it wrote (pcapng, Linux cooked frames on "any").
    const datagrams = readPackets(file, ['udp.dstport', 'udp.payload'], 'udp').map((p) => ({
      destinationPort: Number(p['udp.dstport'][0]),
      payload: Buffer.from((p['udp.payload'][0] ?? '').replace(/:/g, ''), 'hex'),
    }));
    return { krpc: datagrams.filter((d) => isKrpc(d.payload)).length, dns: datagrams.filter((d) => d.destinationPort === 53 && asksForRouter(d.payload)).length };
  }

  it('a node with --dht off sends no KRPC and asks DNS for no DHT router; with --dht on its KRPC shows', async () => {
    const off = await captureAround('off', ['--dht', 'off']);
    assert.deepEqual(off, { krpc: 0, dns: 0 });
    // The DHT on, started from a small private DHT (started only now, so its own chatter cannot
    // fall in the first capture): its queries are in the capture.
    const dht = await startPrivateDht(4);
    try {
      const on = await captureAround('on', ['--dht', 'on', '--dht-bootstrap', dht.bootstrap[0]]);
      assert.ok(on.krpc > 0, `the capture sees a node with the DHT on: ${JSON.stringify(on)}`);
    } finally {
      await dht.close();
    }
  });
});
