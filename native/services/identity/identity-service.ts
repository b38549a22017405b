// The user's identity: an Ed25519 key pair (node:crypto) with a display name and user name.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { IdentityRepository, KeyProtection, StoredIdentity } from '../../storage/repositories/identity-repository.js';
import { deriveKek, newKdfParams, openIdentityBackup, parseKdfParams, sealIdentityBackup, unwrapKey, wrapKey } from '../../wire/crypto/key-wrap.js';
import { generateX25519KeyPair, x25519PublicOf } from '../../wire/crypto/x25519.js';
import { UserError } from '../errors.js';

export interface Identity {
  displayName: string;
  userName: string;
  publicKey: string;
  fingerprint: string;
  createdAt: number;
  /** How the private keys are kept on disk. */
  keyProtection: KeyProtection;
}

/**
 * Where the secret that encrypts the private keys on disk comes from: the user's passphrase
 * (`--key-passphrase-file`), or a random secret the desktop app keeps in the system keychain.
 */
export interface KeyProtector {
  kind: Exclude<KeyProtection, 'none'>;
  secret: string;
}

/** The shortest passphrase for a backup or for the keys on disk. */
export const MIN_PASSPHRASE_LENGTH = 8;
const LABEL_ED25519 = 'peerdial-identity-ed25519';
const LABEL_X25519 = 'peerdial-identity-x25519';

