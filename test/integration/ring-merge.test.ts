// Two overlays' worth of in-process engines, each set its own Chord ring over real SIP on loopback
// (two LAN segments that have not met yet), each with registered users. One engine of the first
// learns of one engine of the second (`mergeWith`, as LAN discovery calls it): the two become one
// ring, every user is found by AOR from every engine, and a MESSAGE by AOR crosses the former rings.
// A third ring joins them when one of its nodes is given a bootstrap peer (`overlay.addBootstrap`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageView } from '../../native/control/api.js';
import { Engine } from '../../native/roots/node-engine.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { reachesDevice } from '../support/contacts.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const SEGMENT_A = ['ann', 'ben', 'cat'];
const SEGMENT_B = ['dan', 'eve', 'fay', 'gus'];
const OVERLAY = 'peerdial';

const engines = new Map<string, Engine>();
let mergeStartedAt = 0;
const dirs: string[] = [];

async function startSegment(users: string[]): Promise<void> {
  for (const user of users) {
    const dir = await tempDataDir();
    dirs.push(dir);
    const first = engines.get(users[0]);
    engines.set(
      user,
      await Engine.start({
        dataDir: dir,
        bind: '127.0.0.1',
        sipPort: 0,
        user: { userName: user },
        bootstrap: first ? [`127.0.0.1:${first.sip.port}`] : [],
        overlayConfig: FAST,
        // No refresh during the test: what is found after the merge was moved or re-stored because of it.
        registrationRefreshMs: 600_000,
        // The segments must not find each other by themselves on loopback.
        mdns: false,
        multicastRegister: false,
      }),
    );
  }
}

const of = (users: string[]) => users.map((u) => engines.get(u)!);
const contactOf = (user: string) => `sip:${user}@127.0.0.1:${engines.get(user)!.sip.port}`;

/** Members whose successor or predecessor is not the next or previous node ID among `members`. */
function ringErrors(members: Engine[]): string[] {
  const ids = members.map((e) => e.overlay.self!.id).sort();
  return members.flatMap((e) => {
    const table = e.overlay.node!.table;
    const i = ids.indexOf(e.overlay.self!.id);
    const errors: string[] = [];
    if (table.successor?.id !== ids[(i + 1) % ids.length]) errors.push(`${e.overlay.self!.id.slice(0, 8)}: successor ${table.successor?.id.slice(0, 8)}`);
    if (table.predecessor?.id !== ids[(i - 1 + ids.length) % ids.length]) errors.push(`${e.overlay.self!.id.slice(0, 8)}: predecessor ${table.predecessor?.id.slice(0, 8)}`);
    // Why a node may not take its right neighbour: node references it refused (ID proof), or nodes it distrusts.
    const refused = Object.entries(e.overlay.node!.ids.refused).filter(([, n]) => n > 0);
    const distrusted = e.overlay.node!.suspects().map((s) => s.node.id.slice(0, 8));
    if (errors.length && (refused.length || distrusted.length)) errors.push(`  refused ${JSON.stringify(Object.fromEntries(refused))}, distrusts [${distrusted.join(', ')}]`);
    return errors;
  });
}

async function findsContact(from: Engine, user: string): Promise<boolean> {
  const found = await from.overlay.lookupAor(user);
  return reachesDevice(found.contacts, contactOf(user));
}

