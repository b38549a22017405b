// The data dir lock: O_EXCL create, the owner named, a crashed owner's lock taken over.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirLock, DataDirLockedError, isStale, LOCK_FILE } from '../../../native/storage/data-dir-lock.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function dir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'peerdial-lock-'));
  dirs.push(d);
  return d;
}

/** A PID that was alive and is no longer: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('data dir lock', () => {
  it('writes its owner and removes the file on release', async () => {
    const d = await dir();
    const lock = DataDirLock.acquire(d);
    const owner = JSON.parse(await readFile(path.join(d, LOCK_FILE), 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.hostname, os.hostname());
    lock.release();
    assert.equal(existsSync(path.join(d, LOCK_FILE)), false);
  });

  it('twelve locks in one process (twelve engines) share one exit handler: no MaxListeners warning, and a process exit still removes every file', async () => {
    const before = process.listenerCount('exit');
    const ds = await Promise.all(Array.from({ length: 12 }, () => dir()));
    const locks = ds.map((d) => DataDirLock.acquire(d));
    assert.equal(process.listenerCount('exit'), before + 1);
    for (const listener of process.listeners('exit').slice(before)) (listener as (code: number) => void)(0);
    for (const d of ds) assert.equal(existsSync(path.join(d, LOCK_FILE)), false, `${d} released at exit`);
    assert.equal(process.listenerCount('exit'), before, 'the handler leaves with the last lock');
    for (const lock of locks) lock.release();
  });

  it('refuses a second lock while the first is held, naming the pid and --data-dir', async () => {
    const d = await dir();
    // A live owner that is not us: our parent process (the test runner) is alive.
    await writeFile(path.join(d, LOCK_FILE), JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: new Date().toISOString(), nonce: 'x' }));
    assert.throws(() => DataDirLock.acquire(d), (error: unknown) => {
      assert.ok(error instanceof DataDirLockedError);
      assert.equal(error.code, 'DATA_DIR_LOCKED');
      assert.match(error.message, new RegExp(`another Peerdial node \\(pid ${process.ppid}\\) is using the data dir .*another --data-dir`));
      return true;
    });
  });

  it('takes over the lock of a process that is gone', async () => {
    const d = await dir();
    const pid = await deadPid();
    await writeFile(path.join(d, LOCK_FILE), JSON.stringify({ pid, hostname: os.hostname(), startedAt: new Date().toISOString(), nonce: 'old' }));
    const lock = DataDirLock.acquire(d);
    assert.equal(JSON.parse(await readFile(path.join(d, LOCK_FILE), 'utf8')).pid, process.pid);
    lock.release();
  });

  it('takes over an unreadable lock (a crash while it was written)', async () => {
    const d = await dir();
    await writeFile(path.join(d, LOCK_FILE), '{"pi');
    DataDirLock.acquire(d).release();
  });

  it('does not remove a lock another node took over since', async () => {
    const d = await dir();
    const lock = DataDirLock.acquire(d);
    await writeFile(path.join(d, LOCK_FILE), JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: '', nonce: 'theirs' }));
    lock.release();
    assert.equal(JSON.parse(await readFile(path.join(d, LOCK_FILE), 'utf8')).nonce, 'theirs');
  });

  it('judges stale by boot id and liveness on this host, never across hosts', async () => {
    const self = { hostname: 'h', bootId: 'b1', pid: process.pid };
    const live = { pid: process.ppid, hostname: 'h', bootId: 'b1', startedAt: '', nonce: '' };
    assert.equal(isStale(live, self), false);
    assert.equal(isStale({ ...live, bootId: 'b0' }, self), true, 'a lock from before a reboot');
    assert.equal(isStale({ ...live, pid: await deadPid() }, self), true);
    assert.equal(isStale({ ...live, pid: await deadPid(), hostname: 'other' }, self), false);
  });
});
