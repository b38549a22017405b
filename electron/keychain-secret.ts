// The secret that encrypts the identity's private keys on disk in the desktop app, kept by the
// system keychain through Electron's safeStorage (Keychain on macOS, DPAPI on Windows, the
// Secret Service or KWallet on Linux): a random 32 bytes, stored in userData only as
// safeStorage's ciphertext. Without a usable keychain there is no secret, and the keys stay as
// the headless node keeps them without --key-passphrase-file.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SafeStorage } from 'electron';

const FILE = 'identity-key-secret.bin';

export function keychainSecret(safeStorage: SafeStorage, userData: string): string | undefined {
  if (!safeStorage.isEncryptionAvailable()) return undefined;
  // Linux without a keyring falls back to a fixed key ("basic_text"): no protection worth the name.
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') return undefined;
  const file = path.join(userData, FILE);
  if (existsSync(file)) return safeStorage.decryptString(readFileSync(file));
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, safeStorage.encryptString(secret), { mode: 0o600 });
  return secret;
}

/** The variable the engine's utilityProcess reads the secret from (it deletes it at once). */
export const KEYCHAIN_SECRET_ENV = 'PEERDIAL_KEYCHAIN_SECRET';
