import type { Migration } from './index.js';

/**
 * Desk phones a user adds (issue 19): each with its own digest user name and the H(A1) values
 * for every algorithm we offer (the password itself is shown once and not kept), and the
 * phones' registrations, so a restart keeps them until they expire.
 */
export const m008Phones: Migration = {
  version: 8,
  name: 'phones',
  up: `
    CREATE TABLE phones (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      username TEXT NOT NULL UNIQUE,
      ha1_md5 TEXT NOT NULL,
      ha1_sha256 TEXT NOT NULL,
      ha1_sha512_256 TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE phone_bindings (
      phone_id TEXT NOT NULL REFERENCES phones (id) ON DELETE CASCADE,
      contact TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      call_id TEXT NOT NULL,
      cseq INTEGER NOT NULL,
      q REAL,
      instance TEXT,
      reg_id INTEGER,
      source_protocol TEXT NOT NULL CHECK (source_protocol IN ('udp', 'tcp')),
      source_address TEXT NOT NULL,
      source_port INTEGER NOT NULL,
      user_agent TEXT,
      PRIMARY KEY (phone_id, contact)
    );
  `,
};
