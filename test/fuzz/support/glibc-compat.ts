// Jazzer.js 4.0.0's prebuilt linux fuzzer addon was linked against glibc 2.38 and imports
// two symbols only that version has: __isoc23_strtol and __isoc23_strtoul (C23's strtol,
// which also reads "0b" prefixes; libFuzzer uses them to read its own -flag=N options);
// it also needs GLIBCXX_3.4.32 (GCC 13) for one symbol, std::ios_base_library_init, that
// GCC 13's <iostream> only names to pull that library version in and never calls (no
// relocation uses it). On an older system (Debian 12: glibc 2.36, GCC 12) it does not load. Building it from source
// needs Code Intelligence's LLVM fork downloaded from GitHub, so instead we write a copy of
// the addon whose two C23 imports name plain strtol/strtoul at the base glibc version and
// whose GLIBCXX_3.4.32 requirement reads GLIBCXX_3.4.30 (GCC 12), and load that copy. node_modules is never modified. Nothing is done where the addon loads as it is.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const C23 = '__isoc23_';
const IOS_MARKER = '_ZSt21ios_base_library_initv';

interface Section { type: number; offset: number; size: number; link: number }

function sections(elf: Buffer): Section[] {
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const count = elf.readUInt16LE(0x3c);
  const out: Section[] = [];
  for (let i = 0; i < count; i++) {
    const at = shoff + i * 64;
    out.push({ type: elf.readUInt32LE(at + 4), offset: Number(elf.readBigUInt64LE(at + 24)), size: Number(elf.readBigUInt64LE(at + 32)), link: elf.readUInt32LE(at + 40) });
  }
  return out;
}

function cString(elf: Buffer, at: number): string {
  return elf.toString('latin1', at, elf.indexOf(0, at));
}

// The System V ABI's ELF hash, which vernaux entries carry beside the version name.
function elfHash(name: string): number {
  let h = 0;
  for (const c of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g) h ^= g >>> 24;
    h &= ~g >>> 0;
  }
  return h >>> 0;
}

/** A copy of the addon with the C23 imports bound to their older twins, or a sentence why not. */
export function patchC23Imports(original: Buffer): Buffer | string {
  const elf = Buffer.from(original);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return 'not a little-endian ELF64 file';
  const all = sections(elf);
  const dynsym = all.find((s) => s.type === SHT_DYNSYM);
  const versym = all.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = all.find((s) => s.type === SHT_GNU_VERNEED);
  if (!dynsym || !versym || !verneed) return 'no dynamic symbol versions';
  const dynstr = all[dynsym.link].offset;

  // Find libc's GLIBC_2.38 requirement and its oldest one (the base version strtol has).
  let need238: { at: number; index: number } | undefined;
  let needCxx332: { at: number; index: number } | undefined;
  let base: { name: number; version: string } | undefined;
  let cxx330: number | undefined;
  for (let vn = verneed.offset; ; ) {
    let aux = vn + elf.readUInt32LE(vn + 8);
    for (let n = elf.readUInt16LE(vn + 2); n > 0; n--) {
      const nameAt = elf.readUInt32LE(aux + 8);
      const version = cString(elf, dynstr + nameAt);
      if (version === 'GLIBC_2.38') need238 = { at: aux, index: elf.readUInt16LE(aux + 6) };
      else if (version === 'GLIBCXX_3.4.32') needCxx332 = { at: aux, index: elf.readUInt16LE(aux + 6) };
      else if (version === 'GLIBCXX_3.4.30') cxx330 = nameAt;
      else if (version === 'GLIBC_2.2.5' || version === 'GLIBC_2.17') base = { name: nameAt, version };
      const next = elf.readUInt32LE(aux + 12);
      if (next === 0) break;
      aux += next;
    }
    const next = elf.readUInt32LE(vn + 12);
    if (next === 0) break;
    vn += next;
  }
  if (!need238 && !needCxx332) return 'neither GLIBC_2.38 nor GLIBCXX_3.4.32 is required';
  if (need238 && !base) return 'no base glibc version to bind to';
  if (needCxx332 && cxx330 === undefined) return 'no GLIBCXX_3.4.30 to read instead of GLIBCXX_3.4.32';

  for (let i = 0; i * 24 < dynsym.size; i++) {
    const index = elf.readUInt16LE(versym.offset + i * 2) & 0x7fff;
    const sym = dynsym.offset + i * 24;
    const nameAt = elf.readUInt32LE(sym);
    const name = cString(elf, dynstr + nameAt);
    if (index === need238?.index) {
      if (!name.startsWith(C23)) return `GLIBC_2.38 symbol ${name} has no older twin`;
      // "__isoc23_strtol" ends in "strtol": point the symbol at that tail of its own name.
      elf.writeUInt32LE(nameAt + C23.length, sym);
    } else if (index === needCxx332?.index && name !== IOS_MARKER) {
      return `GLIBCXX_3.4.32 symbol ${name} is more than a link marker`;
    }
  }
  if (need238 && base) {
    elf.writeUInt32LE(elfHash(base.version), need238.at);
    elf.writeUInt32LE(base.name, need238.at + 8);
  }
  if (needCxx332 && cxx330 !== undefined) {
    elf.writeUInt32LE(elfHash('GLIBCXX_3.4.30'), needCxx332.at);
    elf.writeUInt32LE(cxx330, needCxx332.at + 8);
  }
  return elf;
}

/**
 * The path of a jazzer fuzzer addon this Node can load: undefined when the prebuilt one
 * loads as it is, else a patched copy in the temp dir. Throws with the loader's sentence
 * when neither loads.
 */
export function loadableFuzzerAddon(): string | undefined {
  const require = createRequire(import.meta.url);
  const prebuilt = path.join(path.dirname(require.resolve('@jazzer.js/fuzzer/package.json')), 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
  try {
    process.dlopen({ exports: {} }, prebuilt);
    return undefined;
  } catch (e) {
    if (!/GLIBC_2\.38|GLIBCXX_3\.4\.32/.test(String(e))) throw e;
  }
  const original = readFileSync(prebuilt);
  const patched = patchC23Imports(original);
  if (typeof patched === 'string') throw new Error(`jazzer's fuzzer addon needs glibc 2.38 and GCC 13's libstdc++ and cannot be adapted: ${patched}`);
  const copy = path.join(os.tmpdir(), `peerdial-jazzer-${createHash('sha256').update(original).digest('hex').slice(0, 12)}.node`);
  if (!existsSync(copy)) writeFileSync(copy, patched);
  process.dlopen({ exports: {} }, copy);
  return copy;
}
