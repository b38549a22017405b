// How buddies and presence read on screen: names, status words, "last seen …", the order of the
// buddy list, and the key-change warning. Pure: time comes in as an argument.
import type { BuddyView, PresenceStatus } from './control-types.js';
import { conversationKeyOf } from './sip-address.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Their display name, or the user part of their AOR (`bob` for sip:bob@peerdial). */
export function buddyName(buddy: Pick<BuddyView, 'aor' | 'displayName'>): string {
  if (buddy.displayName?.trim()) return buddy.displayName.trim();
  return /^sips?:([^@;]+)@/i.exec(buddy.aor)?.[1] ?? buddy.aor;
}

/** The word beside the dot, so the status never rests on colour alone. */
export function presenceLabel(status: PresenceStatus): string {
  switch (status) {
    case 'available':
      return 'Available';
    case 'away':
      return 'Away';
    case 'busy':
      return 'Busy';
    case 'offline':
      return 'Offline';
  }
}

/** "last seen 5 min ago": how long since a buddy's node was last known online. */
export function lastSeenText(lastSeen: number | undefined, now: number): string {
  if (lastSeen === undefined) return 'not seen online yet';
  const ago = Math.max(0, now - lastSeen);
  if (ago < MINUTE) return 'last seen just now';
  if (ago < HOUR) return `last seen ${Math.floor(ago / MINUTE)} min ago`;
  if (ago < DAY) return `last seen ${Math.floor(ago / HOUR)} h ago`;
  const days = Math.floor(ago / DAY);
  if (days === 1) return 'last seen yesterday';
  if (days < 7) return `last seen ${days} days ago`;
  return `last seen on ${new Date(lastSeen).toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' })}`;
}

/** The line under a buddy's name: their presence, or where a request stands. */
export function buddyStatusLine(buddy: BuddyView, now: number): string {
  switch (buddy.state) {
    case 'requested':
      return 'Request sent, waiting for them to accept';
    case 'incoming':
      return 'Wants to be your buddy';
    case 'declined':
      return 'Declined your request';
    case 'blocked':
      return 'Blocked';
    case 'accepted': {
      const label = presenceLabel(buddy.presence.status);
      return buddy.presence.status === 'offline' ? `${label}, ${lastSeenText(buddy.presence.lastSeen, now)}` : label;
    }
  }
}

/** The presence shown for a buddy: only accepted buddies tell us theirs. */
export function shownPresence(buddy: BuddyView): PresenceStatus {
  return buddy.state === 'accepted' ? buddy.presence.status : 'offline';
}

const PRESENCE_ORDER: Record<PresenceStatus, number> = { available: 0, busy: 1, away: 2, offline: 3 };
const STATE_ORDER: Record<BuddyView['state'], number> = { accepted: 0, requested: 1, incoming: 1, declined: 2, blocked: 3 };

/**
 * The buddy list as a messenger orders it: who can talk now first (available, busy, away,
 * offline), then requests still waiting, then declined and blocked; by name within each.
 * Incoming requests are left out: they have their own inbox.
 */
export function buddyListOrder(buddies: BuddyView[]): BuddyView[] {
  return buddies
    .filter((b) => b.state !== 'incoming')
    .sort(
      (a, b) =>
        STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
        PRESENCE_ORDER[shownPresence(a)] - PRESENCE_ORDER[shownPresence(b)] ||
        buddyName(a).localeCompare(buddyName(b)) ||
        a.aor.localeCompare(b.aor),
    );
}

export function incomingRequests(buddies: BuddyView[]): BuddyView[] {
  return buddies.filter((b) => b.state === 'incoming').sort((a, b) => buddyName(a).localeCompare(buddyName(b)));
}

/** The buddy a conversation is with, matched on the conversation key (sip:bob@peerdial). */
export function buddyForPeer(buddies: BuddyView[], peer: string | undefined): BuddyView | undefined {
  if (!peer) return undefined;
  const key = conversationKeyOf(peer) ?? peer;
  return buddies.find((b) => (conversationKeyOf(b.aor) ?? b.aor) === key);
}

/** Shown in the conversation and on the buddy's entry until the user trusts the new key. */
export function keyChangeSentence(buddy: BuddyView): string | undefined {
  if (!buddy.keyChanged) return undefined;
  const old = buddy.fingerprint ?? 'unknown';
  return `${buddyName(buddy)}'s key changed (${old} → ${buddy.keyChanged.fingerprint}). Messages are paused until you check it.`;
}

export function unreadText(count: number): string {
  return `${count} unread`;
}

export function typingText(buddy: Pick<BuddyView, 'aor' | 'displayName'>): string {
  return `${buddyName(buddy)} is typing…`;
}
