// A load generator for tests of the rescue path: requests at a steady rate for a while, each for
// a random file of the site, following redirects as a browser does, and each body compared
// with the site's own. It counts failures rather than throwing, so a test can assert on them.
import { createHash } from 'node:crypto';

export interface LoadResult {
  sent: number;
  ok: number;
  /** Answers that came through a redirect (from a rescue server). */
  redirected: number;
  /** Bodies that differ from the site's file. */
  mismatched: number;
  failures: string[];
  /** Hosts that answered in the end, with counts. */
  servedBy: Map<string, number>;
}

export async function runLoad(options: { site: string; paths: string[]; digest(path: string): string; rps: number; seconds: number; signal?: AbortSignal }): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, ok: 0, redirected: 0, mismatched: 0, failures: [], servedBy: new Map() };
  const inflight: Promise<void>[] = [];
  const started = Date.now();
  const total = Math.round(options.rps * options.seconds);
  for (let i = 0; i < total && !options.signal?.aborted; i++) {
    const due = started + (i * 1000) / options.rps;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const path = options.paths[Math.floor(Math.random() * options.paths.length)];
    result.sent++;
    inflight.push(
      (async () => {
        try {
          const res = await fetch(new URL(path, options.site), { signal: AbortSignal.timeout(15_000) });
          const body = Buffer.from(await res.arrayBuffer());
          if (res.status !== 200) {
            result.failures.push(`${path}: ${res.status} from ${res.url}`);
            return;
          }
          const host = new URL(res.url).host;
          result.servedBy.set(host, (result.servedBy.get(host) ?? 0) + 1);
          if (res.redirected) result.redirected++;
          if (createHash('sha256').update(body).digest('hex') !== options.digest(path)) {
            result.mismatched++;
            result.failures.push(`${path}: body differs from the site's (from ${res.url})`);
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
  return result;
}
