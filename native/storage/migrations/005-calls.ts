import type { Migration } from './index.js';

/**
 * The call history. A row is written when a call starts and completed when it ends, so a
 * call in progress when Peerdial stopped still shows (outcome NULL until then).
 */
export const m005Calls: Migration = {
  version: 5,
  name: 'calls',
  up: `
    CREATE TABLE calls (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
      peer TEXT NOT NULL,
      peer_name TEXT,
      sip_call_id TEXT NOT NULL,
      outcome TEXT CHECK (outcome IN ('answered', 'missed', 'declined', 'busy', 'failed', 'cancelled')),
      end_message TEXT,
      started_at INTEGER NOT NULL,
      answered_at INTEGER,
      ended_at INTEGER
    );
    CREATE INDEX calls_time ON calls (started_at);
  `,
};
