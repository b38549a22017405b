// Run inside a test LAN's namespace: test/support/web-load.ts against a site, with each body
// compared to the upstream's own copy (fetched directly first). Prints the result as one JSON line.
// Usage: web-load.ts SITE UPSTREAM RPS SECONDS PATH...
import { createHash } from 'node:crypto';
import { runLoad } from '../support/web-load.js';

const [site, upstream, rps, seconds, ...paths] = process.argv.slice(2);
const digests = new Map<string, string>();
for (const p of paths) digests.set(p, createHash('sha256').update(Buffer.from(await (await fetch(new URL(p, upstream))).arrayBuffer())).digest('hex'));
const result = await runLoad({ site, paths, digest: (p) => digests.get(p)!, rps: Number(rps), seconds: Number(seconds) });
process.stdout.write(JSON.stringify({ ...result, servedBy: Object.fromEntries(result.servedBy) }) + '\n');
