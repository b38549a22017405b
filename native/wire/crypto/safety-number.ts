// A safety number two people compare to know that the keys their apps use are each other's, the
// idea of Signal's: each user's part is 30 digits derived from their identity key and AOR by
// iterated SHA-512 (slow enough that finding another key with the same digits is out of reach);
// the two parts are put in a fixed order, so both sides show the same 60 digits.
import { createHash } from 'node:crypto';

const ITERATIONS = 5200;
const VERSION = Buffer.from([0, 1]);
const DIGIT_GROUPS = 6;
const GROUP_BYTES = 5;

/** One user's 30 digits from their raw Ed25519 key (base64url) and AOR. */
export function safetyDigits(publicKey: string, aor: string): string {
  const key = Buffer.from(publicKey, 'base64url');
  let hash = createHash('sha512').update(VERSION).update(key).update(aor.toLowerCase(), 'utf8').digest();
  for (let i = 0; i < ITERATIONS; i++) hash = createHash('sha512').update(hash).update(key).digest();
  let digits = '';
  for (let g = 0; g < DIGIT_GROUPS; g++) {
    // 40 bits read as a number, reduced to five digits.
    const chunk = hash.subarray(g * GROUP_BYTES, (g + 1) * GROUP_BYTES);
    const value = chunk.readUInt32BE(0) * 256 + chunk[4];
    digits += String(value % 100_000).padStart(5, '0');
  }
  return digits;
}

/** The 60-digit number both users see, in groups of five. */
export function safetyNumber(own: { publicKey: string; aor: string }, theirs: { publicKey: string; aor: string }): string {
  const parts = [safetyDigits(own.publicKey, own.aor), safetyDigits(theirs.publicKey, theirs.aor)].sort();
  return (parts[0] + parts[1]).replace(/(\d{5})(?=\d)/g, '$1 ');
}
