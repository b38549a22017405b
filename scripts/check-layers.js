// The layer rule of DESIGN.md, checked on every import (including .svelte files, which ESLint
// does not read here): wire <- proto <- services <- control <- roots <- {electron, cli};
// transport only from services and the composition roots; the renderer imports only types from
// native/control. Inside services/, each domain folder (services/calls/, services/presence/, ...)
// is seen from outside only through its index.ts (and its *-view.ts types).
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
  // The composition roots: the node engine and the rescue origin.
  'native/roots': ['native/control', 'native/services', 'native/proto', 'native/wire', 'native/transport', 'native/storage'],
  'native/cli': ['native/roots'],
  electron: ['native/control', 'native/roots'],
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

/** services/DOMAIN/file.ts -> DOMAIN; undefined for the shared files at the top of services/. */
function domainOf(rel) {
  return rel.match(/^native\/services\/([^/]+)\//)?.[1];
}

/**
 * Outside its own folder, a services domain is imported through its index, or through its
 * *-view.ts files: the plain types the control API shows (they import nothing, so the renderer's
 * type check does not pull the engine in with them).
 */
function checkDomain(rel, target, spec, problems) {
  const to = domainOf(target);
  if (!to || domainOf(rel) === to || target === `native/services/${to}/index.ts` || target.endsWith('-view.ts')) return;
  problems.push(`${rel}: import services/${to} through its index, not its internals (imports ${spec})`);
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
        if (!to || SHARED.includes(target)) continue;
        if (to === from) {
          if (to === 'native/services') checkDomain(rel, target, spec, problems);
          continue;
        }
        if (from === 'renderer') {
          if (!(typeOnly && target.startsWith('native/control/'))) problems.push(`${rel}: the renderer may import only types from native/control (imports ${spec})`);
          continue;
        }
        if (!ALLOWED[from].includes(to)) problems.push(`${rel}: ${from} may not import ${to} (imports ${spec})`);
        else if (to === 'native/services') checkDomain(rel, target, spec, problems);
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
