// The first-run screen proposes a user name from the display name, in the form the engine
// accepts (native/services/identity/identity-service.ts: a letter or digit, then letters,
// digits, dot, dash or underscore, 32 at most, lower case).
const MAX_LENGTH = 32;

/** "Alice Smith" -> "alice-smith", "Zoë O'Neil" -> "zoe-o-neil"; "" when nothing usable is left. */
export function proposeUserName(displayName: string): string {
  const plain = displayName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // accents come apart from their letters under NFKD
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return plain.slice(0, MAX_LENGTH).replace(/[-._]+$/, '');
}
