// SRTP master keys from a DTLS handshake (RFC 5764 4.2). The handshake exports
// 2 * (key + salt) bytes with the label EXTRACTOR-dtls_srtp (RFC 5705), laid out as
//   client_write_key | server_write_key | client_write_salt | server_write_salt
// and each side sends with its own half: the DTLS client with the client's, the server with the server's.
import type { CallSrtpKeys } from '../sdp/media-key.js';
import { SRTP_SUITES, type SrtpSuite } from './srtp.js';

export const DTLS_SRTP_EXPORTER_LABEL = 'EXTRACTOR-dtls_srtp';

/** The use_srtp protection profiles (RFC 5764 4.1.2, RFC 7714 14.2) our SRTP speaks, by their IANA numbers. */
export const DTLS_SRTP_PROFILES: Readonly<Record<number, SrtpSuite>> = {
  0x0001: 'AES_CM_128_HMAC_SHA1_80',
  0x0007: 'AEAD_AES_128_GCM',
};

/** What we offer in use_srtp, most preferred first: GCM does one AES pass per packet and no HMAC. */
export const OFFERED_DTLS_SRTP_PROFILES = [0x0007, 0x0001] as const;

export function suiteOfProfile(profile: number): SrtpSuite | undefined {
  return DTLS_SRTP_PROFILES[profile];
}

/** How many bytes to export for a suite. */
export function exportedLength(suite: SrtpSuite): number {
  const sizes = SRTP_SUITES[suite];
  return 2 * (sizes.masterKeyBytes + sizes.masterSaltBytes);
}

/** Splits the exported material into the call's keys for our role. */
export function splitDtlsSrtpKeys(material: Buffer, suite: SrtpSuite, role: 'client' | 'server'): CallSrtpKeys {
  const { masterKeyBytes: k, masterSaltBytes: s } = SRTP_SUITES[suite];
  if (material.length !== 2 * (k + s)) throw new RangeError(`DTLS-SRTP keying material for ${suite} is ${2 * (k + s)} bytes, not ${material.length}`);
  const copy = (from: number, length: number) => Buffer.from(material.subarray(from, from + length));
  const client = { key: copy(0, k), salt: copy(2 * k, s) };
  const server = { key: copy(k, k), salt: copy(2 * k + s, s) };
  return role === 'client' ? { send: client, receive: server, suite } : { send: server, receive: client, suite };
}
