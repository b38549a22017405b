// Run inside a test LAN's namespace: users who reach a site by its name. Each request looks the
// name up through the namespace's resolver (resolv.conf: the lab's caching resolver, which
// rotates the order of the addresses), connects to the first address as a browser does, sends
// the name as Host, follows redirects, and compares the body with the site's own (digests given).
// Prints one JSON line: counts, failures, and which address answered, by name or by redirect.
// Usage: web-load-by-name.ts URL RPS SECONDS DIGESTS-JSON   (DIGESTS-JSON: {"/path": "sha256hex"})
import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import http from 'node:http';

const [site, rps, seconds, digestsJson] = process.argv.slice(2);
const digests = JSON.parse(digestsJson) as Record<string, string>;
const paths = Object.keys(digests);
const siteUrl = new URL(site);
const resolver = new Resolver({ timeout: 1_000, tries: 2 });

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(address: string, port: number, host: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // A connection per request (no keep-alive): each user looks the name up anew, as new users do.
    const req = http.get({ host: address, port, path, headers: { host }, agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const result = { sent: 0, ok: 0, mismatched: 0, redirected: 0, failures: [] as string[], byName: {} as Record<string, number>, byRedirect: {} as Record<string, number>, refusedAt421: 0 };
const started = Date.now();
const total = Math.round(Number(rps) * Number(seconds));
const inflight: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const wait = started + (i * 1000) / Number(rps) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const path = paths[Math.floor(Math.random() * paths.length)];
  result.sent++;
  inflight.push(
    (async () => {
      try {
        const [address] = await resolver.resolve4(siteUrl.hostname);
        const port = Number(siteUrl.port || 80);
        let answer = await get(address, port, siteUrl.host, path);
        let servedBy = address;
        let redirected = false;
        if (answer.status === 302 && answer.headers.location) {
          const to = new URL(answer.headers.location, `http://${siteUrl.host}${path}`);
          redirected = true;
          servedBy = to.hostname;
          answer = await get(to.hostname, Number(to.port || 80), to.host, to.pathname + to.search);
        }
        if (answer.status === 421) result.refusedAt421++;
        if (answer.status !== 200) {
          result.failures.push(`${path}: ${answer.status} from ${servedBy}`);
          return;
        }
        const tally = redirected ? result.byRedirect : result.byName;
        tally[servedBy] = (tally[servedBy] ?? 0) + 1;
        if (redirected) result.redirected++;
        if (createHash('sha256').update(answer.body).digest('hex') !== digests[path]) {
          result.mismatched++;
          result.failures.push(`${path}: body differs from the site's (from ${servedBy})`);
          return;
        }
        result.ok++;
      } catch (error) {
        result.failures.push(`${path}: ${(error as Error).message}`);
      }
    })(),
  );
}
await Promise.all(inflight);
process.stdout.write(JSON.stringify(result) + '\n');
