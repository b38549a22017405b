import type { Migration } from './index.js';

/** The user's identity: one Ed25519 key pair, display name and user name. */
export const m001Identity: Migration = {
  version: 1,
  name: 'identity',
  up: `
    CREATE TABLE identity (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      display_name TEXT NOT NULL,
      user_name TEXT NOT NULL,
      public_key BLOB NOT NULL,
      private_key BLOB NOT NULL,
      created_at INTEGER NOT NULL
    );
  `,
};
