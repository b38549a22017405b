// The records a node holds, as primary or replica, and the rules for accepting a write:
// signed by its owner, not older than what we have, first come for names, and a binding only
// from the owner of the name it binds. Mailboxes (messages kept for offline users) have their
// own rules: a message slot is written once, only the recipient's signed acknowledgement removes
// it, and each recipient's mailbox is capped in records and bytes so nobody can fill the overlay.
// A voice message's audio chunks sit beside it under the same key, capped apart (they are far
// bigger), never in a whole-mailbox fetch (one is asked for by its slot), and dropped with it.
// Service advertisements: one per node key under the service's key, short-lived, capped in number.
// Quotas keep a node's memory bounded whatever it is sent: each owner key (the signer) and each
// source network (the /24 or /48 a write came from) may hold only so many records and bytes here,
// and the whole store is capped in records and bytes. A stranger's flood is refused at its quota
// while other owners' writes still go in.
import { checkNameWork } from '../../wire/overlay/id-puzzle.js';
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
  type NameValue,
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
  | 'malformed'
  | 'owner-quota'
  | 'source-quota'
  | 'not-responsible'
  /** A name claim without the proof of work its name and owner key need (id-puzzle.ts). */
  | 'name-work';

/** What one owner key, or one source network, may hold in one node's store. */
export interface Quota {
  records: number;
  bytes: number;
}

/**
 * Per owner: a user's name and bindings, the mailbox messages it left for the users whose
 * mailboxes fall here, and a full voice mailbox (MAILBOX_LIMITS.maxVoiceBytes) beside them.
 */
export const OWNER_QUOTA: Quota = { records: 256, bytes: 4 * 1024 * 1024 };
/** Per source network (IPv4 /24, IPv6 /48): the owners behind one NAT or one attacker's subnet. */
export const SOURCE_QUOTA: Quota = { records: 4_096, bytes: 16 * 1024 * 1024 };
/** The whole store. */
export const STORE_LIMITS: Quota = { records: 200_000, bytes: 256 * 1024 * 1024 };

export interface RecordStoreOptions {
  overlay: string;
  now(): number;
  /** The longest a record may live from now. */
  maxTtlMs?: number;
  maxRecords?: number;
  maxBytes?: number;
  ownerQuota?: Quota;
  sourceQuota?: Quota;
  /** Zero bits a name claim's proof of work must show (ChordConfig.nameDifficulty); 0 (the default here) takes claims without it. */
  nameDifficulty?: number;
  /** Told of every record stored or replaced, and of every one dropped (for persistence). */
  onStored?(record: OverlayRecord): void;
  onDropped?(record: OverlayRecord): void;
}

export type PutOutcome = { ok: true; changed: boolean } | { ok: false; reason: RejectReason };

export class RecordStore {
  /** Records grouped by ring key, then by slot (recordSlotId). */
  private readonly byKey = new Map<string, Map<string, OverlayRecord>>();
  private count = 0;
  private totalBytes = 0;
  private readonly maxTtl: number;
  private readonly max: number;
  private readonly maxBytes: number;
  private readonly ownerQuota: Quota;
  private readonly sourceQuota: Quota;
  /** What each owner key, and each source network, holds here now. */
  private readonly owners = new Map<string, { records: number; bytes: number }>();
  private readonly sources = new Map<string, { records: number; bytes: number }>();
  /** The network each held record first came from (none for our own, replicated and restored ones). */
  private readonly cameFrom = new WeakMap<OverlayRecord, string>();
  /** Writes refused, by reason (node.status shows them). */
  readonly refused: Partial<Record<RejectReason, number>> = {};

  constructor(private readonly options: RecordStoreOptions) {
    this.maxTtl = options.maxTtlMs ?? 7 * 24 * 3600_000;
    this.max = options.maxRecords ?? STORE_LIMITS.records;
    this.maxBytes = options.maxBytes ?? STORE_LIMITS.bytes;
    this.ownerQuota = options.ownerQuota ?? OWNER_QUOTA;
    this.sourceQuota = options.sourceQuota ?? SOURCE_QUOTA;
  }

  get size(): number {
    return this.count;
  }

