// The SDP of DTLS-SRTP (RFC 5763, RFC 5764): the certificate fingerprint (RFC 8122 5) and the
// connection role (RFC 4145 4, as RFC 5763 5 uses it). A phone that does DTLS-SRTP offers
//   m=audio P UDP/TLS/RTP/SAVP 0 ...
//   a=setup:actpass
//   a=fingerprint:sha-256 AB:CD:...
// and the keys come later, from the handshake on the media port (transport/dtls-session.ts).
import { createHash } from 'node:crypto';

export type DtlsSetup = 'actpass' | 'active' | 'passive';

/** Our end of the handshake: the DTLS client (setup active) or the server (setup passive). */
export type DtlsRole = 'client' | 'server';

export interface DtlsFingerprint {
  /** Only sha-256: RFC 8122 5 lets a stack list others, and we refuse the weaker ones. */
  hash: 'sha-256';
  /** Upper-case hex pairs joined by colons, as RFC 8122 5 writes them. */
  value: string;
}

/** The SDP side of a DTLS-SRTP stream, as offered or answered. */
export interface DtlsDescription {
  setup: DtlsSetup;
  fingerprint: DtlsFingerprint;
}

const PROTOS = ['UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF'];
/** What we offer: the profile without RTCP feedback, which every DTLS-SRTP phone takes. */
export const DTLS_SRTP_PROTO = 'UDP/TLS/RTP/SAVP';

export function isDtlsSrtpProto(proto: unknown): boolean {
  return typeof proto === 'string' && PROTOS.includes(proto.toUpperCase());
}

/** The fingerprint of a certificate (its DER), as `a=fingerprint` carries it. */
export function fingerprintOf(der: Buffer): DtlsFingerprint {
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return { hash: 'sha-256', value: hex.match(/../g)!.join(':') };
}

/** The value after `a=fingerprint:`. */
export function formatFingerprint(fingerprint: DtlsFingerprint): string {
  return `${fingerprint.hash} ${fingerprint.value}`;
}

/**
 * A `fingerprint` attribute (hash name and value, as sdp-transform splits them): ours when it is
 * a well-formed SHA-256, else why not. Hash names are case-insensitive (RFC 8122 5).
 */
export function parseFingerprint(hash: unknown, value: unknown): DtlsFingerprint | string {
  if (typeof hash !== 'string' || typeof value !== 'string') return 'no fingerprint';
  if (hash.toLowerCase() !== 'sha-256') return `fingerprint hash ${hash} is not one we accept (sha-256 only)`;
  if (!/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/.test(value)) return 'fingerprint is not 32 hex pairs';
  return { hash: 'sha-256', value: value.toUpperCase() };
}

export function sameFingerprint(a: DtlsFingerprint, b: DtlsFingerprint): boolean {
  return a.hash === b.hash && a.value.toUpperCase() === b.value.toUpperCase();
}

export function parseSetup(value: unknown): DtlsSetup | undefined {
  const v = typeof value === 'string' ? value.toLowerCase() : '';
  return v === 'actpass' || v === 'active' || v === 'passive' ? v : undefined;
}

/**
 * The answerer's role for an offered setup (RFC 5763 5): to actpass, active, so the answerer
 * starts the handshake and need not wait for the offerer to learn our address; else the opposite
 * of the offer's. An offer without setup is active by RFC 4145 4's default, so we are passive.
 */
export function answerSetup(offered: DtlsSetup | undefined): DtlsSetup {
  if (offered === undefined || offered === 'active') return 'passive';
  return 'active';
}

/** The offerer's role once the answer names its own (the opposite; an answer must not say actpass). */
export function offererSetup(answered: DtlsSetup | undefined): DtlsSetup | undefined {
  if (answered === 'active') return 'passive';
  if (answered === 'passive') return 'active';
  return undefined;
}

export function dtlsRoleFor(ownSetup: DtlsSetup): DtlsRole {
  return ownSetup === 'active' ? 'client' : 'server';
}
