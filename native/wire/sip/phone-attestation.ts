// A user's node speaks for the user's own SIP phones: when it proxies a phone's INVITE or MESSAGE
// into the overlay, the From is the user's AOR but the phone can neither encrypt end to end nor
// seal, so the node adds `Peerdial-Phone: t=MS;sig=SIG`, an Ed25519 signature by the user's
// identity key over the request's identifying fields and a digest of its body. The far end then
// takes that one request in the clear, as "a phone of alice", where a plain request merely
// claiming alice's AOR is refused. The other way, a user's encrypted call that one of the user's
// phones answers comes back with the same header on the phone's plain 200, so the caller knows
// the user's node, not someone on the path, made the call plain. docs/protocol.md, "Phones of a
// Peerdial user".
import { createHash } from 'node:crypto';
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';
import type { KeyObject } from 'node:crypto';
import { isRequest, type SipRequest, type SipResponse } from './message.js';

export const PHONE_ATTESTATION_HEADER = 'peerdial-phone';
/** How far the signing time may be from the checker's clock. */
export const PHONE_ATTESTATION_WINDOW_MS = 5 * 60_000;

/**
 * What is signed: for a request its method, Call-ID, From URI and tag, To URI and CSeq; for a
 * response (a phone's answer) its status, Call-ID, From tag, To tag and CSeq; then the time and
 * SHA-256 of the body, so neither the SDP nor the text can be swapped.
 */
function signedBytes(message: SipRequest | SipResponse, at: number): Buffer {
  const h = message.headers;
  const body = Buffer.isBuffer(message.content) ? message.content : Buffer.from(String(message.content ?? ''), 'latin1');
  const request = isRequest(message);
  const lines = [
    ...(request ? ['peerdial-phone/1', message.method] : ['peerdial-phone-answer/1', String((message as SipResponse).status)]),
    String(h['call-id'] ?? ''),
    request ? String(h.from?.uri ?? '') : '',
    String(h.from?.params?.tag ?? ''),
    request ? String(h.to?.uri ?? '') : String(h.to?.params?.tag ?? ''),
    String(h.cseq?.seq ?? ''),
    String(at),
    createHash('sha256').update(body).digest('base64url'),
  ];
  return Buffer.from(lines.join('\n'), 'utf8');
}

/** The header's value for a phone's request, or its answer, signed at `at` by the user's key. */
export function attestPhoneRequest(message: SipRequest | SipResponse, at: number, userKey: Buffer | KeyObject): string {
  return `t=${at};sig=${signEd25519(signedBytes(message, at), userKey)}`;
}

export type AttestationCheck = 'valid' | 'absent' | 'invalid' | 'stale';

/** Whether a request or answer carries a fresh attestation by `userKey` (raw Ed25519, base64url). */
export function checkPhoneAttestation(message: SipRequest | SipResponse, userKey: string, now: number): AttestationCheck {
  const raw = message.headers[PHONE_ATTESTATION_HEADER];
  if (raw === undefined) return 'absent';
  const match = /^t=(\d{1,15});sig=([A-Za-z0-9_-]{86})$/.exec(String(Array.isArray(raw) ? raw[0] : raw).trim());
  if (!match) return 'invalid';
  const at = Number(match[1]);
  if (Math.abs(now - at) > PHONE_ATTESTATION_WINDOW_MS) return 'stale';
  return verifyEd25519(signedBytes(message, at), match[2], userKey) ? 'valid' : 'invalid';
}

/** A phone cannot take an end-to-end key: the offer it is forked is the same call in plain RTP/AVP. */
export function plainOfferForPhone(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=peerdial-srtp:'))
    .map((line) => (line.startsWith('m=audio ') ? line.replace(' RTP/SAVP ', ' RTP/AVP ') : line))
    .join('\r\n');
}
