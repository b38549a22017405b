// The offline store: a message to a user with no device online is sealed to their X25519 key,
// signed by the sender, and kept in the overlay under their mailbox key (wire/overlay/record.ts).
// The recipient fetches its mailbox at start-up and every pollMs, checks each message against
// the sender's name claim, stores it as received, and acknowledges it with a signed record that
// makes the storing nodes drop it. The sender learns of the delivery from a receipt when it is
// online, else from the acknowledgement the next time it polls (also after a restart).
// A voice message is the same sealed message with a `voice` manifest, its audio stored first in
// encrypted chunks beside it (wire/im/voice-message.ts); the recipient takes it only whole.
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { MessageRepository, RequestLimits, StoredMessage } from '../../storage/repositories/message-repository.js';
import { realTimers } from '../../transport/clock.js';
import { MAX_OFFLINE_TEXT_BYTES, openOfflineMessage, sealOfflineMessage, type OfflineMessage } from '../../wire/im/offline-message.js';
import { chunkDigest, encryptVoice, openVoiceChunk, unpackVoice, type VoiceManifest } from '../../wire/im/voice-message.js';
import type { StoreResult } from '../../wire/overlay/messages.js';
import {
  MAILBOX_LIMITS,
  mailboxAckSlot,
  mailboxChunkSlot,
  mailboxGreetingSlot,
  mailboxKey,
  mailboxMessageSlot,
  recordBytes,
  signRecord,
  verifyRecord,
  type MailboxValue,
  type OverlayRecord,
} from '../../wire/overlay/record.js';
import { conversationKey, parseSipUri } from '../../wire/sip/uri.js';
import type { IdentityService } from '../identity/index.js';

/** How long a message waits in the overlay for its recipient (under the stores' 7-day cap, for clock skew). */
export const MAILBOX_TTL_MS = 6 * 24 * 3600_000;
export const DEFAULT_MAILBOX_POLL_MS = 30_000;

/** What the offline store needs of the overlay. */
export interface MailboxOverlay {
  readonly overlay: string;
  ownAor(): string | undefined;
  lookupAor(aor: string): Promise<{ owner?: string; x25519?: string }>;
  putRecords(records: OverlayRecord[]): Promise<StoreResult>;
  fetchRecords(key: string, options?: { slot?: string; accept?: (records: OverlayRecord[]) => boolean; onForged?: () => void }): Promise<OverlayRecord[]>;
}

/** A voice message to keep for its recipient: Opus packets packed (voice-message.ts packVoice). */
export interface OutgoingVoice {
  audio: Buffer;
  durationMs: number;
}

export interface MailboxServiceDeps {
  overlay: MailboxOverlay;
  identity: IdentityService;
  messages: MessageRepository;
  log: Logger;
  timers?: TimerHost;
  pollMs?: number;
  now?: () => number;
  /** A message from the mailbox was stored as received, or one of ours was found delivered. */
  onMessage(message: StoredMessage, change: 'added' | 'updated'): void;
  /** Messages from `sender` came out of the mailbox: tell them (a delivery receipt), if they are reachable. */
  onDelivered?(sender: string, callIds: string[]): void;
  onUnreadChanged?(peer: string): void;
  /**
   * Strangers (not buddies) may leave one message each while we are offline, or none when the
   * user turned that off: it lands in Requests; the rest are acknowledged (the storing nodes
   * drop them) and dropped here. Without this, every sender's messages are delivered.
   */
  strangers?: { isStranger(peer: string): boolean; mailboxAllowed(): boolean; limits: RequestLimits; onRequestsChanged(): void };
}

export type StoreOutcome = { ok: true } | { ok: false; reason: string };

export class MailboxService {
  /** What the mailbox polls found (forged and undecryptable entries are dropped and counted, never delivered). */
  /** Call-IDs of strangers' mailbox messages already counted as dropped (oldest forgotten first). */
  private readonly droppedFromStrangers = new Set<string>();
  readonly stats = { received: 0, forged: 0, undecryptable: 0, foreign: 0, polls: 0, pollFailures: 0, voiceReceived: 0, voiceTampered: 0, voiceIncomplete: 0, strangerDropped: 0 };
  private readonly now: () => number;
  private readonly timers: TimerHost;
  private readonly pollMs: number;
  private timer?: TimerHandle;
  private running = false;
  private polling?: Promise<void>;

