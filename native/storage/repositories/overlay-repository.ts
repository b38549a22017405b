import { generateKeyPairSync } from 'node:crypto';
import type { Database } from '../db.js';

/** The shape kept on disk; the overlay layer checks it when it loads. */
export interface StoredOverlayRecord {
  slotId: string;
  json: string;
  expires: number;
}

export class OverlayRepository {
  constructor(private readonly db: Database) {}

  /** This device's node key (DER SPKI and PKCS#8), made on first use. */
  async nodeKey(now = Date.now()): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
    const row = await this.db.get<{ public_key: Buffer; private_key: Buffer }>('SELECT public_key, private_key FROM node_key WHERE id = 1');
    if (row) return { publicKey: row.public_key, privateKey: row.private_key };
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const made = { publicKey: publicKey.export({ format: 'der', type: 'spki' }), privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }) };
    await this.db.run('INSERT OR IGNORE INTO node_key (id, public_key, private_key, created_at) VALUES (1, ?, ?, ?)', [made.publicKey, made.privateKey, now]);
    return this.nodeKey(now);
  }

  /**
   * The live records, longest-lived first, a page at a time: a store filled to its quotas is
   * hundreds of MB of JSON, and reading it whole at start doubled a node's memory for a while.
   */
  async *recordPages(now = Date.now(), pageSize = 500): AsyncGenerator<StoredOverlayRecord[]> {
    let after: { expires: number; slotId: string } | undefined;
    for (;;) {
      const rows = await this.db.all<{ slot_id: string; record: string; expires: number }>(
        after
          ? 'SELECT * FROM overlay_records WHERE expires > ? AND (expires < ? OR (expires = ? AND slot_id > ?)) ORDER BY expires DESC, slot_id LIMIT ?'
          : 'SELECT * FROM overlay_records WHERE expires > ? ORDER BY expires DESC, slot_id LIMIT ?',
        after ? [now, after.expires, after.expires, after.slotId, pageSize] : [now, pageSize],
      );
      if (!rows.length) return;
      yield rows.map((r) => ({ slotId: r.slot_id, json: r.record, expires: r.expires }));
      const last = rows[rows.length - 1];
      after = { expires: last.expires, slotId: last.slot_id };
      if (rows.length < pageSize) return;
    }
  }

  async save(record: StoredOverlayRecord): Promise<void> {
    await this.db.run(
      'INSERT INTO overlay_records (slot_id, record, expires) VALUES (?, ?, ?) ON CONFLICT (slot_id) DO UPDATE SET record = excluded.record, expires = excluded.expires',
      [record.slotId, record.json, record.expires],
    );
  }

  async remove(slotId: string): Promise<void> {
    await this.db.run('DELETE FROM overlay_records WHERE slot_id = ?', [slotId]);
  }

  async removeExpired(now = Date.now()): Promise<number> {
    return (await this.db.run('DELETE FROM overlay_records WHERE expires <= ?', [now])).changes;
  }
}
