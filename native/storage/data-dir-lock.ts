// One data dir, one node: two engines on one sqlite file would each think they own the
// identity, the overlay replicas and the UI token. The lock is a file created with O_EXCL
// ('wx'), holding who took it; a lock left by a crashed node is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const LOCK_FILE = 'peerdial.lock';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** Linux's per-boot id: a lock from before a reboot is stale whatever its PID now names. */
  bootId?: string;
  startedAt: string;
  nonce: string;
}

export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    const where = owner.hostname === os.hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.hostname}`;
    super(
      `another Peerdial node (${where}) is using the data dir ${dataDir}: stop it first, or run a second node with another --data-dir DIR.`,
    );
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stale rule: the owner ran on this host and either this host has rebooted since (boot id
 * differs) or its PID is no longer alive. A lock from another host (a data dir on a shared
 * disk) is never judged stale: we cannot see that host's processes.
 */
export function isStale(owner: LockOwner, self: { hostname: string; bootId?: string; pid: number }): boolean {
  if (owner.hostname !== self.hostname) return false;
  if (owner.pid === self.pid) return false;
  if (owner.bootId && self.bootId && owner.bootId !== self.bootId) return true;
  return !alive(owner.pid);
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.hostname !== 'string') return undefined;
    return parsed as LockOwner;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    return undefined;
  }
}

/**
 * Locks this process holds, released by one 'exit' handler: a handler per lock would pass
 * Node's ten-listener warning in a process that runs more than ten engines (the tests do).
 */
const held = new Set<DataDirLock>();
const releaseAllOnExit = () => {
  for (const lock of [...held]) lock.release();
};

export class DataDirLock {
  private released = false;

  private constructor(
    readonly file: string,
    readonly owner: LockOwner,
  ) {
    // Backstop for process.exit() after a stop deadline: 'exit' handlers run synchronously.
    if (held.size === 0) process.on('exit', releaseAllOnExit);
    held.add(this);
  }

  /** Takes the lock on `dataDir` or throws DataDirLockedError naming the live owner. */
  static acquire(dataDir: string): DataDirLock {
    const file = path.join(dataDir, LOCK_FILE);
    const self: LockOwner = { pid: process.pid, hostname: os.hostname(), bootId: bootId(), startedAt: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
    // Three tries: a stale lock is removed and the create retried; a racing node may win it.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        try {
          writeSync(fd, JSON.stringify(self) + '\n');
        } finally {
          closeSync(fd);
        }
        return new DataDirLock(file, self);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let owner: LockOwner | undefined;
      try {
        owner = readOwner(file);
      } catch {
        continue; // removed between our create and read: try again
      }
      // An unreadable lock (a crash while writing it, a few bytes) has no live owner to name.
      if (owner && !isStale(owner, self)) throw new DataDirLockedError(dataDir, owner);
      try {
        unlinkSync(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    const owner = readOwner(file);
    throw new DataDirLockedError(dataDir, owner ?? { ...self, pid: -1 });
  }

  /** Removes the lock file if it is still ours (never another node's that took over). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    if (held.size === 0) process.off('exit', releaseAllOnExit);
    try {
      if (readOwner(this.file)?.nonce === this.owner.nonce) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
