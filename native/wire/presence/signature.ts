// Ed25519 signatures carried in a `Peerdial-Signature: ed25519 <base64url>` header. Each use
// signs under its own context string, so a signature made for one purpose (a presence document)
// never verifies as another (a buddy answer, an overlay record).
import { createPrivateKey, sign, verify } from 'node:crypto';
import { publicKeyFromRaw } from '../overlay/record.js';

export const SIGNATURE_HEADER = 'peerdial-signature';

export type SignatureContext = 'peerdial-buddy-v1' | 'peerdial-presence-v1' | 'peerdial-subscribe-v1';

function signedBytes(context: SignatureContext, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(context + '\n', 'utf8'), payload]);
}

/** The header value for `payload` signed by the PKCS#8 DER private key. */
export function signPayload(context: SignatureContext, payload: Buffer, privateKeyPkcs8: Buffer): string {
  const key = createPrivateKey({ key: privateKeyPkcs8, format: 'der', type: 'pkcs8' });
  return 'ed25519 ' + sign(null, signedBytes(context, payload), key).toString('base64url');
}

/** True when `header` is a valid signature of `payload` by the raw (base64url) Ed25519 key. */
export function verifyPayload(context: SignatureContext, payload: Buffer, header: unknown, rawKeyBase64Url: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^\s*ed25519\s+([A-Za-z0-9_-]{86})\s*$/i.exec(header);
  if (!m) return false;
  try {
    const raw = Buffer.from(rawKeyBase64Url, 'base64url');
    if (raw.length !== 32) return false;
    return verify(null, signedBytes(context, payload), publicKeyFromRaw(raw), Buffer.from(m[1], 'base64url'));
  } catch {
    return false;
  }
}

/**
 * What a SUBSCRIBE's signature covers (it has no body): who asks, whom, the dialog, how long,
 * and where NOTIFYs go, so a captured signature cannot send someone's presence elsewhere.
 */
export function subscribeSigningText(s: { from: string; to: string; callId: string; cseq: number; expires: number; contact: string }): Buffer {
  return Buffer.from(['SUBSCRIBE', s.from, s.to, s.callId, String(s.cseq), String(s.expires), s.contact].join('\n'), 'utf8');
}
