// Runs one test suite with node's test runner through tsx: `node scripts/run-tests.js unit`.
// (Node 20's --test does not expand globs itself.)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const SUITES = { unit: 'test/unit', sim: 'test/sim', integration: 'test/integration', interop: 'test/interop', e2e: 'test/e2e', fuzz: 'test/fuzz' };
const suite = process.argv[2];
if (!(suite in SUITES)) {
  console.error(`run-tests: name a suite: ${Object.keys(SUITES).join(', ')}`);
  process.exit(2);
}

function* testFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* testFiles(full);
    else if (name.endsWith('.test.ts')) yield full;
  }
}

const files = [...testFiles(SUITES[suite])];
if (files.length === 0) {
  console.error(`run-tests: no tests in ${SUITES[suite]}`);
  process.exit(1);
}
// Whole engines and browsers share ports and two cores: beyond unit tests, one file at a time.
const concurrency = suite === 'unit' ? [] : ['--test-concurrency=1'];
const reporter = ['--test-reporter=spec'];
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...concurrency, ...reporter, ...process.argv.slice(3), ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
