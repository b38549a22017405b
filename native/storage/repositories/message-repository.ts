import type { Database } from '../db.js';

export type StoredMessageStatus = 'sending' | 'sent' | 'stored' | 'delivered' | 'read' | 'failed' | 'received';

export interface StoredMessage {
  id: number;
  peer: string;
  direction: 'in' | 'out';
  text: string;
  status: StoredMessageStatus;
  reason?: string;
  /** Sealed and signed end to end (between Peerdial users); false for a phone or plain SIP address. */
  encrypted: boolean;
  /** A voice message: its length, and (incoming) whether it was played to the end. */
  voice?: { durationMs: number; listened: boolean };
  /** From a stranger whose conversation waits in Requests (set on the message as it arrives). */
  request?: true;
  createdAt: number;
  updatedAt: number;
}

/** A voice message's audio as kept: the codec and the packed Opus packets. */
export interface VoiceAudio {
  codec: string;
  audio: Buffer;
}

interface Row {
  id: number;
  peer: string;
  direction: 'in' | 'out';
  body: string;
  status: StoredMessageStatus;
  reason: string | null;
  created_at: number;
  updated_at: number;
  sip_call_id: string;
  read_at: number | null;
  encrypted: number;
  voice_ms: number | null;
  listened_at: number | null;
}

