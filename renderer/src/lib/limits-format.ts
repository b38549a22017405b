// What Settings → "Blocked and limited" says of the engine's rate limits (node.status `limits`):
// each limit a source met, in words, and the totals in one line.
import type { LimitedSourceView, LimitsView } from './control-types.js';

const LIMIT_WORDS: Record<string, string> = {
  invite: 'too many calls (INVITE)',
  message: 'too many messages (MESSAGE)',
  subscribe: 'too many subscriptions (SUBSCRIBE)',
  register: 'too many registrations (REGISTER)',
  overlay: 'too many overlay requests',
  dialog: 'too many requests within calls',
  other: 'too many other requests',
  'tcp-per-address': 'too many connections at once',
  'tcp-silent': 'connections that never spoke',
  'message-size': 'messages too large',
  'message-sender': 'messages faster than a person writes',
  records: 'overlay records over their quota',
};

/** The limit a source met, in words (the engine's name for one this version does not know). */
export function limitWords(method: string): string {
  return LIMIT_WORDS[method] ?? method;
}

/** Every refusal the limits made, summed: requests, connections, messages. */
export function refusedTotal(limits: LimitsView): number {
  const requests = Object.values(limits.refused).reduce((sum, n) => sum + n, 0);
  return requests + limits.tcpRefused + limits.tcpEvicted + limits.tooLarge + limits.sendersLimited + limits.recordsRefused;
}

/** "12,345 times": how often a source met its limit. */
export function countWords(count: number): string {
  return count === 1 ? 'once' : `${count.toLocaleString('en')} times`;
}

/** The sources to list: those limited most first (as the engine sends them), at most `max`. */
export function sourcesToList(limits: LimitsView | undefined, max = 20): LimitedSourceView[] {
  return (limits?.sources ?? []).slice(0, max);
}
