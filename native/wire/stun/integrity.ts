// MESSAGE-INTEGRITY (RFC 8489 14.5) checked on received bytes, and the keys of the two
// credential mechanisms: short-term (ICE, RFC 8445 7.2.2: the password itself) and long-term
// (TURN, RFC 8489 9.2.2: MD5 of "username:realm:password").
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ATTR, HEADER_BYTES } from './message.js';

/** RFC 8489 9.1.1: the short-term key is the password (SASLprep is the identity for our ASCII passwords). */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(password, 'utf8');
}

/** RFC 8489 9.2.2, MD5 algorithm. The username and realm we issue are ASCII, so SASLprep/OpaqueString changes nothing. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

export type IntegrityVerdict = 'ok' | 'missing' | 'bad';

/**
 * Checks the MESSAGE-INTEGRITY of a message as received (parseStun has already accepted its
 * framing): the HMAC covers the bytes before the attribute with the header's length set as if
 * the attribute were the last one (RFC 8489 14.5).
 */
export function verifyIntegrity(bytes: Buffer, key: Buffer): IntegrityVerdict {
  let offset = HEADER_BYTES;
  while (offset + 4 <= bytes.length) {
    const type = bytes.readUInt16BE(offset);
    const length = bytes.readUInt16BE(offset + 2);
    if (type === ATTR.MESSAGE_INTEGRITY) {
      if (length !== 20 || offset + 24 > bytes.length) return 'bad';
      const header = Buffer.from(bytes.subarray(0, HEADER_BYTES));
      header.writeUInt16BE(offset + 24 - HEADER_BYTES, 2);
      const expected = createHmac('sha1', key).update(header).update(bytes.subarray(HEADER_BYTES, offset)).digest();
      return timingSafeEqual(expected, bytes.subarray(offset + 4, offset + 24)) ? 'ok' : 'bad';
    }
    offset += 4 + length + ((4 - (length % 4)) % 4);
  }
  return 'missing';
}
