// Bindings kept outside the ring (the BitTorrent DHT's location items, services/dht), and how a
// lookup weighs them against the ring's: the freshest valid answer wins. Names stay in the ring.
import type { TimerHost } from '../../proto/sip/timers.js';
import type { BindingValue, OverlayRecord } from '../../wire/overlay/record.js';
import { verifyRecord } from '../../wire/overlay/record.js';

export type { LocationMode } from '../dht/dht-view.js';

/** A user's bindings as their owner signed them outside the ring. */
export interface ExternalAnswer {
  /** When the owner signed them (ms): compared with the ring bindings' seq. */
  seq: number;
  x25519?: string;
  voicemail?: false;
  bindings: BindingValue[];
}

export interface ExternalLocation {
  /** In use now (the DHT is ready and --location is not `ring`). */
  active(): boolean;
  /** The bindings `owner` (raw Ed25519 key, base64url) published for `user`; an answer at most `maxAgeMs` old. */
  find(user: string, owner: string, maxAgeMs: number): Promise<ExternalAnswer | undefined>;
}

/** When the ring found the user, the DHT is asked again at most this often. */
export const EXTERNAL_REFRESH_MS = 10 * 60_000;
/** When the ring did not, at most this often. */
export const EXTERNAL_RETRY_MS = 30_000;
/** How long a lookup the ring answered waits for the DHT's answer before it goes without. */
export const EXTERNAL_GRACE_MS = 400;

/** The newest seq among the valid live bindings of `key` (0: none). */
export function newestBindingSeq(records: OverlayRecord[], key: string, now: number): number {
  let newest = 0;
  for (const r of records) if (r.type === 'binding' && r.key === key && r.expires > now && r.seq > newest && verifyRecord(r)) newest = r.seq;
  return newest;
}

/**
 * Whether the DHT's answer wins over the ring's: it has live bindings, and the ring has none
 * (`ringSeq` 0, or no ring answer at all) or only bindings signed before the item was.
 */
export function fresherOutside(answer: ExternalAnswer, ringSeq: number | undefined): boolean {
  return answer.bindings.length > 0 && answer.seq > (ringSeq ?? 0);
}

/** `answer`, or undefined when it has not come within `ms` (it goes on, and fills the cache). */
export async function withinGrace<T>(answer: Promise<T | undefined>, ms: number, timers: TimerHost): Promise<T | undefined> {
  let timer: ReturnType<TimerHost['set']> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = timers.set(ms, () => resolve(undefined))));
  try {
    return await Promise.race([answer, late]);
  } finally {
    if (timer) timers.clear(timer);
  }
}
