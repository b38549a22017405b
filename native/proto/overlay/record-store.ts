// The records a node holds, as primary or replica, and the rules for accepting a write:
// signed by its owner, not older than what we have, first come for names, and a binding only
// from the owner of the name it binds. Mailboxes (messages kept for offline users) have their
// own rules: a message slot is written once, only the recipient's signed acknowledgement removes
// it, and each recipient's mailbox is capped in records and bytes so nobody can fill the overlay.
// A voice message's audio chunks sit beside it under the same key, capped apart (they are far
// bigger), never in a whole-mailbox fetch (one is asked for by its slot), and dropped with it.
// Service advertisements: one per node key under the service's key, short-lived, capped in number.
import { idToHex, keyForAor } from '../../wire/overlay/node-id.js';
import {
  MAILBOX_LIMITS,
  mailboxAckSlot,
  mailboxKey,
  messageSlotOfChunk,
  parseRecord,
  recordBytes,
  recordSlotId,
  SERVICE_LIMITS,
  serviceKey,
  serviceSlot,
  verifyRecord,
  type MailboxValue,
  type OverlayRecord,
} from '../../wire/overlay/record.js';

export type RejectReason =
  | 'bad-signature'
  | 'expired'
  | 'too-far-ahead'
  | 'wrong-key'
  | 'wrong-overlay'
  | 'replay'
  | 'name-taken'
  | 'not-name-owner'
  | 'full'
  | 'mailbox-full'
  | 'acknowledged'
  | 'nothing-to-acknowledge'
  | 'malformed';

export interface RecordStoreOptions {
  overlay: string;
  now(): number;
  /** The longest a record may live from now. */
  maxTtlMs?: number;
  maxRecords?: number;
  /** Told of every record stored or replaced, and of every one dropped (for persistence). */
  onStored?(record: OverlayRecord): void;
  onDropped?(record: OverlayRecord): void;
}

export type PutOutcome = { ok: true; changed: boolean } | { ok: false; reason: RejectReason };

export class RecordStore {
  /** Records grouped by ring key, then by slot (recordSlotId). */
  private readonly byKey = new Map<string, Map<string, OverlayRecord>>();
  private count = 0;
  private readonly maxTtl: number;
  private readonly max: number;

  constructor(private readonly options: RecordStoreOptions) {
    this.maxTtl = options.maxTtlMs ?? 7 * 24 * 3600_000;
    this.max = options.maxRecords ?? 200_000;
  }

  get size(): number {
    return this.count;
  }

  all(): OverlayRecord[] {
    return [...this.byKey.values()].flatMap((slots) => [...slots.values()]);
  }

  /**
   * The live records under `key` (a fetch answers from here, so it looks at that key only).
   * Voice chunks only when asked for by `slot`: a mailbox's messages fit one answer, its audio does not.
   */
  get(key: string, type?: OverlayRecord['type'], slot?: string): OverlayRecord[] {
    const now = this.options.now();
    return [...(this.byKey.get(key)?.values() ?? [])].filter(
      (r) => (!type || r.type === type) && r.expires > now && (slot === undefined ? !isChunk(r) : r.slot === slot),
    );
  }

  /** Every live record under `key` (of `type`), voice chunks too: what moves when the key changes hands. */
  allUnder(key: string, type?: OverlayRecord['type']): OverlayRecord[] {
    const now = this.options.now();
    return [...(this.byKey.get(key)?.values() ?? [])].filter((r) => (!type || r.type === type) && r.expires > now);
  }

  /** Loads records kept on disk, without re-checking what was checked when they arrived. */
  restore(records: OverlayRecord[]): void {
    for (const r of records) if (r.expires > this.options.now()) this.set(r);
  }

