// DTLS-SRTP handshakes (calls with phones, issue 14): how long one takes and how many one core
// completes a second, both ends in this process over an in-memory pipe, with the node's
// certificates (ECDSA P-256) and the checks native/transport/dtls-handshake-proof.ts adds. The
// wall time is CPU time here: nothing waits on a network. On a real path add the round trips
// (two for the client, RFC 6347 4.2.4 with the cookie exchange).
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DtlsSession } from '../native/transport/dtls-session.js';
import { makeSelfSignedCertificate, type TlsCredentials } from '../native/wire/crypto/certificate.js';
import { fingerprintOf } from '../native/wire/sdp/dtls-attributes.js';

const HANDSHAKES = 200;

async function handshake(client: TlsCredentials, server: TlsCredentials): Promise<number> {
  const ends: { client?: DtlsSession; server?: DtlsSession } = {};
  const started = performance.now();
  ends.server = new DtlsSession({ role: 'server', credentials: server, peerFingerprint: fingerprintOf(new X509Certificate(client.certPem).raw), send: (d) => setImmediate(() => ends.client?.receive(d)) });
  ends.client = new DtlsSession({ role: 'client', credentials: client, peerFingerprint: fingerprintOf(new X509Certificate(server.certPem).raw), send: (d) => setImmediate(() => ends.server?.receive(d)) });
  const [a, b] = await Promise.all([ends.client.outcome, ends.server.outcome]);
  const took = performance.now() - started;
  ends.client.close();
  ends.server.close();
  if (!a.ok || !b.ok) throw new Error(`a benchmark handshake failed: ${JSON.stringify([a, b])}`);
  return took;
}

function percentile(sorted: number[], p: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2));
}

export async function measureDtlsSrtp(): Promise<{ handshakeMs: { p50: number; p99: number }; handshakesPerSec: number; handshakes: number }> {
  const [phone, node] = await Promise.all([makeSelfSignedCertificate('phone'), makeSelfSignedCertificate('node')]);
  for (let i = 0; i < 10; i++) await handshake(phone, node); // warm-up
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) times.push(await handshake(phone, node));
  const totalMs = performance.now() - started;
  times.sort((x, y) => x - y);
  // Both ends run here, so one core completes twice as many handshakes of one side a second.
  return { handshakeMs: { p50: percentile(times, 50), p99: percentile(times, 99) }, handshakesPerSec: Math.round((2 * HANDSHAKES * 1000) / totalMs), handshakes: HANDSHAKES };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await measureDtlsSrtp()));