  constructor(private readonly deps: MailboxServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.timers = deps.timers ?? realTimers;
    this.pollMs = deps.pollMs ?? DEFAULT_MAILBOX_POLL_MS;
  }

  async start(): Promise<void> {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.timers.clear(this.timer);
    await this.polling;
  }

  private schedule(delay: number): void {
    this.timer = this.timers.set(delay, () => {
      if (!this.running) return;
      void this.poll().finally(() => {
        if (this.running) this.schedule(this.pollMs);
      });
    });
  }

  /** One round: take what waits for us, then see which of ours were taken. Rounds never overlap. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      this.stats.polls++;
      try {
        await this.collect();
        await this.checkStored();
      } catch (error) {
        this.stats.pollFailures++;
        this.deps.log.debug('mailbox poll failed', { error: String((error as Error).message ?? error) });
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  /**
   * Seals `message` to the recipient (whose keys come from their name claim) and stores it in
   * their mailbox. With `voice`, the audio's encrypted chunks are stored first and the message
   * last, so a recipient never finds a voice message whose audio is not there yet.
   */
  async store(message: Omit<OfflineMessage, 'from' | 'toKey' | 'voice'>, recipient: { owner: string; x25519: string }, voice?: OutgoingVoice): Promise<StoreOutcome> {
    const identity = this.deps.identity.current;
    const signingKey = this.deps.identity.signingKey;
    const from = this.deps.overlay.ownAor();
    const user = parseSipUri(message.to)?.user?.toLowerCase();
    if (!identity || !signingKey || !from || !user) return { ok: false, reason: 'No identity in this overlay to sign with' };
    if (Buffer.byteLength(message.text) > MAX_OFFLINE_TEXT_BYTES) return { ok: false, reason: `Too long to keep for an offline user (over ${MAX_OFFLINE_TEXT_BYTES} bytes)` };
    const now = this.now();
    const key = mailboxKey(user, this.deps.overlay.overlay);
    const expires = now + MAILBOX_TTL_MS;
    const base = { user, overlay: this.deps.overlay.overlay, to: recipient.owner };
    let manifest: VoiceManifest | undefined;
    if (voice) {
      const encrypted = encryptVoice(voice.audio, message.callId, voice.durationMs);
      manifest = encrypted.manifest;
      const chunks = encrypted.chunks.map((chunk, index) =>
        signRecord({ type: 'mailbox', key, owner: identity.publicKey, slot: mailboxChunkSlot(message.callId, index), seq: now, expires, value: { ...base, chunk: chunk.toString('base64url') } }, signingKey),
      );
      const kept = await this.put(chunks, message.to);
      if (!kept.ok) return kept;
    }
    const sealed = sealOfflineMessage(
      { ...message, from, toKey: recipient.owner, ...(manifest ? { voice: manifest } : {}) },
      { publicKey: identity.publicKey, privateKey: signingKey },
      Buffer.from(recipient.x25519, 'base64url'),
    );
    const value: MailboxValue = { ...base, sealed };
    const record = signRecord({ type: 'mailbox', key, owner: identity.publicKey, slot: mailboxMessageSlot(message.callId), seq: now, expires, value }, signingKey);
    if (recordBytes(record) > MAILBOX_LIMITS.maxRecordBytes) return { ok: false, reason: 'Too long to keep for an offline user' };
    return this.put([record], message.to);
  }