  put(record: OverlayRecord): PutOutcome {
    const now = this.options.now();
    if (record.expires <= now) return { ok: false, reason: 'expired' };
    if (record.expires > now + this.maxTtl) return { ok: false, reason: 'too-far-ahead' };
    if (record.value.overlay.toLowerCase() !== this.options.overlay.toLowerCase()) return { ok: false, reason: 'wrong-overlay' };
    if (record.type === 'mailbox') {
      if (record.key !== mailboxKey(record.value.user, record.value.overlay)) return { ok: false, reason: 'wrong-key' };
      if (!verifyRecord(record)) return { ok: false, reason: 'bad-signature' };
      return this.putMailbox(record as OverlayRecord & { value: MailboxValue }, now);
    }
    if (record.type === 'service') return this.putService(record, now);
    if (record.key !== idToHex(keyForAor(record.value.user, record.value.overlay))) return { ok: false, reason: 'wrong-key' };
    if (record.type === 'name' && record.slot !== '') return { ok: false, reason: 'wrong-key' };
    if (!verifyRecord(record)) return { ok: false, reason: 'bad-signature' };

    const existing = this.live(record, now);
    if (existing) {
      if (existing.owner !== record.owner) return { ok: false, reason: record.type === 'name' ? 'name-taken' : 'not-name-owner' };
      if (record.seq < existing.seq) return { ok: false, reason: 'replay' };
      if (record.seq === existing.seq) {
        // The same record again (replication does this) is fine; a different one with the same seq is not.
        return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      }
    }
    if (record.type === 'binding') {
      const name = this.live({ key: record.key, type: 'name', slot: '' }, now);
      if (name && name.owner !== record.owner) return { ok: false, reason: 'not-name-owner' };
    }
    if (!existing && this.count >= this.max) {
      this.expire();
      if (this.count >= this.max) return { ok: false, reason: 'full' };
    }
    this.set(record);
    this.options.onStored?.(record);
    return { ok: true, changed: true };
  }

  /**
   * A message is stored once per slot, under the recipient's caps. An acknowledgement (one per
   * recipient key, replaced as it grows) is accepted only from the key the messages were sealed
   * for, and drops the messages it lists; it stays as long as they would have, so a stale copy
   * pushed later by another node is refused rather than delivered twice.
   */
  private putMailbox(record: OverlayRecord & { value: MailboxValue }, now: number): PutOutcome {
    // Records this node puts itself have not been through the network's parse: check the shape here.
    if (typeof parseRecord(record) === 'string') return { ok: false, reason: 'malformed' };
    const existing = this.live(record, now);
    const all = this.allUnder(record.key, 'mailbox');
    const box = all.filter((r) => !isChunk(r));
    if (record.value.greeting !== undefined) {
      // The recipient's greeting: replaced by a newer one of the same key, one per key, few per mailbox.
      if (existing) {
        if (record.seq < existing.seq) return { ok: false, reason: 'replay' };
        if (record.seq === existing.seq) return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      } else if (all.filter((r) => (r.value as MailboxValue).greeting !== undefined).length >= MAILBOX_LIMITS.maxAcks) {
        return { ok: false, reason: 'mailbox-full' };
      }
    } else if (record.value.chunk !== undefined) {
      if (existing) return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      const ack = this.live({ key: record.key, type: 'mailbox', slot: mailboxAckSlot(record.value.to) }, now);
      if ((ack?.value as MailboxValue | undefined)?.acked?.includes(messageSlotOfChunk(record.slot)!)) return { ok: false, reason: 'acknowledged' };
      const chunks = all.filter((r) => (r.value as MailboxValue).chunk !== undefined);
      const bytes = chunks.reduce((sum, r) => sum + recordBytes(r), 0);
      if (chunks.length >= MAILBOX_LIMITS.maxVoiceChunks || bytes + recordBytes(record) > MAILBOX_LIMITS.maxVoiceBytes) return { ok: false, reason: 'mailbox-full' };
    } else if (record.value.sealed !== undefined) {
      if (existing) return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      const ack = this.live({ key: record.key, type: 'mailbox', slot: mailboxAckSlot(record.value.to) }, now);
      if ((ack?.value as MailboxValue | undefined)?.acked?.includes(record.slot)) return { ok: false, reason: 'acknowledged' };
      const messages = box.filter((r) => (r.value as MailboxValue).sealed !== undefined);
      const bytes = messages.reduce((sum, r) => sum + recordBytes(r), 0);
      if (box.length >= MAILBOX_LIMITS.maxRecords || bytes + recordBytes(record) > MAILBOX_LIMITS.maxMessageBytes) return { ok: false, reason: 'mailbox-full' };
    } else {
      if (existing) {
        if (record.seq < existing.seq) return { ok: false, reason: 'replay' };
        if (record.seq === existing.seq) return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      } else {
        const mine = box.some((r) => (r.value as MailboxValue).to === record.owner && (r.value as MailboxValue).sealed !== undefined);
        if (!mine) return { ok: false, reason: 'nothing-to-acknowledge' };
        const acks = box.filter((r) => (r.value as MailboxValue).acked !== undefined).length;
        if (box.length >= MAILBOX_LIMITS.maxRecords || acks >= MAILBOX_LIMITS.maxAcks) return { ok: false, reason: 'mailbox-full' };
      }
    }
    if (!existing && this.count >= this.max) {
      this.expire();
      if (this.count >= this.max) return { ok: false, reason: 'full' };
    }
    this.set(record);
    this.options.onStored?.(record);
    const acked = new Set(record.value.acked ?? []);
    for (const r of all) {
      const value = r.value as MailboxValue;
      if (value.to !== record.owner) continue;
      if ((value.sealed !== undefined && acked.has(r.slot)) || (value.chunk !== undefined && acked.has(messageSlotOfChunk(r.slot)!))) this.drop(r);
    }
    return { ok: true, changed: true };
  }

