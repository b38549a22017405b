// Coverage-guided fuzzing of every wire parser (test/fuzz/targets) with Jazzer.js: each target
// runs FUZZ_SECONDS (8 here: 15 targets take about 2.6 minutes; `npm run fuzz` 120) and
// fails with the input on any crash, hang or memory blow-up. FUZZ_TARGETS=rtp,sdp runs some only.
// FUZZ_SEED is libFuzzer's seed: here 1 by default, so that the CI run walks the same inputs each
// time and a red CI means the change, not the draw (a machine as fast as ours walks a prefix of
// what `FUZZ_SECONDS=60` walked here); `npm run fuzz` explores with 0, a random seed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzTargets, runFuzzTarget } from './support/jazzer-run.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 8);
const seed = Number(process.env.FUZZ_SEED ?? 1);
const only = process.env.FUZZ_TARGETS?.split(',').map((t) => t.trim()).filter(Boolean);
const targets = fuzzTargets().filter((t) => !only || only.includes(t));

test('there are fuzz targets to run', () => {
  assert.ok(targets.length > 0, `no fuzz targets match ${only?.join(',')}`);
  assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `FUZZ_SEED=${process.env.FUZZ_SEED} is not a seed: give a whole number from 0 (random) to 4294967295`);
});

for (const target of targets) {
  test(`fuzzing ${target} for ${seconds} s finds no crash`, async (t) => {
    const run = await runFuzzTarget(target, seconds, seed);
    t.diagnostic(`${target}: seed ${run.seed}, ${run.executions} execs, ${run.execsPerSecond} exec/s, cov ${run.coverage}, corpus ${run.corpusSize}, peak rss ${run.peakRssMb} MB`);
    if (run.crash) {
      assert.fail(`${target}: ${run.crash.kind} (FUZZ_SEED=${run.seed}) on input (base64) ${run.crash.input.toString('base64')}\nsaved as ${run.crash.file}\n${run.crash.output}`);
    }
    assert.equal(run.exitCode, 0, `jazzer exited ${run.exitCode}:\n${run.output.slice(-4000)}`);
    assert.ok(run.executions > 0, `no input ran:\n${run.output.slice(-4000)}`);
  });
}
