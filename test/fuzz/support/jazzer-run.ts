// Runs one fuzz target (test/fuzz/targets/NAME.fuzz.ts) under Jazzer.js for a number of
// seconds and reads libFuzzer's figures from its output.
//
// Targets are bundled with esbuild into one CommonJS file in a temp dir first. Jazzer's CLI
// resolves a target as NAME.js and instruments JS in its require hook or its own ESM loader;
// given a .ts file under `node --import tsx` it does not even find it ("Cannot find module
// ...fuzz.ts.js"), and chaining its loader after tsx's would make coverage depend on loader
// order. A bundle is plain JS that Jazzer instruments whole, the npm packages our parsers are
// built on (sip, sdp-transform, bencode) included, so they are fuzzed too. Two large packages
// no parser reads network bytes with stay outside, loaded from node_modules uninstrumented:
// @peculiar/x509 (with its ASN.1 stack 800 KB, pulled in by certificate fingerprints) and ws
// (the sip package's WebSocket transport).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { loadableFuzzerAddon } from './glibc-compat.js';

const FUZZ_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TARGETS_DIR = path.join(FUZZ_DIR, 'targets');
export const CORPUS_DIR = path.join(FUZZ_DIR, 'corpus');

export interface FuzzRun {
  target: string;
  seconds: number;
  /** libFuzzer's -seed: 0 draws one at random. */
  seed: number;
  executions: number;
  execsPerSecond: number;
  /** libFuzzer's "cov:": edges of instrumented code reached. */
  coverage: number;
  corpusSize: number;
  peakRssMb: number;
  /** The input that crashed, hung or ran out of memory, and what Jazzer said. */
  crash?: { kind: string; input: Buffer; file: string; output: string };
  exitCode: number | null;
  output: string;
}

export function fuzzTargets(): string[] {
  return readdirSync(TARGETS_DIR).filter((f) => f.endsWith('.fuzz.ts')).map((f) => f.slice(0, -'.fuzz.ts'.length)).sort();
}

/** Extra seed directories a target reads besides test/fuzz/corpus/NAME (captured fixtures). */
const FIXTURE_SEEDS: Record<string, string[]> = {
  'sip-message': ['test/fixtures/rfc4475'],
  rtp: ['test/fixtures/rtp'],
};

// Both are CommonJS, so the bundle can require them (ESM-only packages such as bencode's
// uint8-util could not be left outside a CommonJS bundle).
const OUTSIDE_THE_BUNDLE = new Set(['@peculiar/x509', 'ws']);

const outsideTheBundle: Plugin = {
  name: 'outside-the-bundle',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const parts = args.path.split('/');
      const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return OUTSIDE_THE_BUNDLE.has(name) ? { external: true } : undefined;
    });
  },
};

const REDIRECT_ADDON = `// Loads a copy of jazzer's fuzzer addon this system can load (see glibc-compat.ts).
const Module = require('node:module');
const load = Module._extensions['.node'];
const prebuilt = 'fuzzer-' + process.platform + '-' + process.arch + '.node';
Module._extensions['.node'] = (m, file) => load(m, file.endsWith(prebuilt) ? process.env.PEERDIAL_JAZZER_ADDON : file);
`;

export async function runFuzzTarget(target: string, seconds: number, seed = 0): Promise<FuzzRun> {
  const repo = path.resolve(FUZZ_DIR, '..', '..');
  const work = mkdtempSync(path.join(os.tmpdir(), `peerdial-fuzz-${target}-`));
  const bundle = path.join(work, `${target}.cjs`);
  await build({
    entryPoints: [path.join(TARGETS_DIR, `${target}.fuzz.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: bundle,
    logLevel: 'error',
    plugins: [outsideTheBundle],
  });
  const grown = path.join(work, 'corpus');
  const artifacts = path.join(work, 'artifacts');
  mkdirSync(grown);
  mkdirSync(artifacts);
  const seeds = [path.join(CORPUS_DIR, target), ...(FIXTURE_SEEDS[target] ?? []).map((d) => path.join(repo, d))];

  const nodeArgs: string[] = [];
  // The bundle lives in a temp dir: the packages left outside it are found through NODE_PATH.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: path.join(repo, 'node_modules') };
  const addon = loadableFuzzerAddon();
  if (addon) {
    const redirect = path.join(work, 'redirect-addon.cjs');
    writeFileSync(redirect, REDIRECT_ADDON);
    nodeArgs.push('--require', redirect);
    env.PEERDIAL_JAZZER_ADDON = addon;
  }
  const cli = path.join(path.dirname(createRequire(import.meta.url).resolve('@jazzer.js/core/package.json')), 'dist', 'cli.js');
  const args = [
    ...nodeArgs,
    cli,
    bundle,
    // libFuzzer writes new inputs to the first directory only: seeds stay as they are.
    grown,
    ...seeds,
    '--sync',
    // Parsers in native/wire do no I/O: the detectors for command injection, path traversal,
    // eval and SSRF have nothing to find there and cost 4.5 s at every start. Prototype
    // pollution stays on (JSON and bencode readers), at about half the executions per second.
    ...['command-injection', 'path-traversal', 'remote-code-execution', 'ssrf'].map((d) => `--disable_bug_detectors=${d}`),
    // One input taking over a second is a hang for a parser of one packet.
    '--timeout=1000',
    '--',
    `-max_total_time=${seconds}`,
    `-seed=${seed}`,
    // Only this run writes the grown corpus: rereading it each second adds nothing but inputs
    // run at moments that depend on the clock, which would make a seeded run drift.
    '-reload=0',
    `-artifact_prefix=${artifacts}/`,
    '-max_len=65536',
    '-rss_limit_mb=1024',
    '-print_final_stats=1',
  ];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output: text }));
  });

  const run: FuzzRun = {
    target,
    seconds,
    seed,
    // The final stats, else the last status line (#RUNS ... exec/s: N) when they did not come through.
    executions: statistic(output, 'number_of_executed_units') || lastNumber(output, /^#(\d+)\s/gm),
    execsPerSecond: statistic(output, 'average_exec_per_sec') || lastNumber(output, /exec\/s: (\d+)/g),
    coverage: lastNumber(output, /\bcov: (\d+)/g),
    corpusSize: lastNumber(output, /\bcorp: (\d+)/g),
    peakRssMb: statistic(output, 'peak_rss_mb'),
    exitCode: code,
    output,
  };
  const found = readdirSync(artifacts);
  if (found.length > 0) {
    const file = path.join(artifacts, found[0]);
    run.crash = { kind: found[0].split('-')[0], input: readFileSync(file), file, output: output.split('\n').filter((l) => !/Uses: \d+$/.test(l)).slice(-60).join('\n') };
  } else {
    rmSync(work, { recursive: true, force: true });
  }
  return run;
}

function statistic(output: string, name: string): number {
  const m = new RegExp(`stat::${name}:\\s+(\\d+)`).exec(output);
  return m ? Number(m[1]) : 0;
}

function lastNumber(output: string, pattern: RegExp): number {
  let last = NaN;
  for (const m of output.matchAll(pattern)) last = Number(m[1]);
  return last;
}