  /** Serialized bytes of every record held. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Records and bytes one owner key holds here. */
  ownerUsage(owner: string): { records: number; bytes: number } {
    return { ...(this.owners.get(owner) ?? { records: 0, bytes: 0 }) };
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

  /**
   * Loads records kept on disk, without re-checking signatures checked when they arrived, but
   * within the owner quota and the store's caps (a store filled before quotas existed, or under
   * larger ones, does not fill memory again on restart). Returns the records left out.
   */
  restore(records: OverlayRecord[]): OverlayRecord[] {
    const now = this.options.now();
    const left: OverlayRecord[] = [];
    // Longest-lived first: an owner over its quota keeps what it wrote last.
    for (const r of [...records].sort((a, b) => b.expires - a.expires)) {
      if (r.expires <= now) continue;
      // Claims kept from before the overlay asked for work (or for this much) are not loaded.
      if (r.type === 'name' && !checkNameWork(r as OverlayRecord & { value: NameValue }, this.options.nameDifficulty ?? 0)) left.push(r);
      else if (this.overQuota(r, undefined, this.live(r, now))) left.push(r);
      else this.set(r);
    }
    return left;
  }

  /**
   * Stores one record if its owner may write it. `source`: the network the write came from
   * (sourceNetwork()), counted against that network's quota; none for our own writes, replicas
   * and hand-overs from ring neighbours.
   */
  put(record: OverlayRecord, source?: string): PutOutcome {
    const outcome = this.check(record, source);
    if (!outcome.ok) this.refused[outcome.reason] = (this.refused[outcome.reason] ?? 0) + 1;
    return outcome;
  }

  /** Counts a write refused before it reached the store (see ChordNode's responsibility rule). */
  countRefused(reason: RejectReason, n = 1): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + n;
  }

  private check(record: OverlayRecord, source: string | undefined): PutOutcome {
    const now = this.options.now();
    if (record.expires <= now) return { ok: false, reason: 'expired' };
    if (record.expires > now + this.maxTtl) return { ok: false, reason: 'too-far-ahead' };
    if (record.value.overlay.toLowerCase() !== this.options.overlay.toLowerCase()) return { ok: false, reason: 'wrong-overlay' };
    if (record.type === 'mailbox') {
      if (record.key !== mailboxKey(record.value.user, record.value.overlay)) return { ok: false, reason: 'wrong-key' };
      if (!verifyRecord(record)) return { ok: false, reason: 'bad-signature' };
      return this.putMailbox(record as OverlayRecord & { value: MailboxValue }, now, source);
    }
    if (record.type === 'service') return this.putService(record, now, source);
    if (record.key !== idToHex(keyForAor(record.value.user, record.value.overlay))) return { ok: false, reason: 'wrong-key' };
    if (record.type === 'name' && record.slot !== '') return { ok: false, reason: 'wrong-key' };
    // One hash, checked before the signature (a few times dearer).
    if (record.type === 'name' && !checkNameWork(record as OverlayRecord & { value: NameValue }, this.options.nameDifficulty ?? 0)) return { ok: false, reason: 'name-work' };
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
    const over = this.room(record, source, existing);
    if (over) return { ok: false, reason: over };
    this.set(record, source);
    this.options.onStored?.(record);
    return { ok: true, changed: true };
  }

  /**
   * Whether `record` fits: its owner's quota, its source network's, and the store's caps
   * (expired records are dropped first when the store is full). `existing`: the record it replaces.
   */
  private room(record: OverlayRecord, source: string | undefined, existing: OverlayRecord | undefined): RejectReason | undefined {
    const over = this.overQuota(record, source, existing);
    if (over !== 'full') return over;
    this.expire();
    return this.overQuota(record, source, existing);
  }

  private overQuota(record: OverlayRecord, source: string | undefined, existing: OverlayRecord | undefined): RejectReason | undefined {
    const size = sizeOf(record);
    const replaced = existing ? sizeOf(existing) : 0;
    const added = existing ? 0 : 1;
    const owner = this.owners.get(record.owner) ?? { records: 0, bytes: 0 };
    const ownerBefore = existing?.owner === record.owner ? replaced : 0;
    if (owner.records + (existing?.owner === record.owner ? 0 : 1) > this.ownerQuota.records || owner.bytes - ownerBefore + size > this.ownerQuota.bytes) return 'owner-quota';
    if (source !== undefined) {
      const from = this.sources.get(source) ?? { records: 0, bytes: 0 };
      if (from.records + added > this.sourceQuota.records || from.bytes + size > this.sourceQuota.bytes) return 'source-quota';
    }
    if (this.count + added > this.max || this.totalBytes - replaced + size > this.maxBytes) return 'full';
    return undefined;
  }

