// A ring of five real engines over loopback SIP in which one member turns hostile (issue 21,
// "lookups that survive liars"): for the keys it is responsible for it answers "not found", and it
// takes writes and drops them. The hostile behaviour is put into that one engine's overlay node
// through a hook in this file; the other four run unchanged. A user whose name claim and binding
// that node holds is still found, her refreshed binding still reaches the replicas, and the node
// that asked ends up listing the liar among its suspects in overlay.status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChordNode } from '../../native/proto/overlay/chord-node.js';
import { Engine } from '../../native/roots/node-engine.js';
import type { OpRequest, OpResponse, OverlayOp } from '../../native/wire/overlay/messages.js';
import { idFromHex, idToHex, keyForAor } from '../../native/wire/overlay/node-id.js';
import type { OverlayRecord } from '../../native/wire/overlay/record.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

/**
 * Test-only hook: from now on `node` hides every record it is responsible for. It answers a fetch
 * of such a key with nothing, says "stored" to a write of one and keeps nothing, and forgets what
 * it held. Everything else (routing, stabilize, pings) it answers honestly, so it stays in the ring.
 */
function turnLiar(node: ChordNode): { hidden: () => number; fetchesFrom: (id: string) => number } {
  const honest = node.handle.bind(node);
  let hidden = 0;
  const fetches = new Map<string, number>();
  const mine = (key: unknown) => typeof key === 'string' && idFromHex(key) !== undefined && node.table.isResponsible(idFromHex(key)!);
  node.handle = (async <O extends OverlayOp>(op: O, body: OpRequest<O>, sender?: Parameters<ChordNode['handle']>[2], source?: string): Promise<OpResponse<O>> => {
    const b = body as { key?: string; records?: OverlayRecord[]; replica?: boolean };
    if (op === 'fetch' && mine(b.key)) {
      hidden++;
      if (sender) fetches.set(sender.id, (fetches.get(sender.id) ?? 0) + 1);
      return { records: [] } as unknown as OpResponse<O>;
    }
    if (op === 'store' && b.replica === false && b.records?.some((r) => mine(r.key))) {
      hidden++;
      return { stored: b.records.length, rejected: [] } as unknown as OpResponse<O>;
    }
    return honest(op, body, sender, source);
  }) as ChordNode['handle'];
  for (const r of node.store.all()) if (mine(r.key)) node.store.removeKey(r.key);
  return { hidden: () => hidden, fetchesFrom: (id) => fetches.get(id) ?? 0 };
}

describe('an overlay with one member hiding records', () => {
  const engines: Engine[] = [];
  const dirs: string[] = [];
  before(async () => {
    for (const user of USERS) {
      const dir = await tempDataDir();
      dirs.push(dir);
      const bootstrap = engines.length ? [`127.0.0.1:${engines[0].sip.port}`] : [];
      engines.push(await Engine.start({ dataDir: dir, bind: '127.0.0.1', sipPort: 0, user: { userName: user }, bootstrap, overlayConfig: FAST, registrationRefreshMs: 2_000, relay: { enabled: false } }));
    }
    await until(
      'every user registered and a ring of five formed',
      async () => engines.every((e) => e.overlay.registration.state === 'registered' && e.overlay.node!.table.successors.length >= 3 && e.overlay.node!.table.predecessor),
      60_000,
    );
  });
  after(async () => {
    for (const e of engines) await e.stop();
    for (const d of dirs) await removeDir(d);
  });

  it('still finds a user whose records the responsible node hides, and that node becomes a suspect of the node that looked', async () => {
    // A user whose name and binding another member is responsible for; that member turns liar.
    const keyOf = (user: string) => keyForAor(user, 'peerdial');
    const responsibleFor = (user: string) => engines.find((e) => e.overlay.node!.table.isResponsible(keyOf(user)))!;
    const targetIndex = USERS.findIndex((u, i) => responsibleFor(u) !== engines[i]);
    assert.ok(targetIndex >= 0, 'some user\'s records live on another member');
    const [user, target] = [USERS[targetIndex], engines[targetIndex]];
    const liar = responsibleFor(user);
    const key = idToHex(keyOf(user));
    const querier = engines.find((e) => e !== target && e !== liar)!;
    // The two members after the liar: the key's replicas.
    const replicas = liar.overlay.node!.table.successors.slice(0, 2).map((ref) => engines.find((e) => e.overlay.self!.id === ref.id)!);
    const before = await querier.overlay.lookupAor(user);
    assert.ok(before.contacts.length > 0 && before.owner, 'found while everyone is honest');
    const newestBinding = (e: Engine) => Math.max(0, ...e.overlay.node!.store.get(key, 'binding').map((r) => r.seq));
    const seqAtTurn = Math.max(...replicas.map(newestBinding));

    const liarHook = turnLiar(liar.overlay.node!);

    // The user's next registration refresh goes to the liar, which drops it; the put checks the
    // replicas itself and writes the new binding there.
    await until('the refreshed binding at both replicas', async () => replicas.every((e) => newestBinding(e) > seqAtTurn), 20_000, () => `replicas hold seq ${replicas.map(newestBinding).join(', ')}, at the turn ${seqAtTurn}`);
    assert.equal(liar.overlay.node!.store.get(key).length, 0, 'the liar keeps nothing of the user');

    const found = await querier.overlay.lookupAor(user);
    assert.ok(liarHook.hidden() > 0, 'the liar was asked and hid the records');
    assert.deepEqual(found.contacts, before.contacts);
    assert.equal(found.owner, before.owner, 'the name claim is found too');

    // The first "not found" is what an honest newcomer says too: the liar is given the records,
    // and hiding them again on a later lookup makes it a suspect.
    assert.ok((await querier.api.invoke('overlay.status', {})).stats.fetchRepairs >= 1, 'the liar was given the records it lacked');
    await until(
      'the liar to become a suspect of the node that looks',
      async () => {
        const next = await querier.overlay.lookupAor(user);
        assert.deepEqual(next.contacts, before.contacts);
        return (await querier.api.invoke('overlay.status', {})).suspects.length > 0;
      },
      10_000,
    );
    const status = await querier.api.invoke('overlay.status', {});
    const suspect = status.suspects.find((s) => s.node.id === liar.overlay.self!.id);
    assert.ok(suspect, `the liar is a suspect at the node that looked (suspects: ${JSON.stringify(status.suspects)})`);
    assert.match(suspect.reason, /not found/);
    assert.ok(suspect.until > Date.now());
    assert.ok(status.stats.suspects >= 1);
    // No honest member was marked.
    assert.deepEqual(status.suspects.map((s) => s.node.id), [liar.overlay.self!.id]);

    // Kept out of the querier's fetches from now on: the user is found without asking the liar.
    const askedBefore = liarHook.fetchesFrom(querier.overlay.self!.id);
    assert.ok(askedBefore > 0);
    const again = await querier.overlay.lookupAor(user);
    assert.deepEqual(again.contacts, before.contacts);
    assert.equal(liarHook.fetchesFrom(querier.overlay.self!.id), askedBefore);
  });
});
