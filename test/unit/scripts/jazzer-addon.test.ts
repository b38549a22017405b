import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadableFuzzerAddon, patchC23Imports } from '../../fuzz/support/glibc-compat.js';

const prebuilt = path.join(path.dirname(createRequire(import.meta.url).resolve('@jazzer.js/fuzzer/package.json')), 'prebuilds', 'fuzzer-linux-x64.node');

describe("jazzer's fuzzer addon on older glibc (test/fuzz/support/glibc-compat.ts)", () => {
  it('binds the linux addon to versions every glibc and libstdc++ since 2.17 / GCC 12 has, and it still loads', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return t.diagnostic('the prebuilt patched here is linux-x64');
    const patched = patchC23Imports(readFileSync(prebuilt));
    assert.ok(Buffer.isBuffer(patched), String(patched));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jazzer-addon-'));
    try {
      const file = path.join(dir, 'fuzzer.node');
      writeFileSync(file, patched);
      const addon = { exports: {} as Record<string, unknown> };
      process.dlopen(addon, file);
      assert.equal(typeof addon.exports.startFuzzing, 'function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not an ELF file with a sentence', () => {
    assert.equal(patchC23Imports(Buffer.from('not an elf file at all, just text')), 'not a little-endian ELF64 file');
  });

  it('names an addon this process can load', () => {
    const addon = loadableFuzzerAddon();
    assert.ok(addon === undefined || addon.endsWith('.node'));
  });
});
