// The rescue server's cache store: each body is one file named by the SHA-256 of its key, the
// index (meta and LRU order) lives in memory, and the most recently used bodies are also kept in
// memory so a flash crowd's few hot objects are served without touching the disk.
//
// Every file operation on one key runs in that key's queue, so a put, a delete and an eviction
// of the same key happen in the order they were asked for. Reads take no lock: a read that
// overlapped a write to its key is simply retried, so a body is never paired with another
// version's meta.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export interface CachedMeta {
  status: number;
  headers: Record<string, string>;
  requestTime: number;
  responseTime: number;
  size: number;
  /** A trusted rescuer's query result of a marked API path: fresh until then, or until the origin purges it (rescue-trust.ts). */
  pinnedUntil?: number;
}

interface Entry {
  key: string;
  file: string;
  meta: CachedMeta;
  size: number;
  /** The body, while the entry is in the memory hot set. */
  body?: Buffer;
}

const MiB = 1024 * 1024;
/** How often a read that overlapped writes to its key is retried before it is called a miss. */
const READ_ATTEMPTS = 4;

/** The file a key's body is stored in: hex SHA-256 of the key. */
export function cacheFileName(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class RescueCache {
  private readonly index = new Map<string, Entry>(); // insertion order = least recently used first
  /** The entry touch() moved to the end of both maps last, while nothing else has changed their order. */
  private lastTouched?: Entry;
  private readonly hot = new Map<string, Entry>(); // same order, entries whose body is in memory
  private readonly queues = new Map<string, Promise<void>>();
  private diskBytes = 0;
  private hotBytes = 0;
  private tempCounter = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private maxBytes: number,
    private readonly memoryBytes: number,
  ) {}

  /** Empties `dir` (a rescue cache does not outlive the process: the sessions it served are gone) and opens it. maxBytes: disk cap; memoryBytes: bodies also kept in memory (most recently used first) up to this. */
  static async open(options: { dir: string; maxBytes: number; memoryBytes?: number }): Promise<RescueCache> {
    if (!(options.maxBytes >= 0)) throw new RangeError('maxBytes must be a non-negative number');
    const dir = path.resolve(options.dir);
    // Emptying is recursive: refuse the places where a wrong setting would destroy a user's files.
    if (dir === path.parse(dir).root || dir === path.resolve(homedir())) throw new Error(`refusing to use ${dir} as a rescue cache directory`);
    await mkdir(dir, { recursive: true });
    await emptyDirectory(dir);
    const memoryBytes = options.memoryBytes ?? Math.min(32 * MiB, Math.floor(options.maxBytes / 4));
    return new RescueCache(dir, options.maxBytes, Math.max(0, memoryBytes));
  }

  /** Key is any string (the caller uses `${originId} ${method-agnostic url}`). Undefined when absent. Touches LRU. */
  async get(key: string): Promise<{ meta: CachedMeta; body: Buffer } | undefined> {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      // A write in progress on this key decides what there is to read.
      for (let q = this.queues.get(key); q; q = this.queues.get(key)) await q;
      if (this.closed) return undefined;
      const entry = this.index.get(key);
      if (!entry) return undefined;
      this.touch(entry);
      if (entry.body) return { meta: entry.meta, body: entry.body };
      let body: Buffer;
      try {
        body = await readFile(path.join(this.dir, entry.file));
      } catch {
        if (this.index.get(key) !== entry || this.queues.has(key)) continue;
        // The file is gone or unreadable: a miss, and the entry goes with it.
        this.forget(entry);
        return undefined;
      }
      if (this.index.get(key) !== entry || this.queues.has(key)) continue;
      if (body.length !== entry.size) {
        this.forget(entry);
        void this.unlinkUnlessReplaced(entry);
        return undefined;
      }
      this.addHot(entry, body);
      return { meta: entry.meta, body };
    }
    return undefined;
  }

  /**
   * The entry at once when its body is in memory and no write to it is under way (the hot path
   * of a flash crowd: no promise, no disk); undefined otherwise, and get() decides.
   */
  getHot(key: string): { meta: CachedMeta; body: Buffer } | undefined {
    if (this.closed || this.queues.has(key)) return undefined;
    const entry = this.index.get(key);
    if (!entry?.body) return undefined;
    this.touch(entry);
    return { meta: entry.meta, body: entry.body };
  }

  /** Only the meta (no body read), or undefined. */
  peek(key: string): CachedMeta | undefined {
    return this.index.get(key)?.meta;
  }

  /** Stores (replacing); evicts least recently used entries to stay within maxBytes; returns false (stores nothing) when body is larger than maxBytes/8. Writes the file atomically (temp + rename). */
  async put(key: string, meta: CachedMeta, body: Buffer): Promise<boolean> {
    if (this.closed) return false;
    if (body.length > this.maxBytes / 8) {
      // An older version must not keep answering for a response the origin has since replaced.
      await this.delete(key);
      return false;
    }
    return this.inQueue(key, async () => {
      if (this.closed) return false;
      const file = cacheFileName(key);
      const temp = path.join(this.dir, `${file}.${process.pid}.${++this.tempCounter}.tmp`);
      try {
        await writeFile(temp, body);
        await rename(temp, path.join(this.dir, file));
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
      const old = this.index.get(key);
      if (old) this.forget(old);
      const entry: Entry = { key, file, meta: { ...meta, size: body.length }, size: body.length };
      this.index.set(key, entry);
      this.lastTouched = undefined;
      this.diskBytes += entry.size;
      this.addHot(entry, body);
      void this.evictToFit();
      return true;
    });
  }

  /** Replaces only the meta (after a 304). */
  updateMeta(key: string, meta: CachedMeta): void {
    const entry = this.index.get(key);
    if (entry) entry.meta = { ...meta, size: entry.size };
  }

  async delete(key: string): Promise<void> {
    await this.deleteEntry(key);
  }

  /** Deletes every key starting with prefix (an origin's whole cache when its rescue ends). */
  async deletePrefix(prefix: string): Promise<number> {
    // Keys with a write still queued are included, so a put racing the release does not survive it.
    const keys = new Set([...this.index.keys(), ...this.queues.keys()].filter((k) => k.startsWith(prefix)));
    const deleted = await Promise.all([...keys].map((k) => this.deleteEntry(k)));
    return deleted.filter(Boolean).length;
  }

  async setMaxBytes(maxBytes: number): Promise<void> {
    if (!(maxBytes >= 0)) throw new RangeError('maxBytes must be a non-negative number');
    this.maxBytes = maxBytes;
    await this.evictToFit();
  }

  get bytes(): number {
    return this.diskBytes;
  }

  get entries(): number {
    return this.index.size;
  }

  /** Bytes of bodies held in memory. */
  get memoryUsed(): number {
    return this.hotBytes;
  }

  /** Waits for queued writes, then removes every file: donated disk is given back when rescuing stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
    this.index.clear();
    this.hot.clear();
    this.diskBytes = 0;
    this.hotBytes = 0;
    await emptyDirectory(this.dir);
  }

  private deleteEntry(key: string): Promise<boolean> {
    return this.inQueue(key, async () => {
      const entry = this.index.get(key);
      if (!entry) return false;
      this.forget(entry);
      await rm(path.join(this.dir, entry.file), { force: true });
      return true;
    });
  }

  /** Runs `task` after every earlier task on the same key. */
  private inQueue<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return result;
  }

  /** Drops least recently used entries until the disk total fits; resolves when their files are gone. */
  private evictToFit(): Promise<void> {
    const unlinks: Promise<void>[] = [];
    for (const entry of this.index.values()) {
      if (this.diskBytes <= this.maxBytes) break;
      this.forget(entry);
      unlinks.push(this.unlinkUnlessReplaced(entry));
    }
    return Promise.all(unlinks).then(() => undefined);
  }

  /** Removes an entry's file in its key's queue, unless a newer put of the key has since written it. */
  private unlinkUnlessReplaced(entry: Entry): Promise<void> {
    return this.inQueue(entry.key, async () => {
      if (this.index.has(entry.key)) return;
      await rm(path.join(this.dir, entry.file), { force: true });
    }).catch(() => undefined);
  }

  /** Takes an entry out of the index and the hot set (its file is the caller's business). */
  private forget(entry: Entry): void {
    if (this.lastTouched === entry) this.lastTouched = undefined;
    if (this.index.get(entry.key) === entry) {
      this.index.delete(entry.key);
      this.diskBytes -= entry.size;
    }
    this.dropHot(entry);
  }

  private touch(entry: Entry): void {
    // Moving the most recent entry to the end changes nothing: a crowd asking one file mostly hits it.
    if (this.lastTouched === entry) return;
    this.lastTouched = entry;
    this.index.delete(entry.key);
    this.index.set(entry.key, entry);
    if (this.hot.get(entry.key) === entry) {
      this.hot.delete(entry.key);
      this.hot.set(entry.key, entry);
    }
  }

  private addHot(entry: Entry, body: Buffer): void {
    if (body.length > this.memoryBytes) return;
    this.lastTouched = undefined;
    if (!entry.body) {
      entry.body = body;
      this.hotBytes += body.length;
    }
    this.hot.delete(entry.key);
    this.hot.set(entry.key, entry);
    for (const coldest of this.hot.values()) {
      if (this.hotBytes <= this.memoryBytes) break;
      this.dropHot(coldest);
    }
  }

  private dropHot(entry: Entry): void {
    if (this.hot.get(entry.key) === entry) this.hot.delete(entry.key);
    if (entry.body) {
      this.hotBytes -= entry.body.length;
      entry.body = undefined;
    }
  }
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(path.join(dir, name), { recursive: true, force: true });
}
