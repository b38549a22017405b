import type { Migration } from './index.js';

/**
 * Read receipts and the offline store. The identity gets an X25519 key pair, published in the
 * name claim, that messages kept in the overlay are sealed to (it is made on load for
 * identities older than this migration). An incoming message is unread until `read_at`; an
 * outgoing one may now be 'stored' (kept in the overlay) or 'read'.
 */
export const m007OfflineMessages: Migration = {
  version: 7,
  name: 'offline-messages',
  up: `
    ALTER TABLE identity ADD COLUMN x25519_public BLOB;
    ALTER TABLE identity ADD COLUMN x25519_private BLOB;
    ALTER TABLE messages ADD COLUMN read_at INTEGER;
    CREATE INDEX messages_unread ON messages (peer, direction, read_at);
    CREATE INDEX messages_status ON messages (status, direction);
  `,
};
