// When RFC 6665 subscriptions (presence, configuration offers) are refreshed, retried and given up on. Pure: every
// figure derives from the subscription's duration, so the offline bound can be stated and tested.

/** RFC 6665 4.2.1.1: the notifier may shorten a subscription but never lengthen it. */
export const DEFAULT_EXPIRES_S = 120;
export const MAX_EXPIRES_S = 3600;
/** Below this a SUBSCRIBE gets 423 Interval Too Brief (RFC 6665 4.2.1.1). */
export const MIN_EXPIRES_S = 2;
/** Contacts (devices) tried, newest binding first, when a subscription is set up again. */
export const MAX_CONTACTS_TRIED = 2;

export type ExpiresDecision = { kind: 'ok'; expires: number } | { kind: 'too-brief'; min: number };

/** The Expires the notifier grants for a requested one (absent: its default); 0 ends the subscription. */
export function grantExpires(requested: number | undefined, defaultExpires: number): ExpiresDecision {
  if (requested === undefined || !Number.isFinite(requested)) return { kind: 'ok', expires: Math.min(defaultExpires, MAX_EXPIRES_S) };
  if (requested === 0) return { kind: 'ok', expires: 0 };
  if (requested < MIN_EXPIRES_S) return { kind: 'too-brief', min: MIN_EXPIRES_S };
  return { kind: 'ok', expires: Math.min(Math.floor(requested), MAX_EXPIRES_S) };
}

/** RFC 6665 4.1.2.1: refresh before expiry; halfway leaves room for a lost request and a retry. */
export function refreshDelayMs(expiresS: number): number {
  return expiresS * 500;
}

/** How long one SUBSCRIBE may go unanswered before the buddy's device counts as unreachable. */
export function requestTimeoutMs(expiresS: number): number {
  return Math.min(5_000, Math.max(1_000, expiresS * 125));
}

/** A lookup of the buddy's AOR gets at most this long when setting a subscription up again. */
export function lookupTimeoutMs(expiresS: number): number {
  return 2 * requestTimeoutMs(expiresS);
}

/**
 * The longest a buddy whose node died keeps showing online: until the next refresh (E/2), that
 * refresh timing out (T), a fresh lookup (2T), and a SUBSCRIBE to each other device found (T each).
 */
export function offlineBoundMs(expiresS: number): number {
  const t = requestTimeoutMs(expiresS);
  return refreshDelayMs(expiresS) + t + lookupTimeoutMs(expiresS) + (MAX_CONTACTS_TRIED - 1) * t;
}

/** After a failed attempt to subscribe, when to try again: E/2, doubling, at most 5 minutes. */
export function retryDelayMs(expiresS: number, failures: number): number {
  return Math.min(300_000, refreshDelayMs(expiresS) * 2 ** Math.min(Math.max(failures - 1, 0), 8));
}
