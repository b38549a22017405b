import type { Migration } from './index.js';

/**
 * Messages end to end (issue 14): whether a message travelled sealed and signed between
 * Peerdial users (1), or in the clear from or to a phone or a plain SIP address (0). Messages
 * from before this migration were all sent in the clear.
 */
export const m010SealedMessages: Migration = {
  version: 10,
  name: 'sealed-messages',
  up: `
    ALTER TABLE messages ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
  `,
};
