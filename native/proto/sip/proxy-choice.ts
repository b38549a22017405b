// Which final response a forking proxy sends upstream when no branch answered 2xx (RFC 3261
// 16.7 step 6): a 6xx if any branch gave one (the callee declined everywhere), else one of the
// lowest class, preferring the answers that let the caller try again with more (16.7: 401, 407,
// 415, 420, 484), and never a 503 as such (16.7 step 6: it would make the caller think the
// proxy itself is overloaded; it becomes 500).

const RESUBMIT_HINTS = new Set([401, 407, 415, 420, 484]);

/** The index of the status to send on, or -1 when there is none. */
export function chooseFinal(statuses: readonly number[]): number {
  if (!statuses.length) return -1;
  const decline = statuses.findIndex((s) => s >= 600);
  if (decline >= 0) return decline;
  const lowestClass = Math.min(...statuses.map((s) => Math.floor(s / 100)));
  const inClass = statuses.map((s, i) => ({ s, i })).filter(({ s }) => Math.floor(s / 100) === lowestClass);
  const hint = inClass.find(({ s }) => RESUBMIT_HINTS.has(s));
  if (hint) return hint.i;
  // Prefer a definite answer from a device (e.g. 486 Busy) over a branch we gave up on (408, 480).
  const definite = inClass.find(({ s }) => s !== 408 && s !== 480);
  return (definite ?? inClass[0]).i;
}

/** RFC 3261 16.7 step 6: a 503 from downstream goes upstream as 500. */
export function upstreamStatus(status: number): number {
  return status === 503 ? 500 : status;
}