describe('two rings of engines merging', () => {
  before(async () => {
    await startSegment(SEGMENT_A);
    await startSegment(SEGMENT_B);
    for (const segment of [SEGMENT_A, SEGMENT_B]) {
      await until(
        `segment ${segment.join(', ')} to be one registered ring`,
        async () => of(segment).every((e) => e.overlay.registration.state === 'registered') && ringErrors(of(segment)).length === 0,
        20_000,
        () => ringErrors(of(segment)).join('\n'),
      );
    }
  });
  after(async () => {
    for (const e of engines.values()) await e.stop();
    for (const d of dirs) await removeDir(d);
  });

  it('starts as two rings: a user of one is not found from the other', async () => {
    assert.ok(await findsContact(engines.get('ann')!, 'cat'));
    assert.ok(await findsContact(engines.get('dan')!, 'gus'));
    assert.equal(await findsContact(engines.get('ann')!, 'fay'), false);
    assert.equal(await findsContact(engines.get('eve')!, 'ben'), false);
  });

  it('becomes one ring once one engine of each meets, and every user is found from every engine', async () => {
    const started = performance.now();
    mergeStartedAt = Date.now();
    await engines.get('ben')!.overlay.mergeWith(`127.0.0.1:${engines.get('eve')!.sip.port}`);
    const all = [...engines.values()];
    await until('one ring of all seven engines', async () => ringErrors(all).length === 0, 15_000, () => ringErrors(all).join('\n'));
    const ringMs = performance.now() - started;
    const missing = () =>
      Promise.all(all.flatMap((from) => [...engines.keys()].map(async (user) => ((await findsContact(from, user).catch(() => false)) ? [] : [`${from.overlay.ownAor()} -> ${user}`])))).then((r) => r.flat());
    let last: string[] = [];
    await until(
      'every user found from every engine',
      async () => {
        last = await missing();
        return last.length === 0;
      },
      15_000,
      () => `not found: ${last.join(', ')}`,
    );
    console.log(`# ${SEGMENT_A.length} + ${SEGMENT_B.length} engines: one ring ${ringMs.toFixed(0)} ms after mergeWith began, every user found after ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('delivers a MESSAGE by AOR across the former rings, both ways', async () => {
    for (const [from, to] of [
      ['ann', 'gus'],
      ['fay', 'cat'],
    ]) {
      const text = `hello ${to}, from the other segment`;
      const sent = await engines.get(from)!.api.invoke('im.send', { to: `sip:${to}@${OVERLAY}`, text });
      const settled = await until(`${from}'s message to ${to} to settle`, async () => {
        const m = (await engines.get(from)!.api.invoke('im.history', { peer: `sip:${to}@${OVERLAY}` })).find((x: MessageView) => x.id === sent.id);
        return m && m.status !== 'sending' && m;
      });
      assert.equal(settled.status, 'delivered', `${from} -> ${to}: ${settled.reason}`);
      const received = await engines.get(to)!.api.invoke('im.history', { peer: `sip:${from}@${OVERLAY}` });
      assert.ok(received.some((m) => m.text === text && m.direction === 'in'));
    }
  });

  it('merges a third ring into it when one of its nodes is given a bootstrap peer of the merged ring', async () => {
    const SEGMENT_C = ['hal', 'ivy'];
    await startSegment(SEGMENT_C);
    await until('the third segment to be one registered ring', async () => of(SEGMENT_C).every((e) => e.overlay.registration.state === 'registered') && ringErrors(of(SEGMENT_C)).length === 0);
    assert.equal(await findsContact(engines.get('ann')!, 'ivy'), false);
    // As the UI adds one: through the control API.
    await engines.get('ivy')!.api.invoke('overlay.addBootstrap', { address: `127.0.0.1:${engines.get('dan')!.sip.port}` });
    const all = [...engines.values()];
    await until('one ring of all nine engines', async () => ringErrors(all).length === 0, 15_000, () => ringErrors(all).join('\n'));
    await until('hal and ivy found from ann, and ann from hal', async () => (await findsContact(engines.get('ann')!, 'hal')) && (await findsContact(engines.get('ann')!, 'ivy')) && (await findsContact(engines.get('hal')!, 'ann')));
  });

  it('keeps every binding once the merge has settled: none lost, each on the node now responsible for it', async () => {
    // Past the post-merge re-registration and a replication period: what is stored now is what stays.
    await new Promise((r) => setTimeout(r, FAST.replicateMs * 2));
    const all = [...engines.values()];
    const ids = all.map((e) => e.overlay.self!).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const user of engines.keys()) {
      const found = await engines.get('ann')!.overlay.lookupAor(user);
      assert.equal(found.contacts.length, 1, `${user}'s binding`);
      assert.ok(reachesDevice(found.contacts, contactOf(user)), `${user}'s binding: ${found.contacts[0]}`);
      const responsible = ids.find((n) => n.id >= found.key) ?? ids[0];
      assert.equal(found.responsible?.id, responsible.id, `${user}'s key is routed to the node that follows it`);
      const holder = all.find((e) => e.overlay.self!.id === responsible.id)!;
      assert.ok(holder.overlay.node!.store.get(found.key, 'binding').length > 0, `${user}'s binding is on the responsible node`);
    }
    // Each owner stored its records again after the merge, long before its next refresh was due.
    for (const user of [...SEGMENT_A, ...SEGMENT_B]) {
      const registration = engines.get(user)!.overlay.registration;
      assert.equal(registration.state, 'registered');
      assert.ok((registration.lastRefresh ?? 0) >= mergeStartedAt, `${user} did not store its binding again after the merge`);
    }
  });
});
