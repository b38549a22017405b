// One data dir, one node: the built CLI as a user runs it, twice on one dir.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOCK_FILE } from '../../native/storage/data-dir-lock.js';
import { assertOneLineError } from '../support/cli-assertions.js';
import { removeDir, runCli, startNode, tempDataDir } from '../support/node-process.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeDir)));

describe('data dir lock', () => {
  it('a second node on the same data dir exits with one sentence; after kill -9 a new node takes the lock over', async () => {
    const dir = await tempDataDir();
    dirs.push(dir);
    const first = await startNode({ user: 'erin', dataDir: dir });
    try {
      const second = await runCli(['node', '--data-dir', dir, '--bind', '127.0.0.1', '--sip-port', '0']);
      assertOneLineError(second, new RegExp(`^peerdial: Another Peerdial node \\(pid ${first.child.pid}\\) is using the data dir ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: stop it first, or run a second node with another --data-dir DIR\\.$`));
      assert.equal(second.code, 1);
    } finally {
      await first.kill('SIGKILL');
    }
    assert.ok(existsSync(path.join(dir, LOCK_FILE)), 'kill -9 leaves the lock behind');
    const third = await startNode({ dataDir: dir });
    assert.equal(third.sipContact?.replace(/:\d+$/, ''), 'sip:erin@127.0.0.1');
    assert.equal(await third.stop(), 0);
    assert.equal(existsSync(path.join(dir, LOCK_FILE)), false, 'a clean stop removes the lock');
  });
});
