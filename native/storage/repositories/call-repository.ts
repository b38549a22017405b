import type { Database } from '../db.js';

export type StoredCallOutcome = 'answered' | 'missed' | 'declined' | 'busy' | 'failed' | 'cancelled';

export interface StoredCall {
  id: number;
  direction: 'in' | 'out';
  peer: string;
  peerName?: string;
  outcome: StoredCallOutcome;
  startedAt: number;
  answeredAt?: number;
  endedAt: number;
  endMessage?: string;
}

interface Row {
  id: number;
  direction: 'in' | 'out';
  peer: string;
  peer_name: string | null;
  outcome: StoredCallOutcome | null;
  end_message: string | null;
  started_at: number;
  answered_at: number | null;
  ended_at: number | null;
}

const toCall = (r: Row): StoredCall => ({
  id: r.id,
  direction: r.direction,
  peer: r.peer,
  ...(r.peer_name ? { peerName: r.peer_name } : {}),
  outcome: r.outcome ?? 'failed',
  startedAt: r.started_at,
  ...(r.answered_at ? { answeredAt: r.answered_at } : {}),
  endedAt: r.ended_at ?? r.started_at,
  ...(r.end_message ? { endMessage: r.end_message } : {}),
});

/** Calls kept in the history: an INVITE flood once left 500 missed calls a time, never pruned. */
export const CALL_HISTORY_LIMIT = 1_000;

export class CallRepository {
  constructor(
    private readonly db: Database,
    private readonly keep = CALL_HISTORY_LIMIT,
  ) {}

  /**
   * Writes the row of a call that just started and returns its id; in the same transaction,
   * drops the oldest finished calls beyond the newest `keep` (calls in progress stay).
   */
  async start(c: { direction: 'in' | 'out'; peer: string; peerName?: string; sipCallId: string; at: number }): Promise<number> {
    return this.db.transaction(async (db) => {
      const r = await db.run(`INSERT INTO calls (direction, peer, peer_name, sip_call_id, started_at) VALUES (?, ?, ?, ?, ?)`, [
        c.direction,
        c.peer,
        c.peerName ?? null,
        c.sipCallId,
        c.at,
      ]);
      await db.run(
        `DELETE FROM calls WHERE outcome IS NOT NULL AND id NOT IN (SELECT id FROM calls ORDER BY started_at DESC, id DESC LIMIT ?)`,
        [this.keep],
      );
      return r.lastID;
    });
  }

  async count(): Promise<number> {
    return (await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM calls`))?.n ?? 0;
  }

  async answered(id: number, at: number): Promise<void> {
    await this.db.run(`UPDATE calls SET answered_at = ? WHERE id = ?`, [at, id]);
  }

  async finish(id: number, outcome: StoredCallOutcome, at: number, endMessage?: string): Promise<StoredCall | undefined> {
    await this.db.run(`UPDATE calls SET outcome = ?, ended_at = ?, end_message = ? WHERE id = ?`, [outcome, at, endMessage ?? null, id]);
    const row = await this.db.get<Row>(`SELECT * FROM calls WHERE id = ?`, [id]);
    return row && toCall(row);
  }

  /** Calls left without an outcome by a run that stopped mid-call: ended when that run stopped. */
  async closeUnfinished(message: string): Promise<void> {
    await this.db.run(
      `UPDATE calls SET outcome = CASE WHEN answered_at IS NULL THEN (CASE direction WHEN 'in' THEN 'missed' ELSE 'failed' END) ELSE 'answered' END,
        ended_at = COALESCE(answered_at, started_at), end_message = ? WHERE outcome IS NULL`,
      [message],
    );
  }

  /** Newest first. */
  async recent(limit: number): Promise<StoredCall[]> {
    const rows = await this.db.all<Row>(`SELECT * FROM calls WHERE outcome IS NOT NULL ORDER BY started_at DESC, id DESC LIMIT ?`, [limit]);
    return rows.map(toCall);
  }
}
