// The node's ID proof and its name claim's work are solved once and kept in settings: a restart
// finds them there, a new key (or a name, or a higher difficulty) is solved again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { nameClaimWork, nodeIdProof, solveInSlices } from '../../../native/services/overlay/id-work.js';
import type { SettingsRepository } from '../../../native/storage/repositories/settings-repository.js';
import { checkIdProof, checkNameWork, nodeIdFromProof } from '../../../native/wire/overlay/id-puzzle.js';
import { idToHex } from '../../../native/wire/overlay/node-id.js';

function memorySettings() {
  const values = new Map<string, unknown>();
  let writes = 0;
  const settings = {
    get: async <T>(key: string) => values.get(key) as T | undefined,
    set: async (key: string, value: unknown) => {
      writes++;
      values.set(key, JSON.parse(JSON.stringify(value)));
    },
  } as unknown as SettingsRepository;
  return { settings, writes: () => writes };
}

describe('puzzle solutions kept in settings', () => {
  it('solves a node ID proof once per key; a restart (same settings) reuses it', async () => {
    const { settings, writes } = memorySettings();
    const key = randomBytes(32);
    const first = await nodeIdProof(settings, key, 10);
    const ref = { id: idToHex(nodeIdFromProof(key, first.nonce)), pk: key.toString('base64url'), nonce: first.nonce };
    assert.equal(checkIdProof(ref, 10), undefined);
    assert.equal(writes(), 1);
    const again = await nodeIdProof(settings, key, 10);
    assert.equal(again.nonce, first.nonce);
    assert.equal(writes(), 1, 'nothing solved or saved again');
    // A new key, or an overlay asking more than the kept nonce shows, is solved again.
    const other = randomBytes(32);
    await nodeIdProof(settings, other, 10);
    assert.equal(writes(), 2);
    const harder = await nodeIdProof(settings, other, 14);
    assert.ok(harder.bits >= 14);
  });

  it("keeps a name claim's work per owner and name", async () => {
    const { settings, writes } = memorySettings();
    const owner = randomBytes(32).toString('base64url');
    const work = await nameClaimWork(settings, owner, 'Alice', 'peerdial', 10);
    assert.ok(checkNameWork({ owner, value: { user: 'alice', overlay: 'peerdial', work: work.nonce } }, 10));
    assert.equal((await nameClaimWork(settings, owner, 'alice', 'peerdial', 10)).nonce, work.nonce);
    assert.equal(writes(), 1);
    await nameClaimWork(settings, owner, 'bob', 'peerdial', 10);
    assert.equal(writes(), 2);
  });

  it('solves in slices, letting other work run in between, and stops when aborted', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let slices = 0;
    const solved = await solveInSlices((from) => {
      // Each slice busy for 2 ms, as real hashing is: the 1 ms timer falls due between them.
      const until = performance.now() + 2;
      while (performance.now() < until);
      return ++slices === 20 ? { nonce: from, bits: 0 } : undefined;
    });
    clearInterval(timer);
    assert.equal(slices, 20);
    assert.ok(solved.nonce > 0);
    assert.ok(ticks > 0, 'timers ran between slices');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(solveInSlices(() => undefined, controller.signal));
  });
});
