// The checks of a DTLS 1.2 handshake that werift-dtls 0.5.8 leaves out, run once it reports the
// handshake done and before any SRTP key is taken from it. Without them a peer that merely copies
// a certificate (it crosses the wire in clear) would match the SDP fingerprint:
//   as client: the ServerKeyExchange is signed by the certificate's key (RFC 5246 7.4.3), and the
//              server's Finished is right (7.4.9);
//   as server: the client's CertificateVerify signs the transcript (7.4.8), and its Finished is right.
// They read werift's handshake cache, master secret and randoms: internals, which is why
// package.json pins werift-dtls to one exact version (docs/architecture.md, "DTLS-SRTP").
import { createHash, createHmac, timingSafeEqual, verify, X509Certificate } from 'node:crypto';
import type { DtlsSocket } from 'werift-dtls/lib/dtls/src/index.js';

/** RFC 5246 7.4.1.4.1: hash and signature algorithm numbers. */
const HASHES: Record<number, string> = { 4: 'sha256', 5: 'sha384', 6: 'sha512' };
const SIGNATURE_RSA = 1;
const SIGNATURE_ECDSA = 3;
/** RFC 5246 7.4: handshake message types. */
const SERVER_KEY_EXCHANGE = 12;
const CERTIFICATE_VERIFY = 15;
const FINISHED = 20;
/** RFC 4492 5.4: ECParameters.curve_type named_curve. */
const NAMED_CURVE = 3;
const VERIFY_DATA_BYTES = 12;

export interface PeerHandshakeMessage {
  type: number;
  body: Buffer;
}

/** Call right after making the socket: keeps every handshake message the peer sends. */
export function recordPeerHandshake(socket: DtlsSocket): PeerHandshakeMessage[] {
  const seen: PeerHandshakeMessage[] = [];
  const handle = socket.onHandleHandshakes;
  socket.onHandleHandshakes = (assembled) => {
    for (const message of assembled) seen.push({ type: message.msg_type, body: Buffer.from(message.fragment) });
    return handle(assembled);
  };
  return seen;
}

/** RFC 5246 5: P_SHA256, the TLS 1.2 PRF of the cipher suites werift offers. */
function prf(secret: Buffer, label: string, seed: Buffer, bytes: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'ascii'), seed]);
  const out: Buffer[] = [];
  let a = labelSeed;
  for (let total = 0; total < bytes; total += 32) {
    a = createHmac('sha256', secret).update(a).digest();
    out.push(createHmac('sha256', secret).update(a).update(labelSeed).digest());
  }
  return Buffer.concat(out).subarray(0, bytes);
}

function signedBy(certificate: Buffer, hashId: number, signatureId: number, data: Buffer, signature: Buffer): boolean {
  const hash = HASHES[hashId];
  if (!hash || (signatureId !== SIGNATURE_ECDSA && signatureId !== SIGNATURE_RSA)) return false;
  try {
    const key = new X509Certificate(certificate).publicKey;
    if ((signatureId === SIGNATURE_ECDSA) !== (key.asymmetricKeyType === 'ec')) return false;
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}

function finishedMatches(masterSecret: Buffer, label: string, transcript: Buffer, finished: Buffer): boolean {
  const expected = prf(masterSecret, label, createHash('sha256').update(transcript).digest(), VERIFY_DATA_BYTES);
  return finished.length === VERIFY_DATA_BYTES && timingSafeEqual(expected, finished);
}

/** Undefined when the peer proved it holds its certificate's key and both sides saw the same handshake; else why not. */
export function handshakeProofProblem(socket: DtlsSocket, role: 'client' | 'server', peer: PeerHandshakeMessage[]): string | undefined {
  const cipher = socket.cipher;
  const certificate = cipher.remoteCertificate;
  if (!certificate) return 'the peer presented no certificate';
  const last = (type: number) => [...peer].reverse().find((m) => m.type === type);
  const transcript = socket.dtls.sortedHandshakeCache.map((h) => ({ type: h.msg_type, bytes: Buffer.from(h.serialize()) }));
  const finished = last(FINISHED);
  if (!finished) return 'the peer sent no Finished';
  if (role === 'client') {
    const exchange = last(SERVER_KEY_EXCHANGE);
    if (!exchange) return 'the server sent no ServerKeyExchange';
    const body = exchange.body;
    if (body.length < 4 || body[0] !== NAMED_CURVE) return 'the ServerKeyExchange is not for a named curve';
    const paramsEnd = 4 + body[3];
    if (body.length < paramsEnd + 4) return 'the ServerKeyExchange is cut short';
    const signature = body.subarray(paramsEnd + 4, paramsEnd + 4 + body.readUInt16BE(paramsEnd + 2));
    const signed = Buffer.concat([cipher.localRandom.serialize(), cipher.remoteRandom.serialize(), body.subarray(0, paramsEnd)]);
    if (!signedBy(certificate, body[paramsEnd], body[paramsEnd + 1], signed, signature)) return 'the ServerKeyExchange is not signed by the key of the certificate presented';
    // The server's Finished covers the whole handshake up to and including our own Finished.
    if (!finishedMatches(cipher.masterSecret, 'server finished', Buffer.concat(transcript.map((t) => t.bytes)), finished.body)) return "the server's Finished does not match the handshake";
    return undefined;
  }
  const verifyAt = transcript.findIndex((t) => t.type === CERTIFICATE_VERIFY);
  const certificateVerify = last(CERTIFICATE_VERIFY);
  if (verifyAt < 0 || !certificateVerify || certificateVerify.body.length < 4) return 'the client did not prove it holds its certificate (no CertificateVerify)';
  const body = certificateVerify.body;
  const before = Buffer.concat(transcript.slice(0, verifyAt).map((t) => t.bytes));
  if (!signedBy(certificate, body[0], body[1], before, body.subarray(4, 4 + body.readUInt16BE(2)))) return 'the CertificateVerify is not signed by the key of the certificate presented';
  const finishedAt = transcript.findIndex((t) => t.type === FINISHED);
  const upToFinished = Buffer.concat(transcript.slice(0, finishedAt < 0 ? transcript.length : finishedAt).map((t) => t.bytes));
  if (!finishedMatches(cipher.masterSecret, 'client finished', upToFinished, finished.body)) return "the client's Finished does not match the handshake";
  return undefined;
}