  /** An advertisement lives at most SERVICE_LIMITS.maxTtlMs, in its owner's own slot, and a service key holds a bounded number. */
  private putService(record: OverlayRecord, now: number): PutOutcome {
    if (typeof parseRecord(record) === 'string') return { ok: false, reason: 'malformed' };
    if (record.key !== serviceKey(record.value.user, record.value.overlay) || record.slot !== serviceSlot(record.owner)) return { ok: false, reason: 'wrong-key' };
    if (record.expires > now + SERVICE_LIMITS.maxTtlMs) return { ok: false, reason: 'too-far-ahead' };
    if (!verifyRecord(record)) return { ok: false, reason: 'bad-signature' };
    const existing = this.live(record, now);
    if (existing) {
      if (record.seq < existing.seq) return { ok: false, reason: 'replay' };
      if (record.seq === existing.seq) return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
    } else {
      if (this.get(record.key, 'service').length >= SERVICE_LIMITS.maxRecords) return { ok: false, reason: 'full' };
      if (this.count >= this.max) {
        this.expire();
        if (this.count >= this.max) return { ok: false, reason: 'full' };
      }
    }
    this.set(record);
    this.options.onStored?.(record);
    return { ok: true, changed: true };
  }

  /** Drops every record under `key` (a copy this node should no longer hold). */
  removeKey(key: string): number {
    const slots = [...(this.byKey.get(key)?.values() ?? [])];
    for (const r of slots) this.drop(r);
    return slots.length;
  }

  /** Drops expired records; returns how many. */
  expire(): number {
    const now = this.options.now();
    const expired = this.all().filter((r) => r.expires <= now);
    for (const r of expired) this.drop(r);
    return expired.length;
  }

  private live(slot: Pick<OverlayRecord, 'key' | 'type' | 'slot'>, now: number): OverlayRecord | undefined {
    const r = this.byKey.get(slot.key)?.get(recordSlotId(slot));
    return r && r.expires > now ? r : undefined;
  }

  private set(r: OverlayRecord): void {
    let slots = this.byKey.get(r.key);
    if (!slots) this.byKey.set(r.key, (slots = new Map()));
    if (!slots.has(recordSlotId(r))) this.count++;
    slots.set(recordSlotId(r), r);
  }

  private drop(r: OverlayRecord): void {
    const slots = this.byKey.get(r.key);
    if (!slots?.delete(recordSlotId(r))) return;
    this.count--;
    if (!slots.size) this.byKey.delete(r.key);
    this.options.onDropped?.(r);
  }
}

/** Voice chunks and greetings: fetched one by one by slot, never with a whole mailbox. */
function isChunk(r: OverlayRecord): boolean {
  return r.type === 'mailbox' && ((r.value as MailboxValue).chunk !== undefined || (r.value as MailboxValue).greeting !== undefined);
}
