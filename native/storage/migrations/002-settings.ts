import type { Migration } from './index.js';

/** Key/value settings; values are JSON. */
export const m002Settings: Migration = {
  version: 2,
  name: 'settings',
  up: `
    CREATE TABLE settings (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    );
  `,
};
