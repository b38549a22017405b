import type { Migration } from './index.js';

/**
 * Instant messages, both directions. `sip_call_id` + `sip_cseq` + `direction` is unique so a
 * retransmitted MESSAGE is stored once even if its server transaction is already gone.
 */
export const m003Messages: Migration = {
  version: 3,
  name: 'messages',
  up: `
    CREATE TABLE messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      peer TEXT NOT NULL,
      direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      reason TEXT,
      sip_call_id TEXT NOT NULL,
      sip_cseq INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX messages_sip_identity ON messages (sip_call_id, sip_cseq, direction);
    CREATE INDEX messages_peer_time ON messages (peer, id);
  `,
};
