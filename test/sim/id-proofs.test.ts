// Sybils that place themselves at chosen IDs (issue 21 item 1): in a ring whose nodes check ID
// proofs, a node at a forged ID, or at a chosen ID with a real node's proof copied, tries to
// join just before a victim's key and to make every lookup of the key end at it. It is kept out
// of every table, and lookups still find the key's real successor. The same attack in a ring that
// does not check succeeds, so the test tells the two apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import { addId, idFromHex, idToHex, RING_SIZE } from '../../native/wire/overlay/node-id.js';
import { joinInWaves, RingOracle } from './ring.js';
import { seededRandom, SimNetwork } from './sim-network.js';

const NODES = 48;

async function attack(verifyIds: boolean): Promise<{ inTables: number; refused: number; lookupsToSybil: number; lookupsRight: number }> {
  const random = seededRandom(21);
  const net = new SimNetwork({ random, provenIds: true, config: { verifyIds, idDifficulty: 4, stabilizeMs: 500, fixFingersMs: 100 } });
  await joinInWaves(net, NODES, random);
  const honest = net.live();
  const victimKey = RING_SIZE / 3n;
  const responsible = new RingOracle(honest).responsible(victimKey);
  // At the key itself, closer than its real successor: every lookup of the key would end here.
  const sybilId = idToHex(victimKey);
  const sybil = net.addNode(sybilId);
  await net.scheduler.until(sybil.join(honest[0].self).catch(() => undefined));
  await net.scheduler.runFor(20_000);
  const inTables = honest.filter((n) => n.table.knows(sybilId)).length;
  const refused = honest.reduce((sum, n) => sum + n.ids.refusedTotal, 0);
  let lookupsToSybil = 0;
  let lookupsRight = 0;
  for (const from of honest.slice(0, 16)) {
    const found = await net.scheduler.until(from.lookup(victimKey)).catch(() => undefined);
    if (found?.node.id === sybilId) lookupsToSybil++;
    if (found?.node.id === responsible.id) lookupsRight++;
  }
  return { inTables, refused, lookupsToSybil, lookupsRight };
}

describe('a sybil at a chosen ID', () => {
  it('is kept out of every table of a ring that checks ID proofs, and lookups still end at the real successor', async () => {
    const checked = await attack(true);
    assert.equal(checked.inTables, 0);
    assert.ok(checked.refused > 0, 'the refusals are counted');
    assert.equal(checked.lookupsToSybil, 0);
    assert.equal(checked.lookupsRight, 16);
  });

  it('takes the key over in a ring that does not check (what the check prevents)', async () => {
    const unchecked = await attack(false);
    assert.ok(unchecked.inTables > 0);
    assert.ok(unchecked.lookupsToSybil > 0, `${unchecked.lookupsToSybil} lookups ended at the sybil`);
  });

  it("a real node's proof copied to a chosen ID is refused like a forged one", async () => {
    const random = seededRandom(5);
    const net = new SimNetwork({ random, provenIds: true, config: { verifyIds: true, idDifficulty: 4 } });
    await joinInWaves(net, 16, random);
    const victim = net.live()[3];
    // Its proof is valid only for its own ID; moved to a chosen ID it is refused.
    const copy: ChordNode = net.addNode(idToHex(addId(idFromHex(victim.self.id)!, -1n + RING_SIZE)));
    Object.assign(copy.self, { pk: victim.self.pk, nonce: victim.self.nonce });
    await net.scheduler.until(copy.join(net.live()[0].self).catch(() => undefined));
    await net.scheduler.runFor(10_000);
    assert.equal(net.live().filter((n) => n !== copy && n.table.knows(copy.self.id)).length, 0);
  });
});
