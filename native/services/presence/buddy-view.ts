// What a user sees of their buddies and of their own presence; the control API serves these
// as they are.

/** RFC 3863 basic open/closed, refined as users know it. */
export type PresenceStatus = 'available' | 'away' | 'busy' | 'offline';

/**
 * requested: we asked, they have not answered; incoming: they asked us; accepted: buddies
 * both ways; declined: they said no; blocked: we refuse everything from them.
 */
export type BuddyState = 'requested' | 'incoming' | 'accepted' | 'declined' | 'blocked';

export interface BuddyPresence {
  status: PresenceStatus;
  /** Their free-text note ("in a meeting"). */
  note?: string;
  /** When we last knew them online (ms since the epoch); shown as "last seen ..." while offline. */
  lastSeen?: number;
  /** When this presence was last updated. */
  updatedAt?: number;
}

export interface BuddyView {
  /** sip:bob@OVERLAY */
  aor: string;
  displayName?: string;
  state: BuddyState;
  /** Fingerprint of the key pinned on first contact (same format as IdentityView.fingerprint). */
  fingerprint?: string;
  /** A different key was seen for this buddy: nothing is sent to them until the user trusts it (buddy.trustKey). */
  keyChanged?: { fingerprint: string; seenAt: number };
  /**
   * 60 digits in groups of five from both users' keys, the same on both sides: read aloud or
   * compared in person, they show nobody stands between the two (wire/crypto/safety-number.ts).
   */
  safetyNumber?: string;
  /** The user compared the safety number and marked it verified, and the key has not changed since. */
  verified: boolean;
  /** The note that came with their request, or that we sent with ours. */
  requestNote?: string;
  presence: BuddyPresence;
  /** Messages from them not yet read. */
  unread: number;
  /** They are typing to us now (RFC 3994). */
  typing: boolean;
}

export interface OwnPresenceView {
  /** What the user chose; `away` may also be set automatically after idle time. */
  status: Exclude<PresenceStatus, 'offline'>;
  note?: string;
  /** True when `away` was set by the idle timer (it clears when the user is back). */
  autoAway: boolean;
  /** Minutes of inactivity in the app before `away` is set; 0 = never. */
  awayAfterMinutes: number;
}
