// `npm run fuzz`: every fuzz target for FUZZ_SECONDS each (default 120; the CI suite
// `npm run test:fuzz` runs 8). FUZZ_TARGETS=sip-message,rtp runs some only. It explores: FUZZ_SEED
// defaults to 0 (a random seed each run), where the CI suite keeps one fixed seed.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? '120', FUZZ_SEED: process.env.FUZZ_SEED ?? '0' };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/fuzz/fuzz.test.ts'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
