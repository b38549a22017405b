import type { Migration } from './index.js';

/**
 * Server farms (issue 19): a phone account may belong to a farm user rather than this node's
 * own user (`farm_user`), and is then copied among the farm's servers, the newest `updated_at`
 * winning; an account removed anywhere in the farm is remembered for a while (`farm_removed`)
 * so that a server that has not heard yet does not bring it back.
 */
export const m009Farm: Migration = {
  version: 9,
  name: 'farm',
  up: `
    ALTER TABLE phones ADD COLUMN farm_user TEXT;
    ALTER TABLE phones ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE farm_removed (
      id TEXT PRIMARY KEY,
      removed_at INTEGER NOT NULL
    );
  `,
};
