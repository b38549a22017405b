// Coverage-guided fuzzing of every wire parser (test/fuzz/targets) with Jazzer.js: each target
// runs FUZZ_SECONDS (8 here: 15 targets take about 2.6 minutes; `npm run fuzz` 120) and
// fails with the input on any crash, hang or memory blow-up. FUZZ_TARGETS=rtp,sdp runs some only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzTargets, runFuzzTarget } from './support/jazzer-run.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 8);
const only = process.env.FUZZ_TARGETS?.split(',').map((t) => t.trim()).filter(Boolean);
const targets = fuzzTargets().filter((t) => !only || only.includes(t));

test('there are fuzz targets to run', () => {
  assert.ok(targets.length > 0, `no fuzz targets match ${only?.join(',')}`);
});

for (const target of targets) {
  test(`fuzzing ${target} for ${seconds} s finds no crash`, async (t) => {
    const run = await runFuzzTarget(target, seconds);
    t.diagnostic(`${target}: ${run.executions} execs, ${run.execsPerSecond} exec/s, cov ${run.coverage}, corpus ${run.corpusSize}, peak rss ${run.peakRssMb} MB`);
    if (run.crash) {
      assert.fail(`${target}: ${run.crash.kind} on input (base64) ${run.crash.input.toString('base64')}\nsaved as ${run.crash.file}\n${run.crash.output}`);
    }
    assert.equal(run.exitCode, 0, `jazzer exited ${run.exitCode}:\n${run.output.slice(-4000)}`);
    assert.ok(run.executions > 0, `no input ran:\n${run.output.slice(-4000)}`);
  });
}
