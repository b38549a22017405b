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

  async records(now = Date.now()): Promise<StoredOverlayRecord[]> {
    const rows = await this.db.all<{ slot_id: string; record: string; expires: number }>('SELECT * FROM overlay_records WHERE expires > ?', [now]);
    return rows.map((r) => ({ slotId: r.slot_id, json: r.record, expires: r.expires }));
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
