import type { Migration } from './index.js';

/**
 * The overlay: this device's node key (its ring ID is the SHA-1 of the public key; it is not
 * the user's identity key) and the records this node stores for the ring, so they survive a restart.
 */
export const m004Overlay: Migration = {
  version: 4,
  name: 'overlay',
  up: `
    CREATE TABLE node_key (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      public_key BLOB NOT NULL,
      private_key BLOB NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE overlay_records (
      slot_id TEXT PRIMARY KEY,
      record TEXT NOT NULL,
      expires INTEGER NOT NULL
    );
    CREATE INDEX overlay_records_expires ON overlay_records (expires);
  `,
};
