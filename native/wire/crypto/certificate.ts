// The self-signed certificate a node presents on SIP over TLS. No CA vouches for it: its SHA-256
// fingerprint goes into the node's signed binding record (wire/overlay/record.ts), and a peer
// that reached the node through the overlay accepts exactly that certificate (docs/protocol.md,
// "SIP over TLS"). ECDSA P-256: small, quick to make (about 15 ms), spoken by every TLS stack.
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface TlsCredentials {
  /** PKCS#8 private key, PEM. */
  keyPem: string;
  certPem: string;
  /** SHA-256 of the certificate's DER, base64url (43 characters). */
  fingerprint: string;
}

const SIGNING = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A fresh key and certificate, good for ten years (the fingerprint, not the dates, is what a peer checks). */
export async function makeSelfSignedCertificate(commonName: string, now = Date.now()): Promise<TlsCredentials> {
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1] & typeof webcrypto;
  const keys = await crypto.subtle.generateKey(SIGNING, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
      // A day back: a peer whose clock is a little behind still finds it valid.
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      keys,
      signingAlgorithm: SIGNING,
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  const certPem = certificate.toString('pem');
  return { keyPem, certPem, fingerprint: certificateFingerprint(new X509Certificate(certPem).raw) };
}

/** SHA-256 of a certificate's DER, base64url: how records and URIs name a certificate. */
export function certificateFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

/** True for a well-formed fingerprint as certificateFingerprint writes it. */
export function isCertificateFingerprint(text: unknown): text is string {
  return typeof text === 'string' && /^[A-Za-z0-9_-]{43}$/.test(text);
}
