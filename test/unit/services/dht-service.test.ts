// The DHT service's judgement of the peers a lookup names, with a fake mainline DHT: from the
// public DHT, private and loopback addresses are refused untried; at most 32 peers are tried
// per lookup, whatever a lookup names; and every one is tried through the overlay's SIP-checked
// merge, never believed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DhtService, MAX_PEERS_PER_LOOKUP } from '../../../native/services/dht/index.js';
import type { DhtPeer, MainlineDht, MainlineDhtOptions } from '../../../native/transport/mainline-dht.js';
import { createLogger } from '../../../native/log.js';
import { overlayInfohash } from '../../../native/wire/dht/overlay-infohash.js';
import { FakeClock } from '../../support/fake-clock.js';
import { until } from '../../support/poll.js';

function fakeDht(peers: DhtPeer[]): MainlineDht & { started?: MainlineDhtOptions; looked: Buffer[] } {
  const fake = {
    looked: [] as Buffer[],
    started: undefined as MainlineDhtOptions | undefined,
    address: () => ({ address: '127.0.0.1', port: 6881 }),
    nodeCount: () => 8,
    lookup: async (infohash: Buffer, onPeer: (peer: DhtPeer) => void) => {
      fake.looked.push(infohash);
      for (const p of peers) onPeer(p);
      return 8;
    },
    announce: async () => undefined,
    getMutable: async () => undefined,
    putMutable: async () => 0,
    counters: { dropped: 3, warnings: 0, errors: 0, badSignatures: 0 },
    close: async () => undefined,
  };
  return fake;
}

function service(dht: MainlineDht, bootstrap?: string[], merge: (hostPort: string) => Promise<void> = async () => Promise.reject(new Error('no SIP answer'))) {
  const merged: string[] = [];
  const clock = new FakeClock();
  const s = new DhtService({
    enabled: true,
    bind: '0.0.0.0',
    port: 0,
    bootstrap,
    overlay: {
      overlay: 'peerdial',
      isMember: () => false,
      isAlone: () => true,
      sipPort: () => 5060,
      isSelf: (p) => p.host === '203.0.113.1' && p.port === 5060,
      mergeWith: (hostPort) => {
        merged.push(hostPort);
        return merge(hostPort);
      },
      ownLocation: () => undefined,
      sign: () => Buffer.alloc(64),
    },
    location: 'ring',
    start: async (options) => {
      (dht as { started?: MainlineDhtOptions }).started = options;
      return dht;
    },
    timers: clock,
    log: createLogger('test', 'error'),
    onChange: () => undefined,
  });
  const begin = async () => {
    await s.start();
    await until('the DHT ready', async () => s.view().state === 'ready');
    clock.advance(0); // the first lookup
  };
  return { s, merged, clock, begin };
}

const PRIVATE = ['127.0.0.1', '10.0.0.7', '172.20.1.1', '192.168.1.20', '169.254.3.4', '100.100.1.1', '0.0.0.0', '239.1.2.3'];

describe('the DHT service and the peers a lookup names', () => {
  it('from the public DHT, refuses loopback and private addresses without trying them, and tries the public ones', async () => {
    const peers = [...PRIVATE.map((host) => ({ host, port: 5060 })), { host: '198.51.100.9', port: 5060 }, { host: '203.0.113.1', port: 5060 }];
    const dht = fakeDht(peers);
    const { s, merged, begin } = service(dht);
    await begin();
    await until('the first lookup done', async () => s.view().state === 'ready' && s.view().lastLookupAt !== undefined && s.view().stats.unverified === 1);
    assert.equal(dht.started?.bootstrap, undefined, 'the public routers');
    assert.deepEqual(dht.looked[0], overlayInfohash('peerdial'));
    assert.deepEqual(merged, ['198.51.100.9:5060'], 'only the public address is tried (ourselves is not)');
    const stats = s.view().stats;
    assert.equal(stats.refusedPrivate, PRIVATE.length);
    assert.equal(stats.peersFound, peers.length);
    assert.equal(stats.merged, 0);
    assert.equal(stats.malformed, 3, 'the DHT node\'s dropped datagrams');
    await s.stop();
  });

  it('with a private bootstrap, tries loopback addresses (they are the private DHT\'s)', async () => {
    const dht = fakeDht([{ host: '127.0.0.1', port: 5070 }]);
    const { s, merged, begin } = service(dht, ['127.0.0.1:7000'], async () => undefined);
    await begin();
    await until('the peer merged', async () => s.view().stats.merged === 1);
    assert.deepEqual(merged, ['127.0.0.1:5070']);
    assert.equal(s.view().stats.refusedPrivate, 0);
    await s.stop();
  });

  it('tries at most 32 of thousands of peers in one lookup, counts the rest, and tries others next time', async () => {
    const peers = Array.from({ length: 3000 }, (_, i) => ({ host: `198.51.${100 + (i >> 8)}.${i & 255}`, port: 5060 }));
    peers.push(...peers.slice(0, 500)); // the same ones named again
    const dht = fakeDht(peers);
    const { s, merged, clock, begin } = service(dht);
    await begin();
    await until('the first lookup done', async () => s.view().stats.unverified === MAX_PEERS_PER_LOOKUP);
    assert.equal(MAX_PEERS_PER_LOOKUP, 32);
    assert.equal(merged.length, 32);
    assert.equal(s.view().stats.notTried, 3000 - 32);
    assert.equal(s.view().stats.merged, 0);

    clock.advance(2_000); // the next lookup while alone
    await until('the second lookup done', async () => s.view().stats.unverified === 2 * MAX_PEERS_PER_LOOKUP);
    assert.equal(new Set(merged).size, 64, 'none tried twice within 10 minutes');
    assert.equal(s.view().stats.notTried, 3000 - 32 + 3000 - 64);
    await s.stop();
  });
});
