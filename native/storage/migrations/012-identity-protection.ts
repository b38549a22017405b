import type { Migration } from './index.js';

/**
 * The identity's private keys encrypted at rest (issue 14): `key_protection` says how the
 * private_key and x25519_private columns are kept ('none': PKCS#8 as before; 'passphrase' or
 * 'os-keychain': wrapped under a key derived by scrypt with the parameters in `kdf`, from the
 * user's passphrase or from a secret the desktop app keeps in the system keychain). An existing
 * identity stays as it was until the node is started with a passphrase, which wraps it in place.
 */
export const m012IdentityProtection: Migration = {
  version: 12,
  name: 'identity-protection',
  up: `
    ALTER TABLE identity ADD COLUMN key_protection TEXT NOT NULL DEFAULT 'none' CHECK (key_protection IN ('none', 'passphrase', 'os-keychain'));
    ALTER TABLE identity ADD COLUMN kdf TEXT;
  `,
};
