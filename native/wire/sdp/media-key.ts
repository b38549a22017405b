// End-to-end SRTP keys between Peerdial users: each side puts a fresh X25519 key in its SDP
// (`a=peerdial-srtp`), signed by its user's Ed25519 identity key over the call it belongs to. The
// two ends alone can compute the shared secret; a node that carries the signalling sees only the
// public halves and cannot swap them without breaking a signature the other end checks. In the
// spirit of MIKEY's signed Diffie-Hellman (RFC 3830 3.3) carried in SDP (RFC 4567), in a
// format of our own: no certificates, no extra round trip. docs/protocol.md, "Encrypted calls".
import { diffieHellman, hkdfSync } from 'node:crypto';
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';
import { x25519PrivateKey, x25519PublicKeyFromRaw } from '../crypto/x25519.js';
import { SRTP_MASTER_KEY_BYTES, SRTP_MASTER_SALT_BYTES, type SrtpSuite } from '../srtp/srtp.js';

export const MEDIA_KEY_ATTRIBUTE = 'peerdial-srtp';
export const MEDIA_KEY_VERSION = 1;
/** The one suite so far (RFC 3711 / RFC 4568 name). */
export const MEDIA_KEY_SUITE = 'AES_CM_128_HMAC_SHA1_80';

export type MediaKeyRole = 'caller' | 'callee';

/** What one side's `a=peerdial-srtp` says. Keys and signature are base64url. */
export interface MediaKey {
  version: number;
  suite: string;
  /** A fresh X25519 public key (raw 32 bytes) for this call only. */
  ephemeral: string;
  /** The signer's Ed25519 identity key (raw 32 bytes): the one that owns its name in the overlay. */
  identity: string;
  signature: string;
}

/** The call a key belongs to: the signature covers all of it, so it cannot be moved to another call. */
export interface MediaKeyContext {
  callId: string;
  /** `sip:user@overlay` of each end, as the caller dialled and as the callee is named. */
  callerAor: string;
  calleeAor: string;
}

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;
const B64URL_64 = /^[A-Za-z0-9_-]{86}$/;

export function formatMediaKey(key: MediaKey): string {
  return `${MEDIA_KEY_ATTRIBUTE}:${key.version} ${key.suite} ${key.ephemeral} ${key.identity} ${key.signature}`;
}

/** Parses an attribute line's value (`peerdial-srtp:1 SUITE EPH ID SIG`); undefined when it is not one. */
export function parseMediaKey(value: string): MediaKey | undefined {
  const match = /^peerdial-srtp:(\d{1,3}) ([A-Z0-9_]{1,40}) (\S+) (\S+) (\S+)\s*$/.exec(value);
  if (!match) return undefined;
  const [, version, suite, ephemeral, identity, signature] = match;
  if (!B64URL_32.test(ephemeral) || !B64URL_32.test(identity) || !B64URL_64.test(signature)) return undefined;
  return { version: Number(version), suite, ephemeral, identity, signature };
}

/** The bytes a side signs: the callee's also hold the caller's key, which binds the answer to this offer. */
export function mediaKeyTranscript(role: MediaKeyRole, context: MediaKeyContext, suite: string, callerEphemeral: string, calleeEphemeral?: string): Buffer {
  const lines = [`peerdial-srtp/${MEDIA_KEY_VERSION}`, role, context.callId, context.callerAor.toLowerCase(), context.calleeAor.toLowerCase(), suite, callerEphemeral];
  if (role === 'callee') lines.push(calleeEphemeral ?? '');
  return Buffer.from(lines.join('\n'), 'utf8');
}

export function signMediaKey(
  role: MediaKeyRole,
  context: MediaKeyContext,
  keys: { ephemeral: string; identity: string; identityPrivateKey: Buffer },
  callerEphemeral?: string,
): MediaKey {
  const transcript = role === 'caller' ? mediaKeyTranscript(role, context, MEDIA_KEY_SUITE, keys.ephemeral) : mediaKeyTranscript(role, context, MEDIA_KEY_SUITE, callerEphemeral!, keys.ephemeral);
  return { version: MEDIA_KEY_VERSION, suite: MEDIA_KEY_SUITE, ephemeral: keys.ephemeral, identity: keys.identity, signature: signEd25519(transcript, keys.identityPrivateKey) };
}

