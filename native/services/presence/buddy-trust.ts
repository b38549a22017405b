// Whose key speaks for a buddy: the key is pinned on first contact (trust on first use, checked
// against the overlay's name claim), a different key later is flagged and stops everything sent
// to or taken from that buddy until the user trusts it.
import type { Logger } from '../../log.js';
import type { StoredBuddy } from '../../storage/repositories/buddy-repository.js';
import { fingerprintOf } from '../overlay/index.js';

/** What the key of a signed buddy message means for the relation. */
export type SenderVerdict =
  /** The pinned key, or a first contact whose key holds the name (or the name's owner is unknown now). */
  | { ok: true }
  /** Not the pinned key: flag it (when `newlySeen`) and refuse until the user trusts it. */
  | { ok: false; reason: 'key-changed'; newlySeen: boolean }
  /** A first contact whose key does not hold the name it claims. */
  | { ok: false; reason: 'not-owner' };

/** Judges the key of a message from a buddy row (undefined: a stranger); `claimOwner` asks the overlay. */
export async function judgeSender(row: StoredBuddy | undefined, key: string, claimOwner: () => Promise<string | undefined>): Promise<SenderVerdict> {
  if (row?.publicKey && row.publicKey !== key) return { ok: false, reason: 'key-changed', newlySeen: row.seenKey !== key };
  if (!row?.publicKey) {
    const owner = await claimOwner();
    if (owner && owner !== key) return { ok: false, reason: 'not-owner' };
  }
  return { ok: true };
}

/** On a request we send: pin the name's owner on first use, or flag it when it is not the pinned key. */
export function pinOwner(row: StoredBuddy, owner: string | undefined, now: number, log: Logger): void {
  if (!row.publicKey && owner) row.publicKey = owner;
  else if (row.publicKey && owner && owner !== row.publicKey) flagKey(row, owner, now, log);
}

/** Remembers a key that is not the pinned one, for the user to check and trust. */
export function flagKey(row: StoredBuddy, key: string, now: number, log: Logger): void {
  row.seenKey = key;
  row.seenKeyAt = now;
  log.warn('a buddy now uses a different key', { aor: row.aor, pinned: row.publicKey && fingerprintOf(row.publicKey), seen: fingerprintOf(key) });
}

/** The row once the user trusts the key they checked: pinned, and what the old key said forgotten. */
export function trustSeenKey(row: StoredBuddy, now: number): StoredBuddy {
  return { ...row, publicKey: row.seenKey, seenKey: undefined, seenKeyAt: undefined, presenceAt: undefined, lastMessageAt: undefined, updatedAt: now };
}

/** A sentence saying why nothing may be sent to this buddy now, or undefined when it may. */
export function sendBlockReason(row: StoredBuddy | undefined): string | undefined {
  if (!row) return undefined;
  if (row.state === 'blocked') return `You blocked ${row.aor}: remove the block before writing to them.`;
  if (row.seenKey) {
    return `${row.aor} now uses a different key (fingerprint ${fingerprintOf(row.seenKey)}, was ${row.publicKey ? fingerprintOf(row.publicKey) : 'unknown'}). Check it with them, then trust it, before anything is sent.`;
  }
  return undefined;
}
