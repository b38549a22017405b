// The layer rule of DESIGN.md, checked on every import (including .svelte files, which ESLint
// does not read here): wire <- proto <- services <- control <- {electron, cli};
// transport only from services and engine.ts; the renderer imports only types from native/control.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Which layers each layer may import (its own layer is always allowed). */
const ALLOWED = {
  'native/wire': [],
  'native/proto': ['native/wire'],
  'native/transport': ['native/proto', 'native/wire'],
  'native/storage': [],
  'native/services': ['native/proto', 'native/wire', 'native/transport', 'native/storage'],
  'native/control': ['native/services', 'native/proto', 'native/wire', 'native/storage'],
  'native/engine.ts': ['native/control', 'native/services', 'native/proto', 'native/wire', 'native/transport', 'native/storage'],
  // The origin's own composition root (`peerdial origin`): the same reach as engine.ts.
  'native/origin.ts': ['native/engine.ts', 'native/control', 'native/services', 'native/proto', 'native/wire', 'native/transport', 'native/storage'],
  'native/origin-cli.ts': ['native/origin.ts'],
  'native/cli.ts': ['native/engine.ts', 'native/origin-cli.ts'],
  electron: ['native/control', 'native/engine.ts'],
  renderer: [],
};
/** Leaf modules any layer may use. */
const SHARED = ['native/log.ts', 'native/process-signals.ts'];

function layerOf(rel) {
  return Object.keys(ALLOWED)
    .sort((a, b) => b.length - a.length)
    .find((l) => rel === l || rel.startsWith(l + '/'));
}

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* sources(full);
    else if (/\.(ts|cts|mts|js|svelte)$/.test(name) && !name.endsWith('.d.ts')) yield full;
  }
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function checkLayers(root = ROOT) {
  const problems = [];
  for (const top of ['native', 'electron', 'renderer']) {
    let files;
    try {
      files = [...sources(path.join(root, top))];
    } catch {
      continue;
    }
    for (const file of files) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      const from = layerOf(rel);
      if (!from) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[3] ?? m[4];
        if (!spec.startsWith('.')) continue;
        const typeOnly = Boolean(m[2]);
        const target = path.relative(root, path.resolve(path.dirname(file), spec)).split(path.sep).join('/').replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (!to || to === from || SHARED.includes(target)) continue;
        if (from === 'renderer') {
          if (!(typeOnly && target.startsWith('native/control/'))) problems.push(`${rel}: the renderer may import only types from native/control (imports ${spec})`);
          continue;
        }
        if (!ALLOWED[from].includes(to)) problems.push(`${rel}: ${from} may not import ${to} (imports ${spec})`);
      }
    }
  }
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const problems = checkLayers();
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`${problems.length} import(s) break the layering of DESIGN.md.`);
    process.exit(1);
  }
}
