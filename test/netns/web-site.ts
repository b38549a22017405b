// Run inside a test LAN's namespace: a small web site on 127.0.0.1 (test/support/web-upstream.ts),
// for a `peerdial origin` in the same namespace to stand in front of. Prints one JSON line,
// {"url", "paths"}, then serves until stdin closes.
import { startWebUpstream } from '../support/web-upstream.js';

const site = await startWebUpstream({ count: 10, minBytes: 20_000, maxBytes: 60_000 });
process.stdout.write(JSON.stringify({ url: site.url, paths: [...site.files.keys()] }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => void site.close().then(() => process.exit(0)));
