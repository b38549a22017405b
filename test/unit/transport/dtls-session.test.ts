import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { DtlsSession, type DtlsCredentials, type DtlsOutcome } from '../../../native/transport/dtls-session.js';
import { makeSelfSignedCertificate } from '../../../native/wire/crypto/certificate.js';
import { fingerprintOf } from '../../../native/wire/sdp/dtls-attributes.js';
import { splitDtlsSrtpKeys } from '../../../native/wire/srtp/dtls-srtp-keys.js';
import { SrtpReceiver, SrtpSender } from '../../../native/wire/srtp/srtp.js';

const fingerprint = (credentials: DtlsCredentials) => fingerprintOf(new X509Certificate(credentials.certPem).raw);

/** Two sessions joined by an in-memory datagram pipe; `tamper` may drop or alter what the client sends. */
function handshake(client: DtlsCredentials, server: DtlsCredentials, expect: { byClient: DtlsCredentials; byServer: DtlsCredentials }, tamper?: (datagram: Buffer, n: number) => Buffer | undefined) {
  const ends: { client?: DtlsSession; server?: DtlsSession } = {};
  let sentByClient = 0;
  const serverSide = new DtlsSession({ role: 'server', credentials: server, peerFingerprint: fingerprint(expect.byServer), timeoutMs: 5000, send: (d) => setImmediate(() => ends.client?.receive(d)) });
  ends.server = serverSide;
  const clientSide = new DtlsSession({
    role: 'client',
    credentials: client,
    peerFingerprint: fingerprint(expect.byClient),
    timeoutMs: 5000,
    send: (d) => {
      const out = tamper ? tamper(d, ++sentByClient) : d;
      if (out) setImmediate(() => ends.server?.receive(out));
    },
  });
  ends.client = clientSide;
  return { client: clientSide, server: serverSide };
}

function close(...sessions: DtlsSession[]): void {
  for (const s of sessions) s.close();
}

describe('DTLS-SRTP session (RFC 5764)', () => {
  let alice: DtlsCredentials;
  let bob: DtlsCredentials;
  let mallory: DtlsCredentials;
  before(async () => {
    [alice, bob, mallory] = await Promise.all(['alice', 'bob', 'mallory'].map((n) => makeSelfSignedCertificate(n)));
  });

  it('gives both ends matching SRTP keys: what one protects, the other opens', async () => {
    const { client, server } = handshake(alice, bob, { byClient: bob, byServer: alice });
    const [c, s] = await Promise.all([client.outcome, server.outcome]);
    close(client, server);
    assert.ok(c.ok && s.ok, JSON.stringify([c, s]));
    assert.equal(c.keys.suite, 'AEAD_AES_128_GCM', 'both offer GCM first');
    assert.deepEqual(c.keys.send, s.keys.receive);
    assert.deepEqual(c.keys.receive, s.keys.send);
    const rtp = Buffer.from('800000010000000a0000beef' + '55'.repeat(160), 'hex');
    const sealed = new SrtpSender(c.keys.send.key, c.keys.send.salt, c.keys.suite).protect(rtp);
    const opened = new SrtpReceiver(s.keys.receive.key, s.keys.receive.salt, s.keys.suite).unprotect(sealed);
    assert.ok(opened.ok);
    assert.deepEqual(opened.rtp, rtp);
  });

  it('survives the loss of the first ClientHello (retransmission)', async () => {
    const { client, server } = handshake(alice, bob, { byClient: bob, byServer: alice }, (d, n) => (n === 1 ? undefined : d));
    const [c, s] = await Promise.all([client.outcome, server.outcome]);
    close(client, server);
    assert.ok(c.ok && s.ok);
  });

  it('refuses a peer whose certificate is not the one its fingerprint names', async () => {
    // The server expects bob's certificate from the client, which presents alice's.
    const { client, server } = handshake(alice, bob, { byClient: bob, byServer: bob });
    const s = await server.outcome;
    close(client, server);
    assert.equal(s.ok, false);
    assert.equal((s as Extract<DtlsOutcome, { ok: false }>).problem, 'wrong-certificate');
  });

  for (const liar of ['client', 'server'] as const) {
    it(`refuses a ${liar} that presents a copied certificate without its key`, async () => {
      // Mallory presents alice's certificate (seen in clear in any handshake of hers) with her own key.
      const lying = { certPem: alice.certPem, keyPem: mallory.keyPem };
      const honest = bob;
      const { client, server } = liar === 'client'
        ? handshake(lying, honest, { byClient: honest, byServer: alice })
        : handshake(honest, lying, { byClient: alice, byServer: honest });
      const victim = liar === 'client' ? server : client;
      const outcome = await victim.outcome;
      close(client, server);
      assert.equal(outcome.ok, false, 'the handshake must not yield keys');
      assert.equal((outcome as Extract<DtlsOutcome, { ok: false }>).problem, 'wrong-certificate');
      assert.match((outcome as Extract<DtlsOutcome, { ok: false }>).reason, /not signed by the key of the certificate presented/);
    });
  }

  it('fails, without throwing, on garbage and when nobody answers', async () => {
    const lonely = new DtlsSession({ role: 'client', credentials: alice, peerFingerprint: fingerprint(bob), timeoutMs: 300, send: () => undefined });
    lonely.receive(Buffer.from([0x16, 0xfe, 0xfd, 0xff, 0xff]));
    lonely.receive(Buffer.alloc(0));
    const outcome = await lonely.outcome;
    lonely.close();
    assert.equal(outcome.ok, false);
    assert.match((outcome as Extract<DtlsOutcome, { ok: false }>).reason, /no DTLS handshake within/);
  });
});

describe('DTLS-SRTP keying material (RFC 5764 4.2)', () => {
  it('splits client key | server key | client salt | server salt, each side sending with its own', () => {
    const material = Buffer.from(Array.from({ length: 60 }, (_, i) => i));
    const client = splitDtlsSrtpKeys(material, 'AES_CM_128_HMAC_SHA1_80', 'client');
    const server = splitDtlsSrtpKeys(material, 'AES_CM_128_HMAC_SHA1_80', 'server');
    assert.deepEqual(client.send.key, material.subarray(0, 16));
    assert.deepEqual(client.receive.key, material.subarray(16, 32));
    assert.deepEqual(client.send.salt, material.subarray(32, 46));
    assert.deepEqual(client.receive.salt, material.subarray(46, 60));
    assert.deepEqual(server.send, client.receive);
    assert.deepEqual(server.receive, client.send);
    assert.equal(splitDtlsSrtpKeys(Buffer.alloc(56), 'AEAD_AES_128_GCM', 'client').send.salt.length, 12);
    assert.throws(() => splitDtlsSrtpKeys(Buffer.alloc(56), 'AES_CM_128_HMAC_SHA1_80', 'client'), RangeError);
  });
});
