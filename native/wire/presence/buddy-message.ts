// Buddy requests and answers: a small JSON body sent by SIP MESSAGE (RFC 3428), signed by the
// sender's identity key (see signature.ts, context peerdial-buddy-v1). They never show as chat.

export const BUDDY_CONTENT_TYPE = 'application/vnd.peerdial.buddy+json';

export type BuddyMessageType = 'request' | 'accept' | 'decline' | 'remove';
const TYPES: readonly BuddyMessageType[] = ['request', 'accept', 'decline', 'remove'];

export interface BuddyMessage {
  v: 1;
  type: BuddyMessageType;
  /** The sender's AOR, sip:alice@OVERLAY. */
  from: string;
  /** The recipient's AOR: a message meant for someone else is refused. */
  to: string;
  displayName?: string;
  /** The sender's note with a request ("it's Alice from work"). */
  note?: string;
  /** The sender's Ed25519 public key, raw 32 bytes, base64url: pinned by the recipient on first contact. */
  publicKey: string;
  /** When it was signed (ms since the epoch); a buddy's message no newer than the last one taken is a replay. */
  at: number;
}

export const MAX_BUDDY_NOTE = 280;

export function encodeBuddyMessage(message: BuddyMessage): string {
  return JSON.stringify(message);
}

/** The message, or why it is not one. */
export function parseBuddyMessage(text: string): BuddyMessage | string {
  if (text.length > 4096) return 'too large';
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!input || typeof input !== 'object') return 'not an object';
  const m = input as Record<string, unknown>;
  if (m.v !== 1) return 'unknown version';
  if (!TYPES.includes(m.type as BuddyMessageType)) return 'unknown type';
  if (typeof m.from !== 'string' || !/^sip:[^@\s]+@[^@\s]+$/.test(m.from)) return 'bad from';
  if (typeof m.to !== 'string' || !/^sip:[^@\s]+@[^@\s]+$/.test(m.to)) return 'bad to';
  if (typeof m.publicKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(m.publicKey)) return 'bad public key';
  if (!Number.isSafeInteger(m.at) || (m.at as number) <= 0) return 'bad time';
  if (m.displayName !== undefined && (typeof m.displayName !== 'string' || m.displayName.length > 64)) return 'bad display name';
  if (m.note !== undefined && (typeof m.note !== 'string' || m.note.length > MAX_BUDDY_NOTE)) return 'bad note';
  return {
    v: 1,
    type: m.type as BuddyMessageType,
    from: m.from,
    to: m.to,
    publicKey: m.publicKey,
    at: m.at as number,
    ...(m.displayName !== undefined ? { displayName: m.displayName as string } : {}),
    ...(m.note !== undefined ? { note: m.note as string } : {}),
  };
}
