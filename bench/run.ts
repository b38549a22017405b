// `npm run bench`: runs every benchmark in turn; each writes its JSON report to bench/results/.
// `npm run bench -- im-latency` runs only the ones named; flags after the names go to each of
// them (`npm run bench:rescue -- --k 0,2`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ALL = ['im-latency', 'sip-load', 'overlay', 'g711', 'calls', 'rescue', 'nat', 'lan', 'sip-server', 'dht'];
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('-'));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const passed = firstFlag < 0 ? [] : args.slice(firstFlag);
const unknown = wanted.filter((w) => !ALL.includes(w));
if (unknown.length) {
  console.error(`bench: no benchmark named ${unknown.join(', ')}; there are: ${ALL.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length ? wanted : ALL) {
  const file = path.join(here, `${name}.ts`);
  if (!existsSync(file)) {
    console.error(`bench: ${name}.ts is missing`);
    failed++;
    continue;
  }
  console.log(`\n== ${name}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...passed], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
