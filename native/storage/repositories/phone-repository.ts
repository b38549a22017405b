import type { Database } from '../db.js';

/** A desk phone the user added: its digest user name and H(A1) per algorithm (the password is not kept). */
export interface StoredPhone {
  id: string;
  name: string;
  username: string;
  ha1: { md5: string; sha256: string; sha512_256: string };
  createdAt: number;
  /** The farm user it belongs to; absent for a phone of this node's own user. */
  farmUser?: string;
  /** When a farm account last changed (the newest copy wins among the farm's servers). */
  updatedAt?: number;
}

/** One registration of a phone (RFC 3261 10.3); the same shape as the registrar's Binding. */
export interface StoredPhoneBinding {
  contact: string;
  expiresAt: number;
  callId: string;
  cseq: number;
  q?: number;
  instance?: string;
  regId?: number;
  source: { protocol: 'udp' | 'tcp' | 'tls'; address: string; port: number };
  userAgent?: string;
}

interface PhoneRow {
  id: string;
  name: string;
  username: string;
  ha1_md5: string;
  ha1_sha256: string;
  ha1_sha512_256: string;
  created_at: number;
  farm_user: string | null;
  updated_at: number;
}

interface BindingRow {
  phone_id: string;
  contact: string;
  expires_at: number;
  call_id: string;
  cseq: number;
  q: number | null;
  instance: string | null;
  reg_id: number | null;
  source_protocol: 'udp' | 'tcp' | 'tls';
  source_address: string;
  source_port: number;
  user_agent: string | null;
}

const phoneOf = (r: PhoneRow): StoredPhone => ({
  id: r.id,
  name: r.name,
  username: r.username,
  ha1: { md5: r.ha1_md5, sha256: r.ha1_sha256, sha512_256: r.ha1_sha512_256 },
  createdAt: r.created_at,
  ...(r.farm_user !== null ? { farmUser: r.farm_user, updatedAt: r.updated_at } : {}),
});

const bindingOf = (r: BindingRow): StoredPhoneBinding => ({
  contact: r.contact,
  expiresAt: r.expires_at,
  callId: r.call_id,
  cseq: r.cseq,
  ...(r.q !== null ? { q: r.q } : {}),
  ...(r.instance !== null ? { instance: r.instance } : {}),
  ...(r.reg_id !== null ? { regId: r.reg_id } : {}),
  source: { protocol: r.source_protocol, address: r.source_address, port: r.source_port },
  ...(r.user_agent !== null ? { userAgent: r.user_agent } : {}),
});

export class PhoneRepository {
  constructor(private readonly db: Database) {}

  async add(phone: StoredPhone): Promise<void> {
    await this.db.run('INSERT INTO phones (id, name, username, ha1_md5, ha1_sha256, ha1_sha512_256, created_at, farm_user, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      phone.id,
      phone.name,
      phone.username,
      phone.ha1.md5,
      phone.ha1.sha256,
      phone.ha1.sha512_256,
      phone.createdAt,
      phone.farmUser ?? null,
      phone.updatedAt ?? phone.createdAt,
    ]);
  }

  /** A farm account as another server of the farm sent it: added, or its fields replaced (its registrations stay). */
  async putFarmAccount(phone: StoredPhone & { farmUser: string }): Promise<void> {
    await this.db.run(
      `INSERT INTO phones (id, name, username, ha1_md5, ha1_sha256, ha1_sha512_256, created_at, farm_user, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, username = excluded.username, ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256,
         ha1_sha512_256 = excluded.ha1_sha512_256, farm_user = excluded.farm_user, updated_at = excluded.updated_at`,
      [phone.id, phone.name, phone.username, phone.ha1.md5, phone.ha1.sha256, phone.ha1.sha512_256, phone.createdAt, phone.farmUser, phone.updatedAt ?? phone.createdAt],
    );
  }

  /** Farm accounts removed (by any server of the farm) and when. */
  async farmRemovals(): Promise<Array<{ id: string; removedAt: number }>> {
    return (await this.db.all<{ id: string; removed_at: number }>('SELECT * FROM farm_removed ORDER BY removed_at')).map((r) => ({ id: r.id, removedAt: r.removed_at }));
  }

  /** Removes a farm account and remembers that it was removed, both at once. */
  async removeFarmAccount(id: string, removedAt: number): Promise<void> {
    await this.db.transaction(async (db) => {
      await db.run('DELETE FROM phones WHERE id = ?', [id]);
      await db.run('INSERT INTO farm_removed (id, removed_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET removed_at = MAX(removed_at, excluded.removed_at)', [id, removedAt]);
    });
  }

  /** Forgets removals older than `before` (a server that has not heard by then hears it from the account's absence). */
  async pruneFarmRemovals(before: number): Promise<void> {
    await this.db.run('DELETE FROM farm_removed WHERE removed_at < ?', [before]);
  }

  async list(): Promise<StoredPhone[]> {
    return (await this.db.all<PhoneRow>('SELECT * FROM phones ORDER BY created_at, id')).map(phoneOf);
  }

  async byUsername(username: string): Promise<StoredPhone | undefined> {
    const row = await this.db.get<PhoneRow>('SELECT * FROM phones WHERE username = ?', [username]);
    return row && phoneOf(row);
  }

  /** Removes the phone and its registrations; false when there was none. */
  async remove(id: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM phones WHERE id = ?', [id])).changes > 0;
  }

  /** The phone's registrations that have not expired. */
  async bindings(phoneId: string, now: number): Promise<StoredPhoneBinding[]> {
    return (await this.db.all<BindingRow>('SELECT * FROM phone_bindings WHERE phone_id = ? AND expires_at > ? ORDER BY contact', [phoneId, now])).map(bindingOf);
  }

  /** Every phone's live registrations, with the phone they belong to. */
  async allBindings(now: number): Promise<Array<{ phoneId: string; binding: StoredPhoneBinding }>> {
    const rows = await this.db.all<BindingRow>('SELECT * FROM phone_bindings WHERE expires_at > ? ORDER BY phone_id, contact', [now]);
    return rows.map((r) => ({ phoneId: r.phone_id, binding: bindingOf(r) }));
  }

  /** The phone's registrations after a REGISTER, all at once. */
  async replaceBindings(phoneId: string, bindings: readonly StoredPhoneBinding[]): Promise<void> {
    await this.db.transaction(async (db) => {
      await db.run('DELETE FROM phone_bindings WHERE phone_id = ?', [phoneId]);
      for (const b of bindings) {
        await db.run(
          'INSERT INTO phone_bindings (phone_id, contact, expires_at, call_id, cseq, q, instance, reg_id, source_protocol, source_address, source_port, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [phoneId, b.contact, b.expiresAt, b.callId, b.cseq, b.q ?? null, b.instance ?? null, b.regId ?? null, b.source.protocol, b.source.address, b.source.port, b.userAgent ?? null],
        );
      }
    });
  }

  /** Forgets registrations that expired (they are never listed, this only frees the rows). */
  async pruneExpired(now: number): Promise<number> {
    return (await this.db.run('DELETE FROM phone_bindings WHERE expires_at <= ?', [now])).changes;
  }
}
