// Found through the BitTorrent mainline DHT (BEP 5): three nodes with no bootstrap address and
// no LAN discovery, on a private DHT of 120 nodes on loopback, find each other under their
// overlay's infohash and form one ring; a node of another overlay is never joined.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { removeDir, runCli, startNode, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startPrivateDht, type PrivateDht } from '../support/private-dht.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const engines: Engine[] = [];
const dirs: string[] = [];
let dht: PrivateDht;

async function start(user: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const dir = await tempDataDir();
  dirs.push(dir);
  const engine = await Engine.start({
    dataDir: dir,
    bind: '127.0.0.1',
    sipPort: 0,
    user: { userName: user },
    overlayConfig: FAST,
    registrationRefreshMs: 2_000,
    mdns: false,
    multicastRegister: false,
    dht: true,
    dhtBootstrap: dht.bootstrap,
    ...options,
  });
  engines.push(engine);
  return engine;
}

describe('finding the overlay through the mainline DHT', () => {
  before(async () => {
    dht = await startPrivateDht(120);
  });
  after(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    await dht?.close();
    await Promise.all(dirs.map(removeDir));
  });

  it('three nodes with no bootstrap and no LAN discovery find each other and form one ring', async () => {
    const [ann, ben, cat] = [await start('ann'), await start('ben'), await start('cat')];
    const other = await start('dan', { overlay: 'elsewhere' });
    await until('every DHT node ready', async () => engines.every((e) => e.dht.view().state === 'ready'));
    for (const e of engines) assert.ok(e.dht.view().nodes > 0, 'its routing table has DHT nodes');

    await until(
      'one ring of three',
      async () => {
        for (const [e, users] of [[ann, ['ben', 'cat']], [ben, ['ann', 'cat']], [cat, ['ann', 'ben']]] as const) {
          for (const user of users) if (!(await e.overlay.lookupAor(user).catch(() => undefined))?.contacts.length) return false;
        }
        return [ann, ben, cat].every((e) => (e.overlay.node?.table.successors.length ?? 0) >= 2);
      },
      60_000,
      () => engines.map((e) => `${e.overlay.ownAor()}: ${JSON.stringify(e.dht.view().stats)}`).join('\n'),
    );
    // The node of another overlay announced under another infohash: nobody here met it.
    assert.equal((await ann.overlay.lookupAor('dan').catch(() => ({ contacts: [] }))).contacts.length, 0);
    assert.equal(other.overlay.node?.table.successors.length ?? 0, 0, 'dan is alone in his own overlay');
    assert.ok([ann, ben, cat].some((e) => e.dht.view().stats.announces > 0));
    assert.ok([ann, ben, cat].some((e) => e.dht.view().stats.merged > 0));
  });

  it('the headless node says where its DHT listens once ready, and refuses bad DHT and location flags in words', async () => {
    const node = await startNode({ user: 'eve', args: ['--no-mdns', '--no-multicast-register', '--dht', 'on', '--dht-bootstrap', dht.bootstrap[0]] });
    try {
      const line = await until('the dht: line', async () => /^dht: 127\.0\.0\.1:(\d+)$/m.exec(node.output()) ?? undefined, 15_000);
      assert.ok(Number(line[1]) > 0);
    } finally {
      await node.stop();
      await removeDir(node.dataDir);
    }
    const bad = await runCli(['node', '--dht', 'maybe']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dht must be on or off \(got "maybe"\)/);
    const lonely = await runCli(['node', '--dht-bootstrap', '127.0.0.1:6881']);
    assert.match(lonely.stderr, /--dht-bootstrap goes with --dht on/);
    const where = await runCli(['node', '--location', 'cloud']);
    assert.equal(where.code, 2);
    assert.match(where.stderr, /--location must be ring, dht or both \(got "cloud"\)/);
    const dhtOnly = await runCli(['node', '--location', 'dht']);
    assert.match(dhtOnly.stderr, /--location dht keeps bindings in the BitTorrent DHT: add --dht on/);
  });
});
