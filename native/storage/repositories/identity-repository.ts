import type { Database } from '../db.js';

export interface StoredIdentity {
  displayName: string;
  userName: string;
  /** DER (SPKI) of the Ed25519 public key. */
  publicKey: Buffer;
  /** DER (PKCS#8) of the Ed25519 private key. */
  privateKey: Buffer;
  createdAt: number;
}

interface Row {
  display_name: string;
  user_name: string;
  public_key: Buffer;
  private_key: Buffer;
  created_at: number;
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
    };
  }

  /** Stores the identity; returns false when one already exists (there is only ever one). */
  async create(identity: StoredIdentity): Promise<boolean> {
    const result = await this.db.run(
      'INSERT OR IGNORE INTO identity (id, display_name, user_name, public_key, private_key, created_at) VALUES (1, ?, ?, ?, ?, ?)',
      [identity.displayName, identity.userName, identity.publicKey, identity.privateKey, identity.createdAt],
    );
    return result.changes === 1;
  }
}
