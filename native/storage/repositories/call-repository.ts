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
  /** Missed calls this row stands for, when more than one (repeated calls folded into the newest). */
  count?: number;
  /** The row this one folded in and replaced (a client drops it from its list). */
  replaces?: number;
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
  repeat: number;
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
  ...(r.repeat > 1 ? { count: r.repeat } : {}),
});

/** Calls kept in the history: an INVITE flood once left 500 missed calls a time, never pruned. */
export const CALL_HISTORY_LIMIT = 1_000;
/** A missed call this soon after the same caller's last missed call is folded into it. */
export const MISSED_CALL_FOLD_MS = 10 * 60_000;

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

  /**
   * Writes a call's outcome. A missed incoming call whose caller's previous call (their newest
   * finished one) was also missed, within MISSED_CALL_FOLD_MS, takes that row's count and the row
   * goes: a flood from one caller is one row, "missed ×N", at the top of the history.
   */
  async finish(id: number, outcome: StoredCallOutcome, at: number, endMessage?: string): Promise<StoredCall | undefined> {
    return this.db.transaction(async (db) => {
      await db.run(`UPDATE calls SET outcome = ?, ended_at = ?, end_message = ? WHERE id = ?`, [outcome, at, endMessage ?? null, id]);
      const row = await db.get<Row>(`SELECT * FROM calls WHERE id = ?`, [id]);
      if (!row || outcome !== 'missed' || row.direction !== 'in') return row && toCall(row);
      const previous = await db.get<Row>(`SELECT * FROM calls WHERE peer = ? AND outcome IS NOT NULL AND id <> ? ORDER BY started_at DESC, id DESC LIMIT 1`, [row.peer, id]);
      if (!previous || previous.outcome !== 'missed' || previous.direction !== 'in' || row.started_at - (previous.ended_at ?? previous.started_at) > MISSED_CALL_FOLD_MS) return toCall(row);
      await db.run(`UPDATE calls SET repeat = ? WHERE id = ?`, [previous.repeat + row.repeat, id]);
      await db.run(`DELETE FROM calls WHERE id = ?`, [previous.id]);
      return { ...toCall({ ...row, repeat: previous.repeat + row.repeat }), replaces: previous.id };
    });
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
