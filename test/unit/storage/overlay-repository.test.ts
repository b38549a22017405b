// A node reads the overlay records it kept a page at a time at start (a store filled to its
// quotas is hundreds of MB of JSON): every live record once, longest-lived first, even when
// pages end inside a run of equal expiry times and rows go while the pages are read.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Database } from '../../../native/storage/db.js';
import { OverlayRepository } from '../../../native/storage/repositories/overlay-repository.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('overlay records on disk', () => {
  it('come back page by page, each live one once, longest-lived first, while rows are removed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-overlay-repo-'));
    dirs.push(dir);
    const db = await Database.open(path.join(dir, 'db.sqlite3'));
    const repo = new OverlayRepository(db);
    const now = 1_000_000;
    // 23 records on 5 expiry times (runs of equal times cross page ends), and 4 already expired.
    for (let i = 0; i < 23; i++) await repo.save({ slotId: `s${String(i).padStart(2, '0')}`, json: `{"i":${i}}`, expires: now + 1_000 * (1 + (i % 5)) });
    for (let i = 0; i < 4; i++) await repo.save({ slotId: `old${i}`, json: '{}', expires: now - 1 });
    const seen: Array<{ slotId: string; expires: number }> = [];
    let pages = 0;
    for await (const page of repo.recordPages(now, 4)) {
      pages++;
      assert.ok(page.length <= 4);
      seen.push(...page);
      // The caller drops some of what it read (over quota) before asking for the next page.
      await repo.remove(page[0].slotId);
    }
    assert.equal(pages, 6);
    assert.deepEqual(seen.map((r) => r.slotId).sort(), Array.from({ length: 23 }, (_, i) => `s${String(i).padStart(2, '0')}`));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1].expires >= seen[i].expires, 'longest-lived first');
    const rest: string[] = [];
    for await (const page of repo.recordPages(now, 100)) rest.push(...page.map((r) => r.slotId));
    assert.equal(rest.length, 23 - 6);
    await db.close();
  });
});
