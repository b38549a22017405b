import type { Database, SqlValue } from '../db.js';

/** `removed`: no longer a buddy (kept until they are told, and to recognise replays); never listed. */
export type StoredBuddyState = 'requested' | 'incoming' | 'accepted' | 'declined' | 'blocked' | 'removed';
export type BuddyNotice = 'request' | 'accept' | 'decline' | 'remove';

export interface StoredBuddy {
  aor: string;
  displayName?: string;
  state: StoredBuddyState;
  /** The key pinned on first contact (raw Ed25519, base64url). */
  publicKey?: string;
  /** A different key seen since, not trusted yet. */
  seenKey?: string;
  seenKeyAt?: number;
  requestNote?: string;
  /** Our request, answer or notice not yet delivered to them. */
  outbox?: BuddyNotice;
  presenceNote?: string;
  lastSeen?: number;
  /** The signed time of the last presence document taken from them. */
  presenceAt?: number;
  /** The signed time of the last buddy message taken from them. */
  lastMessageAt?: number;
  /** The key the user compared by safety number and marked as verified. */
  verifiedKey?: string;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  aor: string;
  display_name: string | null;
  state: StoredBuddyState;
  public_key: string | null;
  seen_key: string | null;
  seen_key_at: number | null;
  request_note: string | null;
  outbox: BuddyNotice | null;
  presence_note: string | null;
  last_seen: number | null;
  presence_at: number | null;
  last_message_at: number | null;
  verified_key: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS: Array<[keyof StoredBuddy, keyof Row]> = [
  ['displayName', 'display_name'],
  ['state', 'state'],
  ['publicKey', 'public_key'],
  ['seenKey', 'seen_key'],
  ['seenKeyAt', 'seen_key_at'],
  ['requestNote', 'request_note'],
  ['outbox', 'outbox'],
  ['presenceNote', 'presence_note'],
  ['lastSeen', 'last_seen'],
  ['presenceAt', 'presence_at'],
  ['lastMessageAt', 'last_message_at'],
  ['verifiedKey', 'verified_key'],
  ['createdAt', 'created_at'],
  ['updatedAt', 'updated_at'],
];

function toBuddy(r: Row): StoredBuddy {
  const b: Record<string, unknown> = { aor: r.aor };
  for (const [field, column] of COLUMNS) if (r[column] !== null) b[field] = r[column];
  return b as unknown as StoredBuddy;
}

/** One row per buddy, keyed by AOR (sip:bob@OVERLAY, lower case). */
export class BuddyRepository {
  constructor(private readonly db: Database) {}

  async get(aor: string): Promise<StoredBuddy | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM buddies WHERE aor = ?', [aor]);
    return row && toBuddy(row);
  }

  async list(): Promise<StoredBuddy[]> {
    return (await this.db.all<Row>('SELECT * FROM buddies ORDER BY aor')).map(toBuddy);
  }

  /** Writes the whole buddy (insert or replace every column). */
  async save(buddy: StoredBuddy): Promise<void> {
    const values: SqlValue[] = [buddy.aor, ...COLUMNS.map(([field]) => (buddy[field] ?? null) as SqlValue)];
    await this.db.run(
      `INSERT INTO buddies (aor, ${COLUMNS.map(([, c]) => c).join(', ')}) VALUES (${values.map(() => '?').join(', ')})
       ON CONFLICT (aor) DO UPDATE SET ${COLUMNS.map(([, c]) => `${c} = excluded.${c}`).join(', ')}`,
      values,
    );
  }

  async remove(aor: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM buddies WHERE aor = ?', [aor])).changes > 0;
  }
}
