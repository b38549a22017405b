import type { Migration } from './index.js';

/**
 * Message requests (issue 21): a stranger's first message opens a request, not a conversation.
 * The messages themselves stay in `messages` (stored before the 200, like any other); a row
 * here says their peer waits in Requests until the user accepts (row deleted), deletes (row and
 * messages deleted) or blocks them. `dropped`: messages past the per-request cap, counted.
 */
export const m015MessageRequests: Migration = {
  version: 15,
  name: 'message-requests',
  up: `
    CREATE TABLE message_requests (
      peer TEXT PRIMARY KEY,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      dropped INTEGER NOT NULL DEFAULT 0
    );
  `,
};
