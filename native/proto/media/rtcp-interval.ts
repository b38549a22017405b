// RFC 3550 6.2 and 6.3.1: when to send the next RTCP compound. A two-party G.711 call is far
// below the bandwidth where the computed interval exceeds the 5 s minimum, so the deterministic
// interval is the minimum; it is then spread over [0.5, 1.5] times itself so reports from many
// sources do not synchronise, and divided by e - 3/2 to compensate for the timer reconsideration
// the randomisation would otherwise bias (RFC 3550 6.3.1).
export const RTCP_MIN_INTERVAL_MS = 5000;
const COMPENSATION = Math.E - 1.5;

/** The delay until the next report; `random` returns a value in [0, 1). */
export function nextRtcpIntervalMs(random: () => number, minIntervalMs = RTCP_MIN_INTERVAL_MS): number {
  return (minIntervalMs * (0.5 + random())) / COMPENSATION;
}

/**
 * The delay before the first report. RFC 3550 6.2 allows half the minimum at start; we go
 * sooner, within a second, so a new call shows its quality figures quickly.
 */
export function firstRtcpIntervalMs(random: () => number, minIntervalMs = RTCP_MIN_INTERVAL_MS): number {
  const half = Math.min(1000, minIntervalMs / 2);
  return half * (0.5 + random() / 2);
}