/** RFC 3261 25.1 `user` allows more, but a name people can type and read keeps AORs sane. */
const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export class IdentityService {
  private cached?: StoredIdentity;
  /** The key that wraps the stored private keys, once derived (scrypt is slow: once a start). */
  private kek?: Buffer;

  constructor(
    private readonly repository: IdentityRepository,
    private readonly onCreated: (identity: Identity) => void = () => undefined,
    private readonly protector?: KeyProtector,
  ) {}

  /**
   * Reads the identity and opens its private keys: with the protector when they are wrapped
   * (IDENTITY_LOCKED without one, or with the wrong secret); an identity kept in the clear is
   * wrapped in place the first time a protector is given.
   */
  async load(): Promise<Identity | undefined> {
    if (this.cached) return toIdentity(this.cached);
    const stored = await this.repository.get();
    if (!stored) return undefined;
    let open = this.unwrapped(stored);
    if (!open.x25519) {
      // An identity from before offline messages: give it the key they are sealed to.
      const pair = generateX25519KeyPair();
      const kept = open.protection === 'none' ? pair : { ...pair, privateKey: wrapKey(pair.privateKey, this.kek!, LABEL_X25519) };
      if (await this.repository.setX25519(kept)) open = { ...open, x25519: pair };
      else return this.load();
    }
    if (this.protector && open.protection === 'none') open = await this.protect(open);
    this.cached = open;
    return toIdentity(open);
  }

  /** The identity in an encrypted backup file's text, for a new computer. */
  exportBackup(passphrase: string): string {
    const s = this.cached;
    if (!s) throw new UserError('NO_IDENTITY', 'There is no identity to export yet.');
    checkPassphrase(passphrase);
    return sealIdentityBackup(
      {
        displayName: s.displayName,
        userName: s.userName,
        publicKey: s.publicKey.toString('base64url'),
        privateKey: s.privateKey.toString('base64url'),
        ...(s.x25519 ? { x25519Public: s.x25519.publicKey.toString('base64url'), x25519Private: s.x25519.privateKey.toString('base64url') } : {}),
        createdAt: s.createdAt,
      },
      passphrase,
    );
  }

  /** Makes this node's identity from a backup (only while it has none). */
  async importBackup(text: string, passphrase: string): Promise<Identity> {
    if (this.cached) throw new UserError('IDENTITY_EXISTS', 'This node already has an identity; import on a new data directory.');
    const opened = openIdentityBackup(text, passphrase);
    if (!opened.ok) throw new UserError('INVALID_ARGUMENT', opened.reason === 'wrong-passphrase' ? 'The passphrase does not open this backup.' : 'This is not a Peerdial identity backup.');
    const c = opened.content;
    const publicKey = Buffer.from(c.publicKey, 'base64url');
    const privateKey = Buffer.from(c.privateKey, 'base64url');
    const x25519 = c.x25519Public && c.x25519Private ? { publicKey: Buffer.from(c.x25519Public, 'base64url'), privateKey: Buffer.from(c.x25519Private, 'base64url') } : generateX25519KeyPair();
    if (!keysMatch(publicKey, privateKey) || !x25519PublicOf(x25519.privateKey).equals(x25519.publicKey)) throw new UserError('INVALID_ARGUMENT', 'The backup\'s keys do not belong together.');
    return this.store({ displayName: c.displayName, userName: c.userName, publicKey, privateKey, createdAt: c.createdAt, x25519, protection: 'none' });
  }

  private unwrapped(stored: StoredIdentity): StoredIdentity {
    const protection = stored.protection ?? 'none';
    if (protection === 'none') return { ...stored, protection };
    if (!this.protector) {
      throw new UserError('IDENTITY_LOCKED', protection === 'os-keychain' ? 'The identity key is encrypted by the desktop app\'s keychain secret: open it in the desktop app, or export it there and import it here.' : 'The identity key is encrypted with a passphrase: start with --key-passphrase-file FILE.');
    }
    const params = stored.kdf && parseKdfParams(stored.kdf);
    if (!params) throw new UserError('IDENTITY_LOCKED', 'The identity key\'s encryption parameters are damaged.');
    const kek = deriveKek(this.protector.secret, params);
    this.kek = kek;
    const privateKey = unwrapKey(stored.privateKey, kek, LABEL_ED25519);
    const x25519Private = stored.x25519 && unwrapKey(stored.x25519.privateKey, kek, LABEL_X25519);
    if (!privateKey || (stored.x25519 && !x25519Private)) {
      throw new UserError('IDENTITY_LOCKED', this.protector.kind === 'passphrase' ? 'The passphrase in --key-passphrase-file does not unlock the identity key.' : 'The keychain secret does not unlock the identity key.');
    }
    return { ...stored, privateKey, ...(stored.x25519 ? { x25519: { publicKey: stored.x25519.publicKey, privateKey: x25519Private! } } : {}) };
  }

  /** Wraps an identity kept in the clear, in place; returns it open, marked as now protected. */
  private async protect(open: StoredIdentity): Promise<StoredIdentity> {
    const wrapped = this.wrapped(open);
    await this.repository.setProtection({ privateKey: wrapped.privateKey, x25519Private: wrapped.x25519?.privateKey ?? null }, wrapped.protection!, wrapped.kdf);
    return { ...open, protection: wrapped.protection, kdf: wrapped.kdf };
  }

  /** The identity as it is kept: both private keys wrapped under one new scrypt key (one derivation, about 0.1 s). */
  private wrapped(open: StoredIdentity): StoredIdentity {
    const params = newKdfParams();
    const kek = deriveKek(this.protector!.secret, params);
    this.kek = kek;
    return {
      ...open,
      privateKey: wrapKey(open.privateKey, kek, LABEL_ED25519),
      ...(open.x25519 ? { x25519: { publicKey: open.x25519.publicKey, privateKey: wrapKey(open.x25519.privateKey, kek, LABEL_X25519) } } : {}),
      protection: this.protector!.kind,
      kdf: JSON.stringify(params),
    };
  }

  /** Stores a new identity (wrapped when a protector is given) and makes it current. */
  private async store(open: StoredIdentity): Promise<Identity> {
    const kept: StoredIdentity = this.protector ? this.wrapped(open) : { ...open, protection: 'none' };
    if (!(await this.repository.create(kept))) throw new UserError('IDENTITY_EXISTS', 'This node already has an identity.');
    this.cached = { ...open, protection: kept.protection, ...(kept.kdf ? { kdf: kept.kdf } : {}) };
    const identity = toIdentity(this.cached);
    this.onCreated(identity);
    return identity;
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
    return this.store({
      displayName: name,
      userName: user,
      publicKey: publicKey.export({ format: 'der', type: 'spki' }),
      privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }),
      createdAt: now,
      x25519: generateX25519KeyPair(),
    });
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
    keyProtection: s.protection ?? 'none',
  };
}

function checkPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string' || passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new UserError('INVALID_ARGUMENT', `Choose a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters.`);
  }
}

/** Whether a PKCS#8 Ed25519 private key is the one of this SPKI public key. */
function keysMatch(spki: Buffer, pkcs8: Buffer): boolean {
  try {
    const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    return derived.equals(spki);
  } catch {
    return false;
  }
}
