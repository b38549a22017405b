import type { Database } from '../db.js';

export interface StoredIdentity {
  displayName: string;
  userName: string;
  /** DER (SPKI) of the Ed25519 public key. */
  publicKey: Buffer;
  /** DER (PKCS#8) of the Ed25519 private key. */
  privateKey: Buffer;
  createdAt: number;
  /** X25519 key agreement pair that offline messages are sealed to: raw public key, PKCS#8 DER private key. */
  x25519?: { publicKey: Buffer; privateKey: Buffer };
  /** How the private keys are kept: in the clear ('none'), or wrapped (wire/crypto/key-wrap.ts) under a passphrase or a keychain secret. */
  protection?: KeyProtection;
  /** The scrypt parameters of the wrapping key (JSON), when wrapped. */
  kdf?: string;
}

export type KeyProtection = 'none' | 'passphrase' | 'os-keychain';

interface Row {
  display_name: string;
  user_name: string;
  public_key: Buffer;
  private_key: Buffer;
  created_at: number;
  x25519_public: Buffer | null;
  x25519_private: Buffer | null;
  key_protection: KeyProtection;
  kdf: string | null;
}

export class IdentityRepository {
  constructor(private readonly db: Database) {}

  async get(): Promise<StoredIdentity | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM identity WHERE id = 1');
    return row && {
      displayName: row.display_name,
      userName: row.user_name,
      publicKey: row.public_key,
      privateKey: row.private_key,
      createdAt: row.created_at,
      ...(row.x25519_public && row.x25519_private ? { x25519: { publicKey: row.x25519_public, privateKey: row.x25519_private } } : {}),
      protection: row.key_protection,
      ...(row.kdf ? { kdf: row.kdf } : {}),
    };
  }

  /** Stores the identity; returns false when one already exists (there is only ever one). */
  async create(identity: StoredIdentity): Promise<boolean> {
    const result = await this.db.run(
      'INSERT OR IGNORE INTO identity (id, display_name, user_name, public_key, private_key, created_at, x25519_public, x25519_private, key_protection, kdf) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [identity.displayName, identity.userName, identity.publicKey, identity.privateKey, identity.createdAt, identity.x25519?.publicKey ?? null, identity.x25519?.privateKey ?? null, identity.protection ?? 'none', identity.kdf ?? null],
    );
    return result.changes === 1;
  }

  /** Replaces both private keys and how they are kept, in one statement (a crash leaves the old or the new, never half). */
  async setProtection(keys: { privateKey: Buffer; x25519Private: Buffer | null }, protection: KeyProtection, kdf: string | undefined): Promise<void> {
    await this.db.run('UPDATE identity SET private_key = ?, x25519_private = ?, key_protection = ?, kdf = ? WHERE id = 1', [keys.privateKey, keys.x25519Private, protection, kdf ?? null]);
  }

  /** Gives an identity made before X25519 keys existed its pair (only when it has none yet). */
  async setX25519(pair: { publicKey: Buffer; privateKey: Buffer }): Promise<boolean> {
    const result = await this.db.run('UPDATE identity SET x25519_public = ?, x25519_private = ? WHERE id = 1 AND x25519_public IS NULL', [pair.publicKey, pair.privateKey]);
    return result.changes === 1;
  }
}
