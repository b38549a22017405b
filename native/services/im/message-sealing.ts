// Messages between Peerdial users travel sealed and signed end to end (wire/im/sealed-message.ts):
// texts, receipts and typing notices alike, so a member carrying a client's signalling sees only
// ciphertext. Who may speak for an AOR is the key pinned for the buddy or, for a stranger, the
// owner of the name in the overlay. A plain MESSAGE that claims to come from a Peerdial user is
// refused: its From could say anything.
import type { IdentityService } from '../identity/index.js';
import type { SealingCounters } from './message-security-view.js';
import { openSealedMessage, sealMessage, SEALED_MESSAGE_CONTENT_TYPE } from '../../wire/im/sealed-message.js';

/** How long a stranger's key found in the overlay is trusted without looking again. */
const OWNER_CACHE_MS = 5 * 60_000;
const OWNER_CACHE_MAX = 1000;

export interface MessageSealingDeps {
  identity: IdentityService;
  ownAor(): string | undefined;
  /** The owner and X25519 key of a name in the overlay. */
  lookup(aor: string): Promise<{ owner?: string; x25519?: string }>;
  /** The key pinned for a buddy. */
  pinnedKey?(aor: string): string | undefined;
  now(): number;
}


export type Opened = { ok: true; type: string; body: string } | { ok: false; reason: string };

export class MessageSealing {
  readonly counters: SealingCounters = { sealedSent: 0, sealedReceived: 0, refusedUnsealed: 0, refusedSealed: 0 };
  private readonly owners = new Map<string, { owner?: string; x25519?: string; at: number }>();

  constructor(private readonly deps: MessageSealingDeps) {}

  /**
   * The sealed body for a Peerdial user (their name claim names an X25519 key), undefined for a
   * phone. Throws when the name's owner is not the key pinned for the buddy: sealing to it would
   * hand the words to whoever holds the name now.
   */
  seal(message: { to: string; callId: string; contentType: string; body: string }, found: { owner?: string; x25519?: string }): { contentType: string; body: string } | undefined {
    const from = this.deps.ownAor();
    const identity = this.deps.identity.current;
    const signingKey = this.deps.identity.signingKey;
    if (!found.x25519 || !found.owner || !from || !identity || !signingKey) return undefined;
    const pinned = this.deps.pinnedKey?.(message.to);
    if (pinned && pinned !== found.owner) throw new Error(`${message.to} now has a different key; check it before writing to them`);
    const body = sealMessage(
      { from, to: message.to, toKey: found.owner, callId: message.callId, at: this.deps.now(), type: message.contentType, body: message.body },
      { publicKey: identity.publicKey, privateKey: signingKey },
      Buffer.from(found.x25519, 'base64url'),
    );
    this.counters.sealedSent++;
    return { contentType: SEALED_MESSAGE_CONTENT_TYPE, body };
  }

  /** Opens a sealed MESSAGE from `fromAor` (an overlay AOR) with Call-ID `callId`. */
  async open(fromAor: string | undefined, callId: string, body: string): Promise<Opened> {
    const refuse = (reason: string): Opened => {
      this.counters.refusedSealed++;
      return { ok: false, reason };
    };
    const own = this.deps.ownAor();
    const identity = this.deps.identity.current;
    const agreement = this.deps.identity.agreementKey;
    if (!fromAor || !own || !identity || !agreement) return refuse('a sealed message must come from a user of this overlay');
    const senderKey = await this.keyOf(fromAor);
    if (!senderKey) return refuse(`nobody owns ${fromAor} in the overlay to check the message against`);
    const opened = openSealedMessage(body, agreement.privateKey, senderKey);
    if (!opened.ok) return refuse(opened.reason === 'bad-signature' ? 'the signature does not match the sender' : 'the message does not open for this user');
    const m = opened.message;
    if (m.from.toLowerCase() !== fromAor.toLowerCase() || m.to.toLowerCase() !== own.toLowerCase() || m.toKey !== identity.publicKey) return refuse('the message was written to someone else, or by someone else');
    if (m.callId !== callId) return refuse('the message was cut out of another request');
    this.counters.sealedReceived++;
    return { ok: true, type: m.type, body: m.body };
  }

  /**
   * Whether a plain message from `aor` may be taken: not when it names a Peerdial user (a buddy, or
   * a name whose claim names an X25519 key), whose messages are sealed, unless the user's own
   * node vouches that it comes from one of the user's phones (`vouched` checks that with their key).
   */
  async plainAllowed(aor: string, vouched: (userKey: string) => boolean): Promise<boolean> {
    const pinned = this.deps.pinnedKey?.(aor);
    const found = pinned ? undefined : await this.found(aor);
    if (!pinned && found?.x25519 === undefined) return true;
    const key = pinned ?? found?.owner;
    return key !== undefined && vouched(key);
  }

  refusedUnsealed(): void {
    this.counters.refusedUnsealed++;
  }

  private async keyOf(aor: string): Promise<string | undefined> {
    return this.deps.pinnedKey?.(aor) ?? (await this.found(aor))?.owner;
  }

  private async found(aor: string): Promise<{ owner?: string; x25519?: string } | undefined> {
    const key = aor.toLowerCase();
    const cached = this.owners.get(key);
    const now = this.deps.now();
    if (cached && now - cached.at < OWNER_CACHE_MS) return cached;
    const found = await this.deps.lookup(aor).catch(() => undefined);
    if (!found) return cached;
    if (this.owners.size >= OWNER_CACHE_MAX) this.owners.delete(this.owners.keys().next().value!);
    const entry = { ...(found.owner ? { owner: found.owner } : {}), ...(found.x25519 ? { x25519: found.x25519 } : {}), at: now };
    this.owners.set(key, entry);
    return entry;
  }
}
