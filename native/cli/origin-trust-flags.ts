// `peerdial origin` flags for trusted rescue (docs/rescue.md, "HTTPS sites", "Dynamic content"):
// pinned rescuers, the CA the site issues their certificates from, marked API paths, and HTTPS
// for the site's own users. Files are read and checked here, so a wrong one is one clear line.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { listenAddress, UsageError } from './flags.js';

export const TRUST_FLAGS = {
  'trusted-rescuer': { type: 'string', multiple: true },
  'rescue-ca-cert': { type: 'string' },
  'rescue-ca-key': { type: 'string' },
  'rescue-cert-hours': { type: 'string' },
  dynamic: { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-listen': { type: 'string' },
} as const;

export const TRUST_HELP = `
Trusted rescue (HTTPS sites, dynamic pages; see docs/rescue.md):
  --trusted-rescuer KEY[=HOST]
                        a rescue server you trust (your own machine, your host's), pinned by
                        its node key (its "rescue key" line); HOST is the rescue host name
                        under your domain you point at it in DNS, e.g. r1.rescue.example.org,
                        needed for an HTTPS site (repeatable)
  --rescue-ca-cert FILE the CA certificate (PEM) rescue certificates are issued from: one your
                        users' browsers trust, ideally name-constrained to the rescue domain
  --rescue-ca-key FILE  its private key (PEM, ECDSA P-256 or RSA); it stays on this machine
  --rescue-cert-hours N how long each rescue certificate is valid (default: 24; renewed at 2/3)
  --dynamic PREFIX      a marked API path: GET responses under it are cached per query (path
                        with query string) at trusted rescuers until this origin purges them,
                        even with max-age=0 (repeatable), e.g. /api/
  --tls-cert FILE       the site's own certificate chain (PEM) to serve users HTTPS with
  --tls-key FILE        its private key (PEM): never sent to any rescuer
  --tls-listen [H]:P    where users reach the site over HTTPS (needed with --tls-cert)
`;

export interface TrustFlags {
  trust?: {
    rescuers: Map<string, string | undefined>;
    ca?: { certPem: string; keyPem: string };
    certValidityMs: number;
    dynamic: string[];
    https: boolean;
  };
  tls?: { listen: { host: string; port: number }; certPem: string; keyPem: string };
}

const KEY = /^[A-Za-z0-9_-]{43}$/;
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

type Values = { [K in keyof typeof TRUST_FLAGS]?: (typeof TRUST_FLAGS)[K] extends { multiple: true } ? string[] : string };

export function parseTrustFlags(v: Values, site: string | undefined): TrustFlags {
  const out: TrustFlags = {};
  if (v['tls-cert'] !== undefined || v['tls-key'] !== undefined || v['tls-listen'] !== undefined) {
    if (!v['tls-cert'] || !v['tls-key'] || !v['tls-listen']) throw new UsageError('--tls-cert, --tls-key and --tls-listen go together: the site\'s certificate, its key, and where users reach it over HTTPS.');
    const certPem = readPem(v['tls-cert'], '--tls-cert');
    const keyPem = readPem(v['tls-key'], '--tls-key');
    matchingPair(certPem, keyPem, '--tls-cert', '--tls-key');
    out.tls = { listen: listenAddress(v['tls-listen'], '--tls-listen', '0.0.0.0'), certPem, keyPem };
  }
  const pinned = v['trusted-rescuer'] ?? [];
  const dynamic = v.dynamic ?? [];
  for (const prefix of dynamic) {
    if (!prefix.startsWith('/') || prefix.length > 512 || /[\s#]/.test(prefix)) throw new UsageError(`--dynamic must be a path prefix such as /api/ (got "${prefix}").`);
  }
  if (!pinned.length) {
    if (dynamic.length) throw new UsageError('--dynamic needs --trusted-rescuer: marked API responses are cached only at rescuers you trust, never at volunteers.');
    if (v['rescue-ca-cert'] || v['rescue-ca-key']) throw new UsageError('--rescue-ca-cert and --rescue-ca-key need --trusted-rescuer KEY=HOST: certificates go only to rescuers you pinned.');
    return out;
  }
  const rescuers = new Map<string, string | undefined>();
  const hosts = new Set<string>();
  for (const item of pinned) {
    const [key, host, extra] = item.split('=');
    if (!KEY.test(key) || extra !== undefined) throw new UsageError(`--trusted-rescuer must be KEY or KEY=HOST, KEY the rescuer's 43-character node key (got "${item}").`);
    const name = host?.toLowerCase();
    if (name !== undefined && !HOST_NAME.test(name)) throw new UsageError(`--trusted-rescuer ${key}=HOST: HOST must be a DNS name such as r1.rescue.example.org (got "${host}").`);
    if (name && hosts.has(name)) throw new UsageError(`--trusted-rescuer: ${name} is given to two rescuers; each needs a name of its own.`);
    if (name) hosts.add(name);
    rescuers.set(key, name);
  }
  const https = Boolean(out.tls) || /^https:/i.test(site ?? '');
  let ca: { certPem: string; keyPem: string } | undefined;
  if (hosts.size) {
    if (!v['rescue-ca-cert'] || !v['rescue-ca-key']) throw new UsageError('a trusted rescuer with a HOST needs --rescue-ca-cert and --rescue-ca-key: the CA its certificate for HOST is issued from.');
    ca = { certPem: readPem(v['rescue-ca-cert'], '--rescue-ca-cert'), keyPem: readPem(v['rescue-ca-key'], '--rescue-ca-key') };
    const caCert = matchingPair(ca.certPem, ca.keyPem, '--rescue-ca-cert', '--rescue-ca-key');
    if (!caCert.ca) throw new UsageError('--rescue-ca-cert is not a CA certificate (its basic constraints do not allow issuing).');
    if (Date.parse(caCert.validTo) < Date.now()) throw new UsageError(`--rescue-ca-cert expired on ${caCert.validTo}: certificates issued from it would not verify.`);
  }
  if (https && [...rescuers.values()].some((h) => !h)) throw new UsageError('an HTTPS site sends users only to trusted rescuers with a certificate: give each --trusted-rescuer as KEY=HOST.');
  let hours = 24;
  if (v['rescue-cert-hours'] !== undefined) {
    hours = Number(v['rescue-cert-hours']);
    if (!(hours >= 0.01 && hours <= 24 * 90)) throw new UsageError(`--rescue-cert-hours must be a number from 0.01 to 2160 (got "${v['rescue-cert-hours']}").`);
  }
  out.trust = { rescuers, ...(ca ? { ca } : {}), certValidityMs: hours * 3_600_000, dynamic, https };
  return out;
}

function readPem(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
  }
  if (!text.includes('-----BEGIN ')) throw new UsageError(`${flag}: ${file} is not a PEM file.`);
  return text;
}

function matchingPair(certPem: string, keyPem: string, certFlag: string, keyFlag: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new UsageError(`${certFlag}: no certificate could be read from it.`);
  }
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new UsageError(`${keyFlag}: no private key could be read from it.`);
  }
  if (!matches) throw new UsageError(`${keyFlag} is not the key of the certificate in ${certFlag}.`);
  return cert;
}
