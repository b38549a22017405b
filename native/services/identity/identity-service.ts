// The user's identity: an Ed25519 key pair (node:crypto) with a display name and user name.
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { IdentityRepository, StoredIdentity } from '../../storage/repositories/identity-repository.js';
import { generateX25519KeyPair } from '../../wire/crypto/x25519.js';
import { UserError } from '../errors.js';

export interface Identity {
  displayName: string;
  userName: string;
  publicKey: string;
  fingerprint: string;
  createdAt: number;
}

/** RFC 3261 25.1 `user` allows more, but a name people can type and read keeps AORs sane. */
const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export class IdentityService {
  private cached?: StoredIdentity;

  constructor(
    private readonly repository: IdentityRepository,
    private readonly onCreated: (identity: Identity) => void = () => undefined,
  ) {}

  async load(): Promise<Identity | undefined> {
    this.cached ??= await this.repository.get();
    if (this.cached && !this.cached.x25519) {
      // An identity from before offline messages: give it the key they are sealed to.
      const pair = generateX25519KeyPair();
      if (await this.repository.setX25519(pair)) this.cached = { ...this.cached, x25519: pair };
      else this.cached = await this.repository.get();
    }
    return this.cached && toIdentity(this.cached);
  }

  /** The identity, or undefined before the first-run screen made one. Synchronous after load(). */
  get current(): Identity | undefined {
    return this.cached && toIdentity(this.cached);
  }

  /** The private key that signs this user's overlay records (PKCS#8 DER), once an identity exists. */
  get signingKey(): Buffer | undefined {
    return this.cached?.privateKey;
  }

  /**
   * The X25519 pair messages kept for this user in the overlay are sealed to (raw public key,
   * PKCS#8 DER private key). A separate key from the Ed25519 one rather than one converted from
   * it: node:crypto has no Ed25519-to-X25519 conversion, and the signed name claim binds the two.
   */
  get agreementKey(): { publicKey: Buffer; privateKey: Buffer } | undefined {
    return this.cached?.x25519;
  }

  async create(displayName: string, userName: string, now = Date.now()): Promise<Identity> {
    const name = displayName.trim();
    const user = userName.trim().toLowerCase();
    if (!name || name.length > 64 || /[\u0000-\u001f"\\]/.test(name)) {
      throw new UserError('INVALID_ARGUMENT', 'The display name must be 1 to 64 characters, without quotes or backslashes.');
    }
    if (!USER_NAME.test(user)) {
      throw new UserError('INVALID_ARGUMENT', 'The user name must be 1 to 32 characters: letters, digits, dot, dash or underscore, starting with a letter or digit.');
    }
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const stored: StoredIdentity = {
      displayName: name,
      userName: user,
      publicKey: publicKey.export({ format: 'der', type: 'spki' }),
      privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }),
      createdAt: now,
      x25519: generateX25519KeyPair(),
    };
    if (!(await this.repository.create(stored))) throw new UserError('IDENTITY_EXISTS', 'This node already has an identity.');
    this.cached = stored;
    const identity = toIdentity(stored);
    this.onCreated(identity);
    return identity;
  }
}

/** The raw 32-byte key is the last 32 bytes of its SPKI encoding (RFC 8410). */
function rawPublicKey(spki: Buffer): Buffer {
  return spki.subarray(spki.length - 32);
}

/** A short, human-comparable fingerprint of a raw Ed25519 public key: 8 groups of 4 hex digits of its SHA-256. */
export function keyFingerprint(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 32).match(/.{4}/g)!.join(' ');
}

function toIdentity(s: StoredIdentity): Identity {
  const raw = rawPublicKey(s.publicKey);
  return {
    displayName: s.displayName,
    userName: s.userName,
    publicKey: raw.toString('base64url'),
    fingerprint: keyFingerprint(raw),
    createdAt: s.createdAt,
  };
}
