// SDP Security Descriptions (RFC 4568): SRTP master keys written in the SDP, for phones. The
// keys are as secret as the signalling that carries them, so Peerdial counts a call keyed this
// way as encrypted only when its SIP went over TLS (services/calls/call-security.ts).
//   a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>] [<session params>]
import { randomBytes } from 'node:crypto';
import { isSrtpSuite, SRTP_SUITES, type SrtpSuite } from '../srtp/srtp.js';
import type { CallSrtpKeys } from './media-key.js';

export interface CryptoAttribute {
  /** 1 to 999999999 (9.1): the answer names the offer's line it takes by this. */
  tag: number;
  suite: SrtpSuite;
  key: Buffer;
  salt: Buffer;
}

/** What we offer, in order: both suites our SRTP speaks (RFC 4568 6.2.1, RFC 7714 12). */
export const SDES_SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];

/** The value after `a=`: `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...`. */
export function formatCrypto(c: CryptoAttribute): string {
  return `crypto:${c.tag} ${c.suite} inline:${Buffer.concat([c.key, c.salt]).toString('base64')}`;
}

/**
 * One `crypto` attribute value (without `crypto:`), or why we cannot take it: a suite we do not
 * speak, a key of the wrong size, several keys or an MKI (we key once per call and never
 * rekey), or session parameters (UNENCRYPTED_SRTP and the like weaken what the call would be).
 */
export function parseCrypto(value: string): CryptoAttribute | string {
  const m = /^(\d{1,9})\s+(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(value.trim());
  if (!m) return 'not a crypto attribute';
  const [, tagText, suiteName, keyParams, sessionParams] = m;
  const tag = Number(tagText);
  if (tag < 1) return 'bad tag';
  if (!isSrtpSuite(suiteName)) return `suite ${suiteName} is not one Peerdial speaks`;
  if (sessionParams?.trim()) return `session parameters (${sessionParams.trim()}) are not taken`;
  if (keyParams.includes(';')) return 'several master keys are not taken';
  const inline = /^inline:([A-Za-z0-9+/]+={0,2})(?:\|(2\^\d{1,2}|\d{1,20}))?(\|.*)?$/.exec(keyParams);
  if (!inline) return 'bad key parameters';
  if (inline[3]) return 'an MKI is not taken';
  const sizes = SRTP_SUITES[suiteName];
  const material = Buffer.from(inline[1], 'base64');
  if (material.length !== sizes.masterKeyBytes + sizes.masterSaltBytes) return `a ${suiteName} key is ${sizes.masterKeyBytes + sizes.masterSaltBytes} bytes`;
  return { tag, suite: suiteName, key: material.subarray(0, sizes.masterKeyBytes), salt: material.subarray(sizes.masterKeyBytes) };
}

/** A call keyed by SDES: we send under our line's key, and receive under theirs (RFC 4568 6.1). */
export function sdesCallKeys(own: CryptoAttribute, peer: CryptoAttribute): CallSrtpKeys {
  return { send: { key: own.key, salt: own.salt }, receive: { key: peer.key, salt: peer.salt }, suite: own.suite };
}

/** A fresh master key and salt for `suite`, under `tag`. */
export function newCrypto(tag: number, suite: SrtpSuite): CryptoAttribute {
  const sizes = SRTP_SUITES[suite];
  return { tag, suite, key: randomBytes(sizes.masterKeyBytes), salt: randomBytes(sizes.masterSaltBytes) };
}
