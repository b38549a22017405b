import type { Migration } from './index.js';

/**
 * Buddies: the relation with each (requested, incoming, accepted, declined, blocked; removed
 * ones are kept, unlisted, until told and to recognise replays), the key pinned on first
 * contact and any different key seen since, a request, answer or notice still to be delivered
 * (`outbox`), and what is kept of their presence across restarts (note, last seen, and the time
 * of the last signed document, below which a document is a replay).
 */
export const m006Buddies: Migration = {
  version: 6,
  name: 'buddies',
  up: `
    CREATE TABLE buddies (
      aor TEXT PRIMARY KEY,
      display_name TEXT,
      state TEXT NOT NULL CHECK (state IN ('requested', 'incoming', 'accepted', 'declined', 'blocked', 'removed')),
      public_key TEXT,
      seen_key TEXT,
      seen_key_at INTEGER,
      request_note TEXT,
      outbox TEXT CHECK (outbox IN ('request', 'accept', 'decline', 'remove')),
      presence_note TEXT,
      last_seen INTEGER,
      presence_at INTEGER,
      last_message_at INTEGER,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
  `,
};
