import type { Migration } from './index.js';

/**
 * Repeated missed calls from one caller within a short time are one history row with a count
 * (issue 21: an INVITE flood left up to 500 rows). `repeat`: how many calls the row stands for.
 */
export const m016MissedCallCount: Migration = {
  version: 16,
  name: 'missed-call-count',
  up: `ALTER TABLE calls ADD COLUMN repeat INTEGER NOT NULL DEFAULT 1;`,
};
