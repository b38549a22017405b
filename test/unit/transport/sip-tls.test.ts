// SIP over TLS at the socket level: a pinned certificate that matches, one that does not (no
// byte of SIP leaves), and a connection the peer opened reused for requests to its listener
// (RFC 5923) only when it presented the certificate the request pins.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SipSockets, TlsCertificateError, type Remote } from '../../../native/transport/sip-sockets.js';
import { makeSelfSignedCertificate, type TlsCredentials } from '../../../native/wire/crypto/certificate.js';

interface Peer {
  sockets: SipSockets;
  credentials: TlsCredentials;
  heard: Array<{ text: string; remote: Remote }>;
}

async function peer(): Promise<Peer> {
  const credentials = await makeSelfSignedCertificate('test');
  const heard: Peer['heard'] = [];
  const sockets = await SipSockets.open({ bind: '127.0.0.1', port: 0, tls: credentials, onMessage: (bytes, remote) => heard.push({ text: bytes.toString(), remote }) });
  return { sockets, credentials, heard };
}

const options = (n: number) => Buffer.from(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: ${n}\r\nContent-Length: 0\r\n\r\n`);

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SIP over TLS sockets', () => {
  let a: Peer;
  let b: Peer;
  before(async () => {
    [a, b] = [await peer(), await peer()];
  });
  after(async () => {
    await a.sockets.close();
    await b.sockets.close();
  });

  const tlsOf = (p: Peer, certificate?: string): Remote => ({ protocol: 'tls', address: '127.0.0.1', port: p.sockets.tlsPort!, ...(certificate ? { certificate } : {}) });

  it('listens for TLS beside UDP and TCP, presenting its certificate', () => {
    assert.ok(a.sockets.tlsPort && a.sockets.tlsPort !== a.sockets.port);
    assert.match(a.credentials.fingerprint, /^[A-Za-z0-9_-]{43}$/);
  });

  it('sends to the certificate it pins; the receiver sees TLS and the sender\'s own certificate', async () => {
    await a.sockets.send(options(1), tlsOf(b, b.credentials.fingerprint));
    const got = await until('the request at b', () => b.heard.find((h) => h.text.includes('Call-ID: 1')));
    assert.equal(got.remote.protocol, 'tls');
    assert.equal(got.remote.certificate, a.credentials.fingerprint);
  });

  it('refuses a peer that presents another certificate: an error that says so, counted, nothing sent', async () => {
    const mismatches = a.sockets.stats.tlsCertificateMismatches;
    const heard = b.heard.length;
    await assert.rejects(a.sockets.send(options(2), tlsOf(b, a.credentials.fingerprint)), (e: unknown) => e instanceof TlsCertificateError && /another certificate/.test(e.message));
    assert.equal(a.sockets.stats.tlsCertificateMismatches, mismatches + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(b.heard.length, heard, 'b heard nothing');
  });

  it('reuses the connection a peer opened for requests to its listener (RFC 5923), only with the certificate it presented', async () => {
    const fromA = b.heard.find((h) => h.text.includes('Call-ID: 1'))!.remote;
    b.sockets.alias(fromA, '127.0.0.1', a.sockets.tlsPort!);
    const connections = a.sockets.connectionCount;
    await b.sockets.send(options(3), tlsOf(a, a.credentials.fingerprint));
    const got = await until('the request at a', () => a.heard.find((h) => h.text.includes('Call-ID: 3')));
    assert.equal(b.sockets.stats.tlsReused, 1);
    assert.equal(got.remote.port, b.sockets.tlsPort, 'it came back on the connection a opened to b\'s listener');
    assert.equal(a.sockets.connectionCount, connections, 'a accepted no new connection');
    // A request pinning another certificate does not take the aliased connection: it opens its own, and fails.
    await assert.rejects(b.sockets.send(options(4), tlsOf(a, b.credentials.fingerprint)), TlsCertificateError);
    assert.equal(b.sockets.stats.tlsReused, 1);
  });
});
