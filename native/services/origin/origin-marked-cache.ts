// The origin's own copy of marked API answers while trusted rescuers fill their caches
// (docs/rescue.md, "Dynamic content"). Ten rescuers missing the same query, at the start of a
// rescue or after a purge, would run it ten times on the site's database; the origin runs it once
// and hands every rescuer the same answer. The origin is where purges start, so its copy is
// dropped before any purge leaves: it is never older than what the rescuers may keep.
import type { FetchedResponse } from '../../transport/http.js';

/** Bytes of answers kept at most (least recently stored out first). */
const MAX_BYTES = 64 * 1024 * 1024;
/** Kept at most this long: a bound should a purge never come (purges start here, so it is only that). */
const MAX_AGE_MS = 300_000;

interface Entry {
  response: FetchedResponse;
  storedAt: number;
}

export class MarkedAnswers {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<FetchedResponse>>();
  private bytes = 0;
  /** Fetches under way that a purge covering their path overtook: their answer is not kept. */
  private readonly overtaken = new Set<Promise<FetchedResponse>>();
  readonly counters = { hits: 0, fetches: 0 };

  constructor(private readonly now: () => number) {}

  /** The answer for `path` (path and query): kept, being fetched, or fetched now by `fetch`. */
  async get(path: string, fetch: () => Promise<FetchedResponse>): Promise<FetchedResponse> {
    const kept = this.entries.get(path);
    if (kept && this.now() - kept.storedAt < MAX_AGE_MS) {
      this.counters.hits++;
      return kept.response;
    }
    const running = this.inflight.get(path);
    if (running) {
      this.counters.hits++;
      return running;
    }
    const work: Promise<FetchedResponse> = fetch()
      .then((response) => {
        this.counters.fetches++;
        if (!this.overtaken.has(work) && keepable(response)) this.keep(path, response);
        return response;
      })
      .finally(() => {
        this.overtaken.delete(work);
        if (this.inflight.get(path) === work) this.inflight.delete(path);
      });
    this.inflight.set(path, work);
    return work;
  }

  /** Drops every answer under the prefixes, and forgets fetches under way (their answer may be old). */
  purge(prefixes: string[]): void {
    for (const path of [...this.entries.keys()]) if (prefixes.some((p) => path.startsWith(p))) this.drop(path);
    for (const [path, work] of [...this.inflight]) {
      if (!prefixes.some((p) => path.startsWith(p))) continue;
      this.overtaken.add(work);
      this.inflight.delete(path);
    }
  }

  private keep(path: string, response: FetchedResponse): void {
    this.drop(path);
    this.entries.set(path, { response, storedAt: this.now() });
    this.bytes += response.body.length;
    while (this.bytes > MAX_BYTES && this.entries.size) this.drop(this.entries.keys().next().value!);
  }

  private drop(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    this.bytes -= entry.response.body.length;
  }
}

/** Only what a shared cache could keep: a 200 for no one user. */
function keepable(response: FetchedResponse): boolean {
  const cc = (response.headers['cache-control'] ?? '').toLowerCase();
  return response.status === 200 && !/\b(no-store|private)\b/.test(cc) && response.headers['set-cookie'] === undefined;
}