  private async put(records: OverlayRecord[], to: string): Promise<StoreOutcome> {
    let result: StoreResult;
    try {
      result = await this.deps.overlay.putRecords(records);
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
    const refused = result.rejected[0];
    if (refused) return { ok: false, reason: refused.reason === 'mailbox-full' ? `${to} has too many messages waiting already` : `The overlay would not keep it (${refused.reason})` };
    return result.stored >= records.length ? { ok: true } : { ok: false, reason: 'The overlay did not keep it' };
  }

  /**
   * Publishes this user's recorded greeting (packed Opus) in their mailbox, in the clear, for
   * callers to play; `undefined` replaces it with an empty one (the default greeting again).
   */
  async publishGreeting(audio: Buffer | undefined): Promise<StoreOutcome> {
    const identity = this.deps.identity.current;
    const signingKey = this.deps.identity.signingKey;
    if (!identity || !signingKey) return { ok: false, reason: 'No identity in this overlay to sign with' };
    const now = this.now();
    const record = signRecord(
      {
        type: 'mailbox',
        key: mailboxKey(identity.userName, this.deps.overlay.overlay),
        owner: identity.publicKey,
        slot: mailboxGreetingSlot(identity.publicKey),
        seq: now,
        expires: now + MAILBOX_TTL_MS,
        value: { user: identity.userName, overlay: this.deps.overlay.overlay, to: identity.publicKey, greeting: audio?.toString('base64url') ?? '' },
      },
      signingKey,
    );
    if (recordBytes(record) > MAILBOX_LIMITS.maxRecordBytes) return { ok: false, reason: 'The greeting is too long' };
    return this.put([record], 'your mailbox');
  }

  /** The greeting `owner` (the key of `user`'s name claim) recorded, packed Opus; undefined for none (or one that fails its checks). */
  async fetchGreeting(user: string, owner: string): Promise<Buffer | undefined> {
    const key = mailboxKey(user, this.deps.overlay.overlay);
    const slot = mailboxGreetingSlot(owner);
    const good = (r: OverlayRecord) => r.type === 'mailbox' && r.key === key && r.slot === slot && r.owner === owner && (r.value as MailboxValue).to === owner && verifyRecord(r);
    const records = await this.deps.overlay.fetchRecords(key, { slot, accept: (found) => found.some(good) }).catch(() => []);
    const newest = records.filter(good).sort((a, b) => b.seq - a.seq)[0];
    const audio = newest && (newest.value as MailboxValue).greeting ? Buffer.from((newest.value as MailboxValue).greeting!, 'base64url') : undefined;
    return audio && unpackVoice(audio) ? audio : undefined;
  }

  /** Takes the messages waiting for this user: verified, decrypted, stored in order, then acknowledged. */
  private async collect(): Promise<void> {
    const identity = this.deps.identity.current;
    const agreement = this.deps.identity.agreementKey;
    const signingKey = this.deps.identity.signingKey;
    const ownAor = this.deps.overlay.ownAor();
    if (!identity || !agreement || !signingKey || !ownAor) return;
    const overlay = this.deps.overlay.overlay;
    const key = mailboxKey(identity.userName, overlay);
    const records = (await this.deps.overlay.fetchRecords(key)).filter((r) => r.type === 'mailbox' && r.key === key && r.expires > this.now() && verifyRecord(r));
    const ackSlot = mailboxAckSlot(identity.publicKey);
    const previousAck = records.find((r) => r.slot === ackSlot && r.owner === identity.publicKey);
    const alreadyTaken = new Set((previousAck?.value as MailboxValue | undefined)?.acked ?? []);
    const waiting = records.filter((r) => {
      const value = r.value as MailboxValue;
      return value.sealed !== undefined && !alreadyTaken.has(r.slot);
    });
    if (!waiting.length) return;

    const taken: string[] = [];
    const valid: OfflineMessage[] = [];
    const senderKeys = new Map<string, string | undefined>();
    const voices = new Map<string, Buffer>();
    for (const record of waiting) {
      const value = record.value as MailboxValue;
      if (value.to !== identity.publicKey) {
        // Sealed for a key this user does not hold: not ours to acknowledge; it expires.
        this.stats.foreign++;
        continue;
      }
      const opened = openOfflineMessage(value.sealed!, agreement.privateKey, record.owner);
      if (!opened.ok) {
        if (opened.reason === 'undecryptable') this.stats.undecryptable++;
        else this.stats.forged++;
        this.deps.log.info('dropped a mailbox entry', { reason: opened.reason, slot: record.slot });
        taken.push(record.slot);
        continue;
      }
      const m = opened.message;
      const addressedHere = m.toKey === identity.publicKey && conversationKey(m.to) === conversationKey(ownAor) && record.slot === mailboxMessageSlot(m.callId);
      const sender = conversationKey(m.from);
      const senderUri = sender ? parseSipUri(sender) : undefined;
      if (!addressedHere || !sender || !senderUri?.user || senderUri.host.toLowerCase() !== overlay.toLowerCase()) {
        this.stats.forged++;
        taken.push(record.slot);
        continue;
      }
      // The signer must be whoever holds the sender's name: a key of one's own cannot speak for another AOR.
      if (!senderKeys.has(sender)) senderKeys.set(sender, await this.deps.overlay.lookupAor(sender).then((found) => found.owner, () => undefined));
      const claimed = senderKeys.get(sender);
      if (claimed === undefined) continue; // the sender's claim cannot be read now: try again next round
      if (claimed !== record.owner) {
        this.stats.forged++;
        this.deps.log.info('dropped a mailbox entry signed by a key that does not own its sender', { sender, slot: record.slot });
        taken.push(record.slot);
        continue;
      }
      if (m.voice) {
        const audio = await this.fetchVoice(key, m.callId, m.voice, record.owner);
        if (audio === 'incomplete') {
          // Its chunks may still be on their way to the replica we asked: next round.
          this.stats.voiceIncomplete++;
          continue;
        }
        if (audio === 'tampered') {
          this.stats.voiceTampered++;
          this.deps.log.warn('dropped a voice message whose audio was changed in the overlay', { sender, slot: record.slot });
          taken.push(record.slot);
          continue;
        }
        voices.set(m.callId, audio);
      }
      valid.push(m);
      taken.push(record.slot);
    }

    // One sender's messages in the order they were sent; senders interleaved by time.
    valid.sort((a, b) => (a.from === b.from ? a.seq - b.seq : a.at - b.at || a.seq - b.seq));
    const delivered = new Map<string, string[]>();
    const strangers = this.deps.strangers;
    let requestsChanged = false;
    for (const m of valid) {
      const peer = conversationKey(m.from)!;
      const audio = voices.get(m.callId);
      const voice = m.voice && audio ? { codec: m.voice.codec, durationMs: m.voice.durationMs, audio } : undefined;
      const incoming = { peer, direction: 'in' as const, text: m.text, status: 'received' as const, sipCallId: m.callId, sipCseq: 1, at: m.at, encrypted: true, ...(voice ? { voice } : {}) };
      if (strangers?.isStranger(peer)) {
        // One pending message per stranger: a request already waiting (from this round or an earlier one) takes no more.
        // A replica that has not yet seen our acknowledgement hands back what we took: not news.
        if (await this.deps.messages.hasIncoming(m.callId, 1)) continue;
        if (!strangers.mailboxAllowed() || (await this.deps.messages.isRequest(peer))) {
          this.countStrangerDrop(m.callId);
          continue;
        }
        const outcome = await this.deps.messages.addFromStranger(incoming, strangers.limits);
        if (outcome.kind === 'over-limit') this.countStrangerDrop(m.callId);
        if (outcome.kind !== 'request' && outcome.kind !== 'conversation') continue;
        this.stats.received++;
        if (voice) this.stats.voiceReceived++;
        this.deps.onMessage(outcome.message, 'added');
        if (outcome.kind === 'request') {
          // No delivery receipt: a stranger learns nothing of us until the user accepts.
          requestsChanged = true;
          continue;
        }
        this.deps.onUnreadChanged?.(peer);
        delivered.set(peer, [...(delivered.get(peer) ?? []), m.callId]);
        continue;
      }
      const added = await this.deps.messages.add(incoming);
      if (added) {
        this.stats.received++;
        if (voice) this.stats.voiceReceived++;
        this.deps.onMessage(added, 'added');
        this.deps.onUnreadChanged?.(peer);
      }
      delivered.set(peer, [...(delivered.get(peer) ?? []), m.callId]);
    }
    if (requestsChanged) strangers?.onRequestsChanged();
    if (taken.length) await this.acknowledge(previousAck, taken, { key, user: identity.userName, owner: identity.publicKey, signingKey });
    for (const [sender, callIds] of delivered) this.deps.onDelivered?.(sender, callIds);
  }

  /** Counts a stranger's dropped mailbox message once, however often a lagging replica returns it. */
  private countStrangerDrop(callId: string): void {
    if (this.droppedFromStrangers.has(callId)) return;
    this.droppedFromStrangers.add(callId);
    if (this.droppedFromStrangers.size > 1024) this.droppedFromStrangers.delete(this.droppedFromStrangers.values().next().value!);
    this.stats.strangerDropped++;
  }

  /**
   * A voice message's audio, chunk by chunk: each must be signed by the message's signer and match
   * the digest the sealed manifest lists; a copy that does not is refused and the next replica asked.
   */
  private async fetchVoice(key: string, callId: string, manifest: VoiceManifest, signer: string): Promise<Buffer | 'incomplete' | 'tampered'> {
    const parts: Buffer[] = [];
    for (let index = 0; index < manifest.chunks.length; index++) {
      const slot = mailboxChunkSlot(callId, index);
      let refused = false;
      const good = (r: OverlayRecord) => {
        const chunk = (r.value as MailboxValue).chunk;
        const ok = r.type === 'mailbox' && r.key === key && r.slot === slot && r.owner === signer && chunk !== undefined && verifyRecord(r) && chunkDigest(Buffer.from(chunk, 'base64url')) === manifest.chunks[index];
        if (!ok) refused = true;
        return ok;
      };
      let records: OverlayRecord[];
      try {
        // A copy whose signature fails never reaches `good`: the overlay drops it, and says so.
        records = await this.deps.overlay.fetchRecords(key, { slot, accept: (found) => found.some(good), onForged: () => (refused = true) });
      } catch {
        return 'incomplete';
      }
      const record = records.find(good);
      if (!record) return refused ? 'tampered' : 'incomplete';
      const opened = openVoiceChunk(Buffer.from((record.value as MailboxValue).chunk!, 'base64url'), manifest, callId, index);
      if (!opened.ok) return 'tampered';
      parts.push(opened.audio);
    }
    const audio = Buffer.concat(parts);
    return unpackVoice(audio) ? audio : 'tampered';
  }

  /** Stores (again) this user's acknowledgement, listing the newest slots taken; the storing nodes drop those messages. */
  private async acknowledge(previous: OverlayRecord | undefined, slots: string[], me: { key: string; user: string; owner: string; signingKey: Buffer }): Promise<void> {
    const listed = [...((previous?.value as MailboxValue | undefined)?.acked ?? []).filter((s) => !slots.includes(s)), ...slots].slice(-MAILBOX_LIMITS.maxAcked);
    const now = this.now();
    const ack = signRecord(
      {
        type: 'mailbox',
        key: me.key,
        owner: me.owner,
        slot: mailboxAckSlot(me.owner),
        seq: Math.max(now, (previous?.seq ?? 0) + 1),
        expires: now + MAILBOX_TTL_MS,
        value: { user: me.user, overlay: this.deps.overlay.overlay, to: me.owner, acked: listed },
      },
      me.signingKey,
    );
    const result = await this.deps.overlay.putRecords([ack]);
    if (result.rejected.length) this.deps.log.warn('the overlay refused our mailbox acknowledgement', { reason: result.rejected[0].reason });
  }

  /** Our messages kept for offline recipients: the ones their acknowledgement lists are delivered. */
  private async checkStored(): Promise<void> {
    const stored = await this.deps.messages.storedOutgoing();
    const byPeer = new Map<string, typeof stored>();
    for (const m of stored) byPeer.set(m.peer, [...(byPeer.get(m.peer) ?? []), m]);
    for (const [peer, mine] of byPeer) {
      const user = parseSipUri(peer)?.user;
      if (!user) continue;
      let recipient: string | undefined;
      let records: OverlayRecord[];
      try {
        recipient = (await this.deps.overlay.lookupAor(peer)).owner;
        records = await this.deps.overlay.fetchRecords(mailboxKey(user, this.deps.overlay.overlay));
      } catch {
        continue;
      }
      if (!recipient) continue;
      const ack = records.find((r) => r.type === 'mailbox' && r.slot === mailboxAckSlot(recipient) && r.owner === recipient && verifyRecord(r));
      if (!ack) continue;
      const acked = new Set((ack.value as MailboxValue).acked ?? []);
      const waiting = new Set(records.filter((r) => (r.value as MailboxValue).sealed !== undefined).map((r) => r.slot));
      // Listed in the acknowledgement, or gone while an acknowledgement exists (it keeps only the newest slots).
      const delivered = mine.filter((m) => acked.has(mailboxMessageSlot(m.callId)) || !waiting.has(mailboxMessageSlot(m.callId))).map((m) => m.callId);
      for (const message of await this.deps.messages.advance(peer, delivered, 'delivered', ['stored'], this.now())) this.deps.onMessage(message, 'updated');
    }
  }
}
