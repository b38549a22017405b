// Which rescuer gets one redirect. Each rescuer has two token buckets: one at the rate it allowed,
// one at its reserve (the most its donation carries, less that). Pure: time is an argument.
//
// A redirect goes to a rescuer chosen in proportion to its allowed rate among those with a token
// left, so no rescuer gets more than it allowed and every link stays below saturation, where
// queueing would add latency. Only when every allowance is spent does it go to a reserve (chosen
// the same way): the origin redirects only while its own load is past its band, so the request
// would otherwise fall on the origin's link, which is fuller than a rescuer's at its most.
// Undefined when no reserve has room either: the origin serves the request itself.

export interface RescuerRates {
  allowedRps: number;
  /** The most its donation carries (>= allowedRps). */
  maxRps: number;
  /** The buckets' state, kept on the rescuer and updated here. */
  tokens: number;
  reserveTokens: number;
  tokensAt: number;
}

export function chooseRescuer<R extends RescuerRates>(rescuers: Iterable<R>, random: number, now: number): { rescuer: R; fromReserve: boolean } | undefined {
  const allowance: Array<{ r: R; weight: number }> = [];
  const reserve: Array<{ r: R; weight: number }> = [];
  for (const r of rescuers) {
    const seconds = Math.max(0, now - r.tokensAt) / 1000;
    const spare = Math.max(0, r.maxRps - r.allowedRps);
    // Half a second of burst (at least one token), so a rescuer that just joined takes requests at once.
    r.tokens = Math.min(Math.max(1, r.allowedRps / 2), r.tokens + seconds * r.allowedRps);
    r.reserveTokens = Math.min(Math.max(spare > 0 ? 1 : 0, spare / 2), r.reserveTokens + seconds * spare);
    r.tokensAt = now;
    if (r.tokens >= 1) allowance.push({ r, weight: r.allowedRps });
    else if (r.reserveTokens >= 1) reserve.push({ r, weight: spare });
  }
  const fromReserve = allowance.length === 0;
  const from = fromReserve ? reserve : allowance;
  let x = random * from.reduce((sum, c) => sum + c.weight, 0);
  for (const [i, { r, weight }] of from.entries()) {
    x -= weight;
    if (x > 0 && i !== from.length - 1) continue;
    if (fromReserve) r.reserveTokens -= 1;
    else r.tokens -= 1;
    return { rescuer: r, fromReserve };
  }
  return undefined;
}
