// Signed records for simulations: name claims of many users by one owner key.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { idToHex, keyForAor } from '../../native/wire/overlay/node-id.js';
import { signRecord, type OverlayRecord } from '../../native/wire/overlay/record.js';

export interface Owner {
  privateKey: KeyObject;
  /** Raw Ed25519 public key, base64url, as records carry it. */
  owner: string;
}

export function newOwner(): Owner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, owner: spki.subarray(spki.length - 32).toString('base64url') };
}

export function nameRecord(owner: Owner, user: string, overlay: string, expires: number, seq = 1): OverlayRecord {
  return signRecord(
    { type: 'name', key: idToHex(keyForAor(user, overlay)), owner: owner.owner, slot: '', seq, expires, value: { user, overlay } },
    owner.privateKey,
  );
}

/** `count` name claims (user-0, user-1, ...) valid until `expires` (simulated ms). */
export function nameRecords(owner: Owner, count: number, overlay: string, expires: number, prefix = 'user'): OverlayRecord[] {
  return Array.from({ length: count }, (_, i) => nameRecord(owner, `${prefix}-${i}`, overlay, expires));
}