export type MediaKeyCheck = { ok: true } | { ok: false; problem: 'version' | 'suite' | 'wrong-key' | 'signature'; reason: string };

/**
 * Whether `key` is the other side's for this call: the version and suite we speak, made by
 * `expectedIdentity` (the key pinned for the buddy, or the owner of their name), and signed by it
 * over this call (and, from the callee, over our own ephemeral key).
 */
export function checkMediaKey(key: MediaKey, role: MediaKeyRole, context: MediaKeyContext, expectedIdentity: string, callerEphemeral?: string): MediaKeyCheck {
  if (key.version !== MEDIA_KEY_VERSION) return { ok: false, problem: 'version', reason: `version ${key.version} of the key agreement is not one this Peerdial speaks` };
  if (key.suite !== MEDIA_KEY_SUITE) return { ok: false, problem: 'suite', reason: `the SRTP suite ${key.suite} is not one this Peerdial speaks` };
  if (key.identity !== expectedIdentity) return { ok: false, problem: 'wrong-key', reason: 'the media key is signed by a key that is not theirs' };
  const transcript = role === 'caller' ? mediaKeyTranscript('caller', context, key.suite, key.ephemeral) : mediaKeyTranscript('callee', context, key.suite, callerEphemeral ?? '', key.ephemeral);
  if (!verifyEd25519(transcript, key.signature, expectedIdentity)) return { ok: false, problem: 'signature', reason: 'the signature on the media key does not match' };
  return { ok: true };
}

export interface SrtpMasterKey {
  key: Buffer;
  salt: Buffer;
}

/** What each direction of a call is protected with. */
export interface CallSrtpKeys {
  send: SrtpMasterKey;
  receive: SrtpMasterKey;
  /** The SRTP suite; AES_CM_128_HMAC_SHA1_80 when absent (the one our signed agreement names). */
  suite?: SrtpSuite;
}

const KEY_INFO = 'peerdial-srtp/1 master keys';

/**
 * Both directions' SRTP master keys and salts (RFC 3711 8.2: one per direction) from the
 * X25519 secret by HKDF-SHA256 (RFC 5869), salted with the Call-ID and bound to both public keys.
 */
export function deriveCallSrtpKeys(role: MediaKeyRole, ownPrivateKey: Buffer, callerEphemeral: string, calleeEphemeral: string, callId: string): CallSrtpKeys {
  const peer = role === 'caller' ? calleeEphemeral : callerEphemeral;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: x25519PrivateKey(ownPrivateKey), publicKey: x25519PublicKeyFromRaw(Buffer.from(peer, 'base64url')) });
  } catch {
    // OpenSSL refuses the all-zero secret of a small-order point (RFC 7748 6.1).
    throw new RangeError('the peer media key is not a usable X25519 key');
  }
  if (shared.every((byte) => byte === 0)) throw new RangeError('the peer media key is not a usable X25519 key');
  const one = SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES;
  const info = Buffer.concat([Buffer.from(KEY_INFO), Buffer.from(callerEphemeral, 'base64url'), Buffer.from(calleeEphemeral, 'base64url')]);
  const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.from(callId, 'utf8'), info, 2 * one));
  const callerToCallee = { key: okm.subarray(0, SRTP_MASTER_KEY_BYTES), salt: okm.subarray(SRTP_MASTER_KEY_BYTES, one) };
  const calleeToCaller = { key: okm.subarray(one, one + SRTP_MASTER_KEY_BYTES), salt: okm.subarray(one + SRTP_MASTER_KEY_BYTES, 2 * one) };
  return role === 'caller' ? { send: callerToCallee, receive: calleeToCaller } : { send: calleeToCaller, receive: callerToCallee };
}