const toMessage = (r: Row): StoredMessage => ({
  id: r.id,
  peer: r.peer,
  direction: r.direction,
  text: r.body,
  status: r.status,
  ...(r.reason ? { reason: r.reason } : {}),
  encrypted: r.encrypted === 1,
  ...(r.voice_ms !== null && r.voice_ms !== undefined ? { voice: { durationMs: r.voice_ms, listened: r.listened_at !== null } } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NewMessage {
  peer: string;
  direction: 'in' | 'out';
  text: string;
  status: StoredMessageStatus;
  sipCallId: string;
  sipCseq: number;
  at: number;
  /** Sealed end to end (default false). */
  encrypted?: boolean;
  /** A voice message: stored with its audio in one transaction. */
  voice?: VoiceAudio & { durationMs: number };
}

/** How much a stranger's messages may take before the user answers their request. */
export interface RequestLimits {
  /** Messages kept per pending request; later ones are counted and dropped. */
  perRequest: number;
  /** Requests pending at once; a new stranger past it is counted and dropped. */
  requests: number;
}

/** Where a stranger's message went: its conversation (one exists), its request, or nowhere. */
export type StrangerOutcome =
  | { kind: 'conversation' | 'request'; message: StoredMessage }
  | { kind: 'duplicate' }
  | { kind: 'over-limit' };

export interface MessageRequestRow {
  peer: string;
  createdAt: number;
  updatedAt: number;
  dropped: number;
}

export class MessageRepository {
  constructor(private readonly db: Database) {}

  /** Stores a message; returns undefined when the same SIP message was stored already. */
  async add(m: NewMessage): Promise<StoredMessage | undefined> {
    const id = await this.db.transaction(() => this.insert(m));
    return id === undefined ? undefined : this.byId(id);
  }

  private async insert(m: NewMessage): Promise<number | undefined> {
    const result = await this.db.run(
      `INSERT OR IGNORE INTO messages (peer, direction, body, status, sip_call_id, sip_cseq, created_at, updated_at, encrypted, voice_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [m.peer, m.direction, m.text, m.status, m.sipCallId, m.sipCseq, m.at, m.at, m.encrypted ? 1 : 0, m.voice?.durationMs ?? null],
    );
    if (result.changes !== 1) return undefined;
    if (m.voice) await this.db.run('INSERT INTO voice_audio (message_id, codec, audio) VALUES (?, ?, ?)', [result.lastID, m.voice.codec, m.voice.audio]);
    return result.lastID;
  }

  /**
   * An incoming message from a stranger (not a buddy): into the conversation when there is one
   * and no request is pending (the user wrote to them first, or accepted them), otherwise into
   * their request, opened here if new. One transaction: a request is never lost, never doubled.
   */
  async addFromStranger(m: NewMessage, limits: RequestLimits): Promise<StrangerOutcome> {
    const outcome = await this.db.transaction(async (): Promise<{ kind: StrangerOutcome['kind']; id?: number }> => {
      const pending = await this.db.get<{ peer: string }>('SELECT peer FROM message_requests WHERE peer = ?', [m.peer]);
      if (!pending) {
        const known = await this.db.get<{ id: number }>('SELECT id FROM messages WHERE peer = ? LIMIT 1', [m.peer]);
        if (known) {
          const id = await this.insert(m);
          return id === undefined ? { kind: 'duplicate' } : { kind: 'conversation', id };
        }
        const open = await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM message_requests');
        if ((open?.n ?? 0) >= limits.requests) return { kind: 'over-limit' };
        const id = await this.insert(m);
        if (id === undefined) return { kind: 'duplicate' };
        await this.db.run('INSERT INTO message_requests (peer, created_at, updated_at) VALUES (?, ?, ?)', [m.peer, m.at, m.at]);
        return { kind: 'request', id };
      }
      const held = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE peer = ?`, [m.peer]);
      if ((held?.n ?? 0) >= limits.perRequest) {
        await this.db.run('UPDATE message_requests SET dropped = dropped + 1 WHERE peer = ?', [m.peer]);
        return { kind: 'over-limit' };
      }
      const id = await this.insert(m);
      if (id === undefined) return { kind: 'duplicate' };
      await this.db.run('UPDATE message_requests SET updated_at = ? WHERE peer = ?', [m.at, m.peer]);
      return { kind: 'request', id };
    });
    if (outcome.id === undefined) return { kind: outcome.kind as 'duplicate' | 'over-limit' };
    const message = (await this.byId(outcome.id))!;
    return { kind: outcome.kind as 'conversation' | 'request', message: outcome.kind === 'request' ? { ...message, request: true } : message };
  }

  /** Whether this incoming SIP message (by Call-ID and CSeq) is stored already. */
  async hasIncoming(sipCallId: string, sipCseq: number): Promise<boolean> {
    return (await this.db.get<{ id: number }>(`SELECT id FROM messages WHERE sip_call_id = ? AND sip_cseq = ? AND direction = 'in'`, [sipCallId, sipCseq])) !== undefined;
  }

  async isRequest(peer: string): Promise<boolean> {
    return (await this.db.get<{ peer: string }>('SELECT peer FROM message_requests WHERE peer = ?', [peer])) !== undefined;
  }

  /** Pending requests, newest activity first, each with its newest message and how many it holds. */
  async requests(): Promise<Array<MessageRequestRow & { lastMessage: StoredMessage; messageCount: number }>> {
    const rows = await this.db.all<Row & { message_count: number; r_created: number; r_updated: number; r_dropped: number }>(
      `SELECT m.*, c.message_count, r.created_at AS r_created, r.updated_at AS r_updated, r.dropped AS r_dropped
       FROM message_requests r
       JOIN (SELECT peer, MAX(id) AS last_id, COUNT(*) AS message_count FROM messages GROUP BY peer) c ON c.peer = r.peer
       JOIN messages m ON m.id = c.last_id
       ORDER BY r.updated_at DESC, m.id DESC`,
    );
    return rows.map((r) => ({ peer: r.peer, createdAt: r.r_created, updatedAt: r.r_updated, dropped: r.r_dropped, lastMessage: { ...toMessage(r), request: true }, messageCount: r.message_count }));
  }

  /** The user accepted the request: its messages become an ordinary conversation. False when none was pending. */
  async acceptRequest(peer: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM message_requests WHERE peer = ?', [peer])).changes === 1;
  }

  /** The user deleted (or blocked) the request: it and its messages go, in one transaction. False when none was pending. */
  async deleteRequest(peer: string): Promise<boolean> {
    return this.db.transaction(async () => {
      const removed = (await this.db.run('DELETE FROM message_requests WHERE peer = ?', [peer])).changes === 1;
      if (removed) await this.db.run('DELETE FROM messages WHERE peer = ?', [peer]);
      return removed;
    });
  }

  /** A voice message's audio, or undefined for a message that has none. */
  async voiceAudio(id: number): Promise<VoiceAudio | undefined> {
    return this.db.get<VoiceAudio>('SELECT codec, audio FROM voice_audio WHERE message_id = ?', [id]);
  }

  /** Marks an incoming voice message listened (and read); returns its Call-ID the first time (for the read receipt). */
  async markListened(id: number, at: number): Promise<string | undefined> {
    return this.db.transaction(async () => {
      const row = await this.db.get<{ sip_call_id: string }>(`SELECT sip_call_id FROM messages WHERE id = ? AND direction = 'in' AND voice_ms IS NOT NULL AND listened_at IS NULL`, [id]);
      if (!row) return undefined;
      await this.db.run('UPDATE messages SET listened_at = ?, read_at = COALESCE(read_at, ?), updated_at = ? WHERE id = ?', [at, at, at, id]);
      return row.sip_call_id;
    });
  }

  /** Incoming voice messages not yet listened to, and all incoming ones (RFC 3842 Voice-Message counts). */
  async voiceCounts(): Promise<{ unheard: number; heard: number }> {
    const row = await this.db.get<{ unheard: number; heard: number }>(
      `SELECT COALESCE(SUM(listened_at IS NULL), 0) AS unheard, COALESCE(SUM(listened_at IS NOT NULL), 0) AS heard FROM messages WHERE direction = 'in' AND voice_ms IS NOT NULL`,
    );
    return { unheard: row?.unheard ?? 0, heard: row?.heard ?? 0 };
  }

  async setStatus(id: number, status: StoredMessageStatus, reason: string | undefined, at: number): Promise<StoredMessage | undefined> {
    await this.db.run('UPDATE messages SET status = ?, reason = ?, updated_at = ? WHERE id = ?', [status, reason ?? null, at, id]);
    return this.byId(id);
  }

  /** The outcome of sending: applied only while the message is still 'sending' (a receipt may have come first). */
  async settle(id: number, status: StoredMessageStatus, reason: string | undefined, at: number): Promise<StoredMessage | undefined> {
    const result = await this.db.run(`UPDATE messages SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status = 'sending'`, [status, reason ?? null, at, id]);
    return result.changes ? this.byId(id) : undefined;
  }

  /** The message left sealed end to end (whatever its status became meanwhile). */
  async markEncrypted(id: number): Promise<void> {
    await this.db.run('UPDATE messages SET encrypted = 1 WHERE id = ?', [id]);
  }

  async byId(id: number): Promise<StoredMessage | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM messages WHERE id = ?', [id]);
    return row && toMessage(row);
  }

  /** The newest `limit` messages with `peer`, oldest first, optionally before a message id. */
  async history(peer: string, limit: number, beforeId?: number): Promise<StoredMessage[]> {
    const rows = await this.db.all<Row>(
      `SELECT * FROM messages WHERE peer = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      [peer, beforeId ?? Number.MAX_SAFE_INTEGER, limit],
    );
    return rows.reverse().map(toMessage);
  }

  /** Conversations, newest first; peers whose request is pending are in requests() instead. */
  async conversations(): Promise<Array<{ peer: string; lastMessage: StoredMessage; messageCount: number }>> {
    const rows = await this.db.all<Row & { message_count: number }>(
      `SELECT m.*, c.message_count FROM messages m
       JOIN (SELECT peer, MAX(id) AS last_id, COUNT(*) AS message_count FROM messages GROUP BY peer) c ON m.id = c.last_id
       WHERE m.peer NOT IN (SELECT peer FROM message_requests)
       ORDER BY m.id DESC`,
    );
    return rows.map((r) => ({ peer: r.peer, lastMessage: toMessage(r), messageCount: r.message_count }));
  }

  /** Marks `peer`'s unread messages read; returns the Call-IDs of the texts among them (for the read receipt). */
  async markRead(peer: string, at: number): Promise<string[]> {
    return this.db.transaction(async () => {
      const rows = await this.db.all<{ sip_call_id: string; voice_ms: number | null }>(`SELECT sip_call_id, voice_ms FROM messages WHERE peer = ? AND direction = 'in' AND read_at IS NULL ORDER BY id`, [peer]);
      if (rows.length) await this.db.run(`UPDATE messages SET read_at = ? WHERE peer = ? AND direction = 'in' AND read_at IS NULL`, [at, peer]);
      // A voice message's read receipt says it was heard (markListened), not that the conversation was opened.
      return rows.filter((r) => r.voice_ms === null).map((r) => r.sip_call_id);
    });
  }

  async unreadCount(peer: string): Promise<number> {
    const row = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE peer = ? AND direction = 'in' AND read_at IS NULL`, [peer]);
    return row?.n ?? 0;
  }

  /**
   * Moves our messages to `peer` with these Call-IDs to `status`, from any of `from` (a receipt
   * never moves a message back); returns the messages that changed.
   */
  async advance(peer: string, callIds: string[], status: StoredMessageStatus, from: StoredMessageStatus[], at: number): Promise<StoredMessage[]> {
    if (!callIds.length || !from.length) return [];
    const ids = placeholders(callIds.length);
    const states = placeholders(from.length);
    return this.db.transaction(async () => {
      const rows = await this.db.all<{ id: number }>(
        `SELECT id FROM messages WHERE peer = ? AND direction = 'out' AND sip_call_id IN (${ids}) AND status IN (${states}) ORDER BY id`,
        [peer, ...callIds, ...from],
      );
      if (!rows.length) return [];
      await this.db.run(`UPDATE messages SET status = ?, reason = NULL, updated_at = ? WHERE id IN (${placeholders(rows.length)})`, [status, at, ...rows.map((r) => r.id)]);
      const changed = await Promise.all(rows.map((r) => this.byId(r.id)));
      return changed.filter((m): m is StoredMessage => !!m);
    });
  }

  /** Our messages kept in the overlay for a recipient who was offline, oldest first, with their Call-IDs. */
  async storedOutgoing(): Promise<Array<StoredMessage & { callId: string }>> {
    const rows = await this.db.all<Row>(`SELECT * FROM messages WHERE direction = 'out' AND status = 'stored' ORDER BY id`);
    return rows.map((r) => ({ ...toMessage(r), callId: r.sip_call_id }));
  }

  /** Messages still marked sending from a run that ended before their outcome was known (202 'sent' is an outcome). */
  async markUnfinishedFailed(reason: string, at: number): Promise<number> {
    const result = await this.db.run(
      `UPDATE messages SET status = 'failed', reason = ?, updated_at = ? WHERE direction = 'out' AND status = 'sending'`,
      [reason, at],
    );
    return result.changes;
  }
}

function placeholders(n: number): string {
  return new Array(n).fill('?').join(', ');
}
