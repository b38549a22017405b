// Session timers (RFC 4028): a call is refreshed by a re-INVITE every half interval, so a peer
// that died (on hold, when no RTP flows to notice it by) is found out and the call ends. This is
// the negotiation and the arithmetic; services/calls/session-timers.ts keeps the timers.

/** The option tag in Supported and Require (RFC 4028 3). */
export const TIMER_OPTION = 'timer';
/** RFC 4028 4: nobody may ask for less than 90 s. */
export const MIN_SESSION_EXPIRES_S = 90;
/** What we ask for: 30 minutes, RFC 4028 4's recommended default. */
export const DEFAULT_SESSION_EXPIRES_S = 1800;

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  seconds: number;
  refresher?: Refresher;
}

/** `Session-Expires: 1800;refresher=uac` (or its compact form `x`), read leniently; undefined if unreadable. */
export function parseSessionExpires(value: unknown): SessionExpires | undefined {
  const text = Array.isArray(value) ? String(value[0] ?? '') : typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  const match = /^\s*(\d{1,10})\s*((?:;[^;]*)*)$/.exec(text);
  if (!match) return undefined;
  const seconds = Number(match[1]);
  const refresher = /;\s*refresher\s*=\s*(uac|uas)\b/i.exec(match[2])?.[1]?.toLowerCase() as Refresher | undefined;
  return { seconds, ...(refresher ? { refresher } : {}) };
}

export function formatSessionExpires(value: SessionExpires): string {
  return `${value.seconds}${value.refresher ? `;refresher=${value.refresher}` : ''}`;
}

function optionTags(value: unknown): string[] {
  const text = Array.isArray(value) ? value.join(',') : String(value ?? '');
  return text.split(',').map((tag) => tag.trim().toLowerCase()).filter(Boolean);
}

export function supportsTimer(headers: Record<string, unknown>): boolean {
  return optionTags(headers.supported).includes(TIMER_OPTION) || optionTags(headers.require).includes(TIMER_OPTION);
}

/** The agreed interval and who refreshes, from our side of the dialog. */
export interface AgreedSessionTimer {
  intervalS: number;
  refresher: Refresher;
}

/**
 * The UAS's decision on an INVITE (RFC 4028 9): too short an interval gets 422 with our Min-SE;
 * a request with Session-Expires gets it back with the refresher settled (the UAC if it supports
 * timers and did not say, else us); a UAC that supports timers but asked for none gets ours with
 * itself refreshing. Require: timer goes in the 2xx only to a UAC that supports it.
 */
export function uasSessionTimer(
  headers: Record<string, unknown>,
  wanted = DEFAULT_SESSION_EXPIRES_S,
  minimum = MIN_SESSION_EXPIRES_S,
): { tooSmall: number } | (AgreedSessionTimer & { require: boolean }) | undefined {
  const asked = parseSessionExpires(headers['session-expires']);
  const uacSupports = supportsTimer(headers);
  if (asked && asked.seconds < minimum) return { tooSmall: minimum };
  if (!asked) return uacSupports ? { intervalS: wanted, refresher: 'uac', require: true } : undefined;
  const refresher: Refresher = asked.refresher ?? (uacSupports ? 'uac' : 'uas');
  return { intervalS: asked.seconds, refresher, require: uacSupports };
}

/** The UAC's reading of a 2xx (RFC 4028 7.2): the timer the UAS agreed to, or none. */
export function uacSessionTimer(headers: Record<string, unknown>, minimum = MIN_SESSION_EXPIRES_S): AgreedSessionTimer | undefined {
  const agreed = parseSessionExpires(headers['session-expires']);
  if (!agreed || agreed.seconds < minimum) return undefined;
  // RFC 4028 7.2: a 2xx that names no refresher leaves it to the UAC.
  return { intervalS: agreed.seconds, refresher: agreed.refresher ?? 'uac' };
}

/** When the refresher sends its re-INVITE: half the interval (RFC 4028 10). */
export function refreshAfterMs(intervalS: number): number {
  return (intervalS * 1000) / 2;
}

/** When the other side gives up on a refresh that never came: the interval less a third or 32 s, whichever is less (RFC 4028 10). */
export function expireAfterMs(intervalS: number): number {
  return (intervalS - Math.min(32, intervalS / 3)) * 1000;
}
