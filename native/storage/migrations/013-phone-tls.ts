import type { Migration } from './index.js';

/**
 * Phones may register over TLS (issue 14): a binding's source protocol may be 'tls'. SQLite
 * cannot change a CHECK in place, so the table is made anew and the bindings copied over.
 */
export const m013PhoneTls: Migration = {
  version: 13,
  name: 'phone-tls',
  up: `
    CREATE TABLE phone_bindings_new (
      phone_id TEXT NOT NULL REFERENCES phones (id) ON DELETE CASCADE,
      contact TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      call_id TEXT NOT NULL,
      cseq INTEGER NOT NULL,
      q REAL,
      instance TEXT,
      reg_id INTEGER,
      source_protocol TEXT NOT NULL CHECK (source_protocol IN ('udp', 'tcp', 'tls')),
      source_address TEXT NOT NULL,
      source_port INTEGER NOT NULL,
      user_agent TEXT,
      PRIMARY KEY (phone_id, contact)
    );
    INSERT INTO phone_bindings_new SELECT phone_id, contact, expires_at, call_id, cseq, q, instance, reg_id, source_protocol, source_address, source_port, user_agent FROM phone_bindings;
    DROP TABLE phone_bindings;
    ALTER TABLE phone_bindings_new RENAME TO phone_bindings;
  `,
};
