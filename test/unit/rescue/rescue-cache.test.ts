import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RescueCache, cacheFileName, type CachedMeta } from '../../../native/services/rescue/rescue-cache.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'peerdial-rescue-cache-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = path.join(root, `c${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function meta(size: number, etag = '"1"'): CachedMeta {
  return { status: 200, headers: { 'content-type': 'application/octet-stream', etag }, requestTime: 1000, responseTime: 1100, size };
}

function body(size: number, fill = 0x61): Buffer {
  return Buffer.alloc(size, fill);
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('rescue cache', () => {
  it('round-trips a body and its meta, stored under the SHA-256 of the key', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 1_000_000 });
    const key = 'origin1 http://example.org/a.png';
    const b = Buffer.from('png bytes');
    assert.equal(await cache.put(key, meta(0), b), true);
    const got = await cache.get(key);
    assert.ok(got);
    assert.deepEqual(got.body, b);
    assert.equal(got.meta.size, b.length, 'size is the stored body length');
    assert.equal(got.meta.headers.etag, '"1"');
    assert.deepEqual(cache.peek(key), got.meta);
    assert.deepEqual(await filesIn(dir), [cacheFileName(key)]);
    assert.match(cacheFileName(key), /^[0-9a-f]{64}$/);
    assert.equal(cache.bytes, b.length);
    assert.equal(cache.entries, 1);
    assert.equal(await cache.get('origin1 http://example.org/other'), undefined);
    assert.equal(cache.peek('origin1 http://example.org/other'), undefined);
    await cache.close();
  });

  it('replaces an entry on a second put and counts its bytes once', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 1_000_000 });
    await cache.put('k', meta(0, '"1"'), body(100));
    await cache.put('k', meta(0, '"2"'), body(40, 0x62));
    const got = await cache.get('k');
    assert.equal(got?.meta.headers.etag, '"2"');
    assert.deepEqual(got?.body, body(40, 0x62));
    assert.equal(cache.bytes, 40);
    assert.equal(cache.entries, 1);
    assert.deepEqual(await filesIn(dir), [cacheFileName('k')], 'no temp files left behind');
    await cache.close();
  });

  it('evicts least recently used entries to stay within maxBytes', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 1000, memoryBytes: 0 });
    for (const k of ['a', 'b', 'c', 'd']) await cache.put(k, meta(0), body(120));
    assert.ok(await cache.get('a'), 'a becomes the most recently used');
    for (let i = 0; i < 6; i++) {
      await cache.put(`x${i}`, meta(0), body(120));
      assert.ok(cache.bytes <= 1000, `total ${cache.bytes}`);
    }
    // 8 entries of 120 fit in 1000: the two least recently used (b, c) went, a stayed.
    assert.equal(cache.entries, 8);
    assert.equal(cache.peek('b'), undefined);
    assert.equal(cache.peek('c'), undefined);
    assert.ok(cache.peek('a'));
    await cache.setMaxBytes(500);
    assert.ok(cache.bytes <= 500);
    assert.ok(cache.peek('x5'), 'the newest survive');
    const files = await filesIn(dir);
    assert.equal(files.length, cache.entries, 'evicted files are removed from disk');
    let onDisk = 0;
    for (const f of files) onDisk += (await stat(path.join(dir, f))).size;
    assert.equal(onDisk, cache.bytes);
    await cache.close();
  });

  it('keeps the order of use when one entry is hit many times in a row, and after others arrive', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 2000, memoryBytes: 2000 });
    for (const k of ['a', 'b', 'c']) await cache.put(k, meta(0), body(200));
    for (let i = 0; i < 3; i++) assert.ok(cache.getHot('a'), 'a, hit again and again');
    await cache.put('d', meta(0), body(200));
    assert.ok(cache.getHot('a'), 'a again, now that d came after it');
    // 10 entries of 200 fit in 2000; each one more evicts the least recently used: b, then c.
    for (const k of ['e', 'f', 'g', 'h', 'i', 'j', 'k']) await cache.put(k, meta(0), body(200));
    assert.equal(cache.peek('b'), undefined);
    assert.ok(cache.peek('c'));
    await cache.put('l', meta(0), body(200));
    assert.equal(cache.peek('c'), undefined);
    // Then d, which arrived before a's last hit, goes before a.
    await cache.put('m', meta(0), body(200));
    assert.equal(cache.peek('d'), undefined);
    assert.ok(cache.peek('a'), 'a was used after d arrived');
    await cache.close();
  });

  it('serves hot bodies from memory and reads the file again once one leaves memory', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 100_000, memoryBytes: 250 });
    await cache.put('a', meta(0), body(200, 0x61));
    // While in memory, the file is not needed.
    const fileA = path.join(dir, cacheFileName('a'));
    await writeFile(fileA, body(200, 0x7a));
    assert.deepEqual((await cache.get('a'))?.body, body(200, 0x61), 'served from memory');
    // b pushes a out of the 250-byte hot set; a's next read comes from its file.
    await cache.put('b', meta(0), body(200, 0x62));
    assert.equal(cache.memoryUsed, 200);
    assert.deepEqual((await cache.get('a'))?.body, body(200, 0x7a), 'read from the file');
    assert.deepEqual((await cache.get('b'))?.body, body(200, 0x62));
    await cache.close();
  });

  it('treats a vanished or truncated file as a miss and drops the entry', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 100_000, memoryBytes: 0 });
    await cache.put('gone', meta(0), body(10));
    await cache.put('short', meta(0), body(10));
    await rm(path.join(dir, cacheFileName('gone')));
    await writeFile(path.join(dir, cacheFileName('short')), body(3));
    assert.equal(await cache.get('gone'), undefined);
    assert.equal(await cache.get('short'), undefined);
    assert.equal(cache.entries, 0);
    assert.equal(cache.bytes, 0);
    await cache.close();
  });

  it('updates only the meta after a 304', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 100_000 });
    await cache.put('k', meta(0, '"1"'), body(10));
    cache.updateMeta('k', { ...meta(999, '"1"'), responseTime: 5000 });
    const got = await cache.get('k');
    assert.equal(got?.meta.responseTime, 5000);
    assert.equal(got?.meta.size, 10, 'the size stays that of the stored body');
    cache.updateMeta('absent', meta(1));
    assert.equal(cache.peek('absent'), undefined);
    await cache.close();
  });

  it('deletes one key, and every key of an origin by prefix', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 100_000 });
    for (const k of ['o1 /a', 'o1 /b', 'o1 /c', 'o2 /a']) await cache.put(k, meta(0), body(10));
    await cache.delete('o1 /a');
    assert.equal(await cache.get('o1 /a'), undefined);
    assert.equal(await cache.deletePrefix('o1 '), 2);
    assert.equal(cache.entries, 1);
    assert.ok(await cache.get('o2 /a'));
    assert.deepEqual(await filesIn(dir), [cacheFileName('o2 /a')]);
    assert.equal(cache.bytes, 10);
    await cache.close();
  });

  it('refuses a body larger than maxBytes/8 and stores nothing', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 800 });
    assert.equal(await cache.put('ok', meta(0), body(100)), true);
    assert.equal(await cache.put('big', meta(0), body(101)), false);
    assert.equal(cache.peek('big'), undefined);
    // A too-large new version also removes the old one, which is no longer the origin's.
    assert.equal(await cache.put('ok', meta(0), body(101)), false);
    assert.equal(cache.peek('ok'), undefined);
    assert.deepEqual(await filesIn(dir), []);
    await cache.close();
  });

  it('empties a directory with leftovers when it opens, and removes its files when it closes', async () => {
    const dir = await freshDir();
    await writeFile(path.join(dir, 'deadbeef'), 'old body');
    await writeFile(path.join(dir, 'x.123.tmp'), 'half written');
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'sub', 'f'), 'x');
    const cache = await RescueCache.open({ dir, maxBytes: 1000 });
    assert.deepEqual(await filesIn(dir), []);
    assert.equal(cache.entries, 0);
    await cache.put('k', meta(0), body(10));
    await cache.close();
    assert.deepEqual(await filesIn(dir), []);
    assert.equal(await cache.get('k'), undefined);
  });

  it('creates a missing directory and refuses the home directory', async () => {
    const dir = path.join(root, `missing-${++counter}`, 'cache');
    const cache = await RescueCache.open({ dir, maxBytes: 1000 });
    assert.deepEqual(await filesIn(dir), []);
    await cache.close();
    await assert.rejects(RescueCache.open({ dir: (await import('node:os')).homedir(), maxBytes: 1000 }));
  });

  it('never pairs a body with another version’s meta under concurrent puts and gets', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 10_000_000, memoryBytes: 0 });
    const version = (i: number) => ({ m: meta(0, `"${i}"`), b: body(1000 + i, 0x30 + (i % 40)) });
    const ops: Array<Promise<unknown>> = [];
    const seen: Array<{ etag: string; length: number }> = [];
    for (let i = 0; i < 40; i++) {
      const v = version(i);
      ops.push(cache.put('hot', v.m, v.b));
      ops.push(
        cache.get('hot').then((r) => {
          if (r) seen.push({ etag: r.meta.headers.etag, length: r.body.length });
        }),
      );
    }
    await Promise.all(ops);
    assert.ok(seen.length > 0);
    for (const s of seen) assert.equal(s.length, 1000 + Number(s.etag.slice(1, -1)), `etag ${s.etag} with ${s.length} bytes`);
    const last = await cache.get('hot');
    assert.equal(last?.meta.headers.etag, '"39"', 'puts land in the order they were made');
    assert.equal(cache.bytes, 1039);
    await cache.close();
  });

  it('does not let a put that races deletePrefix survive it', async () => {
    const dir = await freshDir();
    const cache = await RescueCache.open({ dir, maxBytes: 100_000 });
    const pending = cache.put('o1 /late', meta(0), body(10));
    const deleted = await cache.deletePrefix('o1 ');
    assert.equal(await pending, true);
    assert.equal(deleted, 1);
    assert.equal(cache.peek('o1 /late'), undefined);
    assert.deepEqual(await filesIn(dir), []);
    await cache.close();
  });
});
