// Buddies in two rings that never met (two LANs, say): each finds the other's devices in the
// location item the other signed in the BitTorrent DHT (BEP 44), a message and a call go
// through, and the two rings become one. A private DHT of 120 nodes on loopback; no bootstrap
// address, no LAN discovery.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startPrivateDht, type PrivateDht } from '../support/private-dht.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const ALICE = 'sip:alice@peerdial';
const BOB = 'sip:bob@peerdial';
const engines: Engine[] = [];
const dirs: string[] = [];
let dht: PrivateDht;

async function start(user: string, dataDir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const engine = await Engine.start({
    dataDir,
    bind: '127.0.0.1',
    sipPort: 0,
    user: { userName: user },
    overlayConfig: FAST,
    registrationRefreshMs: 2_000,
    mdns: false,
    multicastRegister: false,
    autoAnswer: true,
    ...options,
  });
  engines.push(engine);
  return engine;
}

async function stop(engine: Engine): Promise<void> {
  await engine.stop();
  engines.splice(engines.indexOf(engine), 1);
}

function ringOf(engine: Engine): Set<string> {
  const table = engine.overlay.node?.table;
  return new Set([engine.overlay.self!.id, ...(table?.knownNodes() ?? []).map((n) => n.id)]);
}

describe('buddies in two rings find each other through the DHT', () => {
  before(async () => {
    dht = await startPrivateDht(120);
  });
  after(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    await dht?.close();
    await Promise.all(dirs.map(removeDir));
  });

  it('with their bindings kept only in the DHT, a message and a call go through from another ring, and the rings merge', async () => {
    const [aliceDir, bobDir, annDir, benDir] = await Promise.all([tempDataDir(), tempDataDir(), tempDataDir(), tempDataDir()]);
    dirs.push(aliceDir, bobDir, annDir, benDir);

    // Alice and bob meet once, in one ring with no DHT, and become buddies: each pins the other's key.
    let alice = await start('alice', aliceDir, { dht: false });
    let bob = await start('bob', bobDir, { dht: false, bootstrap: [`127.0.0.1:${alice.sip.port}`] });
    await until('each finds the other', async () => !!(await alice.overlay.lookupAor('bob').catch(() => undefined))?.contacts.length && !!(await bob.overlay.lookupAor('alice').catch(() => undefined))?.contacts.length);
    await alice.api.invoke('buddy.add', { aor: 'bob' });
    await until('alice\'s request at bob', async () => (await bob.api.invoke('buddy.list', {})).some((b) => b.aor === ALICE));
    await bob.api.invoke('buddy.accept', { aor: ALICE });
    await until('both keys pinned', async () => !!alice.buddies.buddyKey(BOB) && !!bob.buddies.buddyKey(ALICE));
    await Promise.all([stop(alice), stop(bob)]);

    // Later, each in a ring of its own (with a neighbour), bindings in the DHT only, the DHT on.
    const dhtOn: Partial<EngineOptions> = { dht: true, dhtBootstrap: dht.bootstrap, location: 'dht' };
    alice = await start('alice', aliceDir, dhtOn);
    const ann = await start('ann', annDir, { ...dhtOn, bootstrap: [`127.0.0.1:${alice.sip.port}`] });
    bob = await start('bob', bobDir, dhtOn);
    const ben = await start('ben', benDir, { ...dhtOn, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    await until('both published their location', async () => alice.dht.view().stats.published > 0 && bob.dht.view().stats.published > 0, 30_000);

    let seen = '';
    const found = await until(
      'bob\'s device found from alice\'s ring',
      async () => {
        const answer = await alice.overlay.lookupAor('bob');
        seen = `${JSON.stringify(answer)}; alice's DHT: ${JSON.stringify(alice.dht.view().stats)}`;
        // Bob's device, at its TLS listener with its certificate pinned, as his binding says.
        const tls = bob.sip.reachableTls!;
        return answer.contacts.some((c) => c.includes(`:${tls.port};`) && c.includes(`pdcert=${tls.certificate}`)) ? answer : undefined;
      },
      30_000,
      () => seen,
    );
    assert.equal(found.source, 'dht', 'bob\'s devices came from his signed item');
    assert.equal(found.owner, alice.buddies.buddyKey(BOB));

    const sent = await alice.api.invoke('im.send', { to: BOB, text: 'found you through the DHT' });
    await until('the message at bob', async () => (await bob.api.invoke('im.history', { peer: ALICE })).some((m) => m.text === 'found you through the DHT'));
    assert.ok(['sent', 'delivered', 'read'].includes((await alice.api.invoke('im.history', { peer: BOB })).find((m) => m.id === sent.id)?.status ?? ''), 'sent to bob directly, not left in his mailbox');

    const call = await bob.api.invoke('call.dial', { to: ALICE });
    await until('the call answered', async () => (await bob.api.invoke('call.list', {})).find((c) => c.id === call.id)?.state === 'active', 20_000);
    await bob.api.invoke('call.hangup', { id: call.id });
    assert.ok(bob.dht.view().stats.locationsFound > 0, 'bob found alice in the DHT');

    await until(
      'one ring of four',
      async () => [alice, ann, bob, ben].every((e) => ringOf(e).size === 4 || e.overlay.node!.table.successors.length >= 3),
      60_000,
    );
  });
});