  /**
   * A message is stored once per slot, under the recipient's caps. An acknowledgement (one per
   * recipient key, replaced as it grows) is accepted only from the key the messages were sealed
   * for, and drops the messages it lists; it stays as long as they would have, so a stale copy
   * pushed later by another node is refused rather than delivered twice.
   */
  private putMailbox(record: OverlayRecord & { value: MailboxValue }, now: number, source: string | undefined): PutOutcome {
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
    const over = this.room(record, source, existing);
    if (over) return { ok: false, reason: over };
    this.set(record, source);
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
  private putService(record: OverlayRecord, now: number, source: string | undefined): PutOutcome {
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
    }
    const over = this.room(record, source, existing);
    if (over) return { ok: false, reason: over };
    this.set(record, source);
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

  private set(r: OverlayRecord, source?: string): void {
    let slots = this.byKey.get(r.key);
    if (!slots) this.byKey.set(r.key, (slots = new Map()));
    const old = slots.get(recordSlotId(r));
    if (old) this.uncount(old);
    else this.count++;
    slots.set(recordSlotId(r), r);
    // A newer version keeps the network the record first came from.
    const from = source ?? (old ? this.cameFrom.get(old) : undefined);
    const bytes = sizeOf(r);
    if (from !== undefined) this.cameFrom.set(r, from);
    this.totalBytes += bytes;
    add(this.owners, r.owner, 1, bytes);
    if (from !== undefined) add(this.sources, from, 1, bytes);
  }

  private drop(r: OverlayRecord): void {
    const slots = this.byKey.get(r.key);
    const held = slots?.get(recordSlotId(r));
    if (!held || !slots?.delete(recordSlotId(r))) return;
    this.count--;
    this.uncount(held);
    if (!slots.size) this.byKey.delete(r.key);
    this.options.onDropped?.(r);
  }

  /** Takes a record that is leaving the store (dropped, or replaced) out of the totals. */
  private uncount(r: OverlayRecord): void {
    const bytes = sizeOf(r);
    this.totalBytes -= bytes;
    add(this.owners, r.owner, -1, -bytes);
    const from = this.cameFrom.get(r);
    if (from !== undefined) add(this.sources, from, -1, -bytes);
  }
}

/** A record's serialized size, worked out once per record object (the quota checks and the accounting both need it). */
const sizes = new WeakMap<OverlayRecord, number>();
function sizeOf(r: OverlayRecord): number {
  let size = sizes.get(r);
  if (size === undefined) sizes.set(r, (size = recordBytes(r)));
  return size;
}

function add(usage: Map<string, { records: number; bytes: number }>, who: string, records: number, bytes: number): void {
  const u = usage.get(who) ?? { records: 0, bytes: 0 };
  u.records += records;
  u.bytes += bytes;
  if (u.records <= 0) usage.delete(who);
  else usage.set(who, u);
}

/**
 * The network a write came from, as the source quota counts it: an IPv4 address's /24, an IPv6
 * address's /48 (what one subscriber or one hosting customer is usually given).
 */
export function sourceNetwork(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.\d+$/i.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 3).join(':')}::/48` : address;
}

function expandIpv6(address: string): string[] | undefined {
  const plain = address.replace(/^\[|\]$/g, '').split('%')[0].toLowerCase();
  if (!/^[0-9a-f:]+$/.test(plain) || !plain.includes(':')) return undefined;
  const [head, tail] = plain.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  if (plain.includes('::') ? left.length + right.length > 7 : left.length !== 8) return undefined;
  const middle = Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...(plain.includes('::') ? middle : []), ...right].map((g) => g.replace(/^0+(?=.)/, ''));
}

/** Voice chunks and greetings: fetched one by one by slot, never with a whole mailbox. */
function isChunk(r: OverlayRecord): boolean {
  return r.type === 'mailbox' && ((r.value as MailboxValue).chunk !== undefined || (r.value as MailboxValue).greeting !== undefined);
}
