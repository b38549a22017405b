// `npm run fuzz`: every fuzz target for FUZZ_SECONDS each (default 120; the CI suite
// `npm run test:fuzz` runs 8). FUZZ_TARGETS=sip-message,rtp runs some only.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? '120' };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/fuzz/fuzz.test.ts'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
