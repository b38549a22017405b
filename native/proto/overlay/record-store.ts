// The records a node holds, as primary or replica, and the rules for accepting a write:
// signed by its owner, not older than what we have, first come for names, and a binding only
// from the owner of the name it binds.
import { idToHex, keyForAor } from '../../wire/overlay/node-id.js';
import { recordSlotId, verifyRecord, type OverlayRecord } from '../../wire/overlay/record.js';

export type RejectReason = 'bad-signature' | 'expired' | 'too-far-ahead' | 'wrong-key' | 'wrong-overlay' | 'replay' | 'name-taken' | 'not-name-owner' | 'full';

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
  private readonly records = new Map<string, OverlayRecord>();
  private readonly maxTtl: number;
  private readonly max: number;

  constructor(private readonly options: RecordStoreOptions) {
    this.maxTtl = options.maxTtlMs ?? 7 * 24 * 3600_000;
    this.max = options.maxRecords ?? 200_000;
  }

  get size(): number {
    return this.records.size;
  }

  all(): OverlayRecord[] {
    return [...this.records.values()];
  }

  get(key: string, type?: OverlayRecord['type']): OverlayRecord[] {
    const now = this.options.now();
    return this.all().filter((r) => r.key === key && (!type || r.type === type) && r.expires > now);
  }

  /** Loads records kept on disk, without re-checking what was checked when they arrived. */
  restore(records: OverlayRecord[]): void {
    for (const r of records) if (r.expires > this.options.now()) this.records.set(recordSlotId(r), r);
  }

  put(record: OverlayRecord): PutOutcome {
    const now = this.options.now();
    if (record.expires <= now) return { ok: false, reason: 'expired' };
    if (record.expires > now + this.maxTtl) return { ok: false, reason: 'too-far-ahead' };
    if (record.value.overlay.toLowerCase() !== this.options.overlay.toLowerCase()) return { ok: false, reason: 'wrong-overlay' };
    if (record.key !== idToHex(keyForAor(record.value.user, record.value.overlay))) return { ok: false, reason: 'wrong-key' };
    if (record.type === 'name' && record.slot !== '') return { ok: false, reason: 'wrong-key' };
    if (!verifyRecord(record)) return { ok: false, reason: 'bad-signature' };

    const id = recordSlotId(record);
    const existing = this.live(id, now);
    if (existing) {
      if (existing.owner !== record.owner) return { ok: false, reason: record.type === 'name' ? 'name-taken' : 'not-name-owner' };
      if (record.seq < existing.seq) return { ok: false, reason: 'replay' };
      if (record.seq === existing.seq) {
        // The same record again (replication does this) is fine; a different one with the same seq is not.
        return existing.sig === record.sig ? { ok: true, changed: false } : { ok: false, reason: 'replay' };
      }
    }
    if (record.type === 'binding') {
      const name = this.live(recordSlotId({ key: record.key, type: 'name', slot: '' }), now);
      if (name && name.owner !== record.owner) return { ok: false, reason: 'not-name-owner' };
    }
    if (!existing && this.records.size >= this.max) {
      this.expire();
      if (this.records.size >= this.max) return { ok: false, reason: 'full' };
    }
    this.records.set(id, record);
    this.options.onStored?.(record);
    return { ok: true, changed: true };
  }

  /** Drops every record under `key` (a copy this node should no longer hold). */
  removeKey(key: string): number {
    let dropped = 0;
    for (const [id, r] of this.records) {
      if (r.key !== key) continue;
      this.records.delete(id);
      this.options.onDropped?.(r);
      dropped++;
    }
    return dropped;
  }

  /** Drops expired records; returns how many. */
  expire(): number {
    const now = this.options.now();
    let dropped = 0;
    for (const [id, r] of this.records) {
      if (r.expires <= now) {
        this.records.delete(id);
        this.options.onDropped?.(r);
        dropped++;
      }
    }
    return dropped;
  }

  private live(id: string, now: number): OverlayRecord | undefined {
    const r = this.records.get(id);
    return r && r.expires > now ? r : undefined;
  }
}
