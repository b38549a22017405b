// A member takes no node into its routing table (or asks it as a hop) unless the node's ID stands
// on its proof of work: forged IDs are refused at the door and counted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChordNode, type OverlayTransport } from '../../../native/proto/overlay/chord-node.js';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import type { NodeRef, OpRequest, OpResponse, OverlayOp } from '../../../native/wire/overlay/messages.js';
import { nodeIdFromProof, solveIdRange } from '../../../native/wire/overlay/id-puzzle.js';
import { idToHex } from '../../../native/wire/overlay/node-id.js';
import { FakeClock } from '../../support/fake-clock.js';

const D = 6;

function proven(port: number): NodeRef & { bits: number } {
  const key = randomBytes(32);
  const { nonce, bits } = solveIdRange(key, D, 0, 1 << 20)!;
  return { id: idToHex(nodeIdFromProof(key, nonce)), host: '127.0.0.1', port, pk: key.toString('base64url'), nonce, bits };
}

/** A node at a chosen ID: what a sybil wants. */
function forged(port: number, id = 'f'.repeat(39) + '0'): NodeRef {
  return { id, host: '127.0.0.1', port };
}

type Script = { [O in OverlayOp]?: (body: OpRequest<O>) => OpResponse<O> };

function member(self: NodeRef, script: Script = {}): ChordNode {
  const clock = new FakeClock();
  const transport: OverlayTransport = {
    request: async <O extends OverlayOp>(_to: unknown, op: O, body: OpRequest<O>) => {
      const answer = (script[op] as ((b: OpRequest<O>) => OpResponse<O>) | undefined)?.(body);
      if (!answer) throw new Error(`no scripted answer to ${op}`);
      return JSON.parse(JSON.stringify(answer)) as OpResponse<O>;
    },
  };
  return new ChordNode({ self, transport, timers: clock, store: new RecordStore({ overlay: 'test', now: () => clock.now }), now: () => clock.now, config: { idDifficulty: D } });
}

describe('ID proofs at the door of the routing table', () => {
  it('a notify naming a forged node does not make it the predecessor; a proven node does', async () => {
    const node = member(proven(5000));
    node.create();
    await node.handle('notify', { node: forged(5001) });
    assert.equal(node.table.predecessor, undefined);
    assert.equal(node.ids.refused.missing, 1);
    const honest = proven(5002);
    await node.handle('notify', { node: honest });
    assert.equal((node.table.predecessor as NodeRef | undefined)?.id, honest.id);
    node.stop();
  });

  it('a stabilize request from a sender whose Contact ID is forged is answered but not taken as predecessor', async () => {
    const node = member(proven(5000));
    node.create();
    const answer = await node.handle('neighbours', { notify: true }, forged(5001));
    assert.ok(answer.digest);
    assert.equal(node.table.predecessor, undefined);
    const stolen = { ...proven(5003), id: forged(0).id };
    await node.handle('neighbours', { notify: true }, stolen);
    assert.equal(node.table.predecessor, undefined, "a real node's proof under another ID");
    assert.equal(node.ids.refused['wrong-id'], 1);
    node.stop();
  });

  it('refuses too little work: a proof solved for an easier overlay', () => {
    // Solved at 6 bits, showing fewer than 8 (three in four such solutions do).
    let weak: NodeRef & { bits: number };
    do weak = proven(5001);
    while (weak.bits >= 8);
    const { bits: _bits, ...ref } = weak;
    assert.equal(member(proven(5000)).ids.accepts(ref), true);
    const strict = member(proven(5000));
    const strictNode = new ChordNode({ self: strict.self, transport: { request: () => Promise.reject(new Error('none')) }, timers: new FakeClock(), store: strict.store, now: () => 0, config: { idDifficulty: 8 } });
    assert.equal(strictNode.ids.accepts(ref), false);
    assert.equal(strictNode.ids.refused['too-little-work'], 1);
  });

  it('leaves forged nodes out of the successors a join adopts, and refuses a lookup answer that names one', async () => {
    const successor = proven(5001);
    const sybil = forged(5002, idToHex(0n));
    const good = proven(5003);
    // The bootstrap names a forged node as our successor: the join fails rather than adopt it.
    const fooled = member(proven(5000), { 'find-closest': () => ({ done: true, node: sybil, successors: [] }) });
    await assert.rejects(fooled.join({ host: '127.0.0.1', port: 5001 }));
    assert.equal(fooled.table.successor, undefined);
    assert.ok(fooled.ids.refused.missing >= 1);
    // The right successor, with a forged node among the ones after it: that one is left out.
    const joiner = member(proven(5000), {
      'find-closest': () => ({ done: true, node: successor, successors: [sybil, good] }),
      neighbours: () => ({ digest: '00000000', successors: [sybil, good] }),
      notify: () => ({}),
    });
    await joiner.join({ host: '127.0.0.1', port: 5001 });
    assert.deepEqual(
      joiner.table.successors.map((n) => n.id),
      [successor.id, good.id],
    );
    await joiner.stabilize();
    assert.ok(!joiner.table.knows(sybil.id), 'stabilize took the successor list without the forged node');
    assert.ok(joiner.ids.refused.missing >= 2);
    joiner.stop();
  });

  it('with verifyIds off (the simulator), references are taken as they come', async () => {
    const clock = new FakeClock();
    const node = new ChordNode({ self: forged(5000, idToHex(5n)), transport: { request: () => Promise.reject(new Error('none')) }, timers: clock, store: new RecordStore({ overlay: 'test', now: () => clock.now }), now: () => clock.now, config: { verifyIds: false } });
    node.create();
    await node.handle('notify', { node: forged(5001) });
    assert.equal(node.table.predecessor?.port, 5001);
    node.stop();
  });
});
