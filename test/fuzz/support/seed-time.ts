// Signed seeds (DSRP, relay credentials) carry this time, and targets check freshness against
// it, so that mutations of a validly signed seed reach the code behind the signature check.
export const SEED_NOW = 1_780_000_000_000;
