// Certificates for trusted rescue (docs/rescue.md, "HTTPS sites"). A site never hands its own
// private key to anyone: it issues each rescuer it trusts a certificate for a rescue host name of
// its own domain (r1.rescue.example.org) over the rescuer's own TLS key, from a CA key the site
// holds. Browsers then verify that every byte they get from the rescuer was served under the
// site's name. ECDSA P-256 throughout (browsers do not take Ed25519 in TLS certificates).
import { createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
type Crypto = Parameters<typeof x509.X509CertificateGenerator.create>[1] & typeof webcrypto;
const crypto = webcrypto as unknown as Crypto;

/** A rescuer's TLS key: PEM for its HTTPS server, DER SPKI base64url for the site to certify. */
export interface RescueTlsKey {
  keyPem: string;
  spki: string;
}

export function makeRescueTlsKey(): RescueTlsKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spki: (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64url'),
  };
}

/** A CA a site can issue rescue certificates from (tests and benchmarks make their own too). */
export async function makeRescueCa(commonName: string, now = Date.now(), days = 365): Promise<{ certPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=${clean(commonName)}`,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + days * 86_400_000),
      keys,
      signingAlgorithm: ECDSA,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem: certificate.toString('pem'), keyPem: pem('PRIVATE KEY', pkcs8) };
}

export interface IssueRequest {
  ca: { certPem: string; keyPem: string };
  /** DNS name the certificate is for. */
  host: string;
  /** The subject's public key: DER SPKI, base64url (what a rescuer's accept carries). */
  spki: string;
  notBefore: number;
  notAfter: number;
}

/** Issues a server certificate for `host` over the key `spki`; DER, base64url. */
export async function issueRescueCertificate(request: IssueRequest): Promise<string> {
  const caCert = new x509.X509Certificate(request.ca.certPem);
  const caKey = createPrivateKey(request.ca.keyPem);
  const algorithm = caKey.asymmetricKeyType === 'ec' ? ECDSA : caKey.asymmetricKeyType === 'rsa' ? RSA : undefined;
  if (!algorithm) throw new Error(`the rescue CA key is ${caKey.asymmetricKeyType}: use an ECDSA P-256 or RSA key`);
  const signingKey = await crypto.subtle.importKey('pkcs8', caKey.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const publicKey = await crypto.subtle.importKey('spki', Buffer.from(request.spki, 'base64url'), ECDSA, true, ['verify']);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${clean(request.host)}`,
      issuer: caCert.subject,
      notBefore: new Date(request.notBefore),
      notAfter: new Date(request.notAfter),
      publicKey,
      signingKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: request.host }], false),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return Buffer.from(certificate.rawData).toString('base64url');
}

export type CertificateCheck = { ok: true; notAfter: number } | { ok: false; expired: boolean; reason: string };

/**
 * What a rescuer checks of a certificate the site sends it (and the origin of what it issued):
 * for `host`, over `spki`, issued by the site's CA (when given), and valid at `now`.
 */
export function checkRescueCertificate(leafDer: string, expect: { host: string; spki?: string; caCertPem?: string; now: number }): CertificateCheck {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(Buffer.from(leafDer, 'base64url'));
  } catch {
    return { ok: false, expired: false, reason: 'not a certificate' };
  }
  if (leaf.checkHost(expect.host, { subject: 'never' }) !== expect.host) return { ok: false, expired: false, reason: `not for ${expect.host}` };
  if (expect.spki && !(leaf.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).equals(Buffer.from(expect.spki, 'base64url'))) {
    return { ok: false, expired: false, reason: 'not for this rescuer\'s key' };
  }
  if (expect.caCertPem) {
    const ca = new X509Certificate(expect.caCertPem);
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return { ok: false, expired: false, reason: 'not issued by the site\'s CA' };
  }
  const notAfter = Date.parse(leaf.validTo);
  if (expect.now > notAfter) return { ok: false, expired: true, reason: `expired at ${new Date(notAfter).toISOString()}` };
  if (expect.now < Date.parse(leaf.validFrom)) return { ok: false, expired: false, reason: 'not valid yet' };
  return { ok: true, notAfter };
}

/** DER (base64url) -> PEM, as TLS servers take certificates. */
export function certificatePem(der: string): string {
  return pem('CERTIFICATE', Buffer.from(der, 'base64url'));
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

function serial(): string {
  // Positive, non-zero leading nibble: 16 hex digits of randomness.
  return '1' + randomBytes(8).toString('hex').slice(1);
}

function clean(name: string): string {
  return name.replace(/[,=+<>#;"\\]/g, '_');
}
