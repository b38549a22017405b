import type { Migration } from './index.js';

/**
 * Safety numbers (issue 14): the buddy key the user compared and marked as verified. A buddy is
 * verified while this is their pinned key; a changed key un-verifies them by itself.
 */
export const m011VerifiedBuddies: Migration = {
  version: 11,
  name: 'verified-buddies',
  up: `
    ALTER TABLE buddies ADD COLUMN verified_key TEXT;
  `,
};
