// Trusted rescue: the certificates a site issues its trusted rescuers, the trust and purge
// messages, a rescuer refusing forged and replayed purges, and an origin refusing a trusted
// rescuer whose certificate expired (over a real TLS handshake), with what its status page shows.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { decodeDsrp, encodeDsrp, originIdOf, signDsrp, type AcceptMessage, type PurgeMessage, type SosMessage, type TrustMessage } from '../../../native/wire/rescue/dsrp.js';
import { certificatePem, checkRescueCertificate, issueRescueCertificate, makeRescueCa, makeRescueTlsKey } from '../../../native/wire/rescue/rescue-certificate.js';
import { RescueTrust } from '../../../native/services/rescue/rescue-trust.js';
import { RescueSession } from '../../../native/services/rescue/rescue-session.js';
import { OriginTrust } from '../../../native/services/origin/origin-trust.js';
import { MarkedAnswers } from '../../../native/services/origin/origin-marked-cache.js';
import { renderOriginStatusPage } from '../../../native/services/origin/origin-status-page.js';
import type { DsrpMessage } from '../../../native/wire/rescue/dsrp.js';
import type { OriginView } from '../../../native/services/rescue/rescue-view.js';
import { createLogger } from '../../../native/log.js';

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { raw: spki.subarray(spki.length - 32), pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

const HOST = 'r1.rescue.example.test';
const origin = keyPair();
const stranger = keyPair();
const originId = originIdOf(origin.raw);
let ca: { certPem: string; keyPem: string };

function sos(now: number): SosMessage {
  return signDsrp<SosMessage>(
    { type: 'sos', origin: originId, at: now, site: 'https://www.example.test/', upstream: 'http://127.0.0.1:8080/', sip: 'sip:origin@127.0.0.1:5060', wantRps: 10, meanBytes: 1000 },
    origin.raw,
    origin.pkcs8,
  );
}

function purge(seq: number, now: number, by = origin, prefixes = ['/api/items']): PurgeMessage {
  return signDsrp<PurgeMessage>({ type: 'purge', origin: originId, at: now, seq, prefixes } as never, by.raw, by.pkcs8);
}

before(async () => {
  ca = await makeRescueCa('Example test rescue CA');
});

describe('rescue certificates', () => {
  it('a certificate the site issues names the rescue host and the rescuer\'s own key, and chains to the site\'s CA', async () => {
    const key = makeRescueTlsKey();
    const now = Date.now();
    const der = await issueRescueCertificate({ ca, host: HOST, spki: key.spki, notBefore: now - 60_000, notAfter: now + 3_600_000 });
    const check = checkRescueCertificate(der, { host: HOST, spki: key.spki, caCertPem: ca.certPem, now });
    assert.ok(check.ok);
    assert.equal(checkRescueCertificate(der, { host: 'www.example.test', spki: key.spki, now }).ok, false, 'not for the site\'s own name');
    assert.equal(checkRescueCertificate(der, { host: HOST, spki: makeRescueTlsKey().spki, now }).ok, false, 'not for another key');
    const other = await makeRescueCa('Someone else');
    assert.deepEqual(checkRescueCertificate(der, { host: HOST, caCertPem: other.certPem, now }), { ok: false, expired: false, reason: 'not issued by the site\'s CA' });
    const late = checkRescueCertificate(der, { host: HOST, now: now + 2 * 3_600_000 });
    assert.equal(late.ok, false);
    assert.equal(!late.ok && late.expired, true);
  });
});

describe('trust and purge messages', () => {
  it('decode when the origin signed them, and a purge by another key naming the origin is refused', () => {
    const now = Date.now();
    const good = decodeDsrp(encodeDsrp(purge(5, now)), now);
    assert.ok(good.ok);
    assert.equal((good.message as PurgeMessage).seq, 5);
    const forged = decodeDsrp(encodeDsrp(purge(6, now, stranger)), now);
    assert.deepEqual(forged, { ok: false, reason: 'origin ID does not match the signing key' });
    const tampered = JSON.parse(encodeDsrp(purge(7, now))) as PurgeMessage;
    tampered.prefixes = ['/'];
    assert.deepEqual(decodeDsrp(JSON.stringify(tampered), now), { ok: false, reason: 'bad signature' });
    assert.equal(decodeDsrp(encodeDsrp(purge(8, now - 10 * 60_000)), now).ok, false, 'an old purge is stale');
    const badPrefix = signDsrp<PurgeMessage>({ type: 'purge', origin: originId, at: now, seq: 9, prefixes: ['api'] } as never, origin.raw, origin.pkcs8);
    assert.deepEqual(decodeDsrp(encodeDsrp(badPrefix), now), { ok: false, reason: 'bad purge prefixes' });
  });
});

describe('a trusted rescuer (RescueTrust)', () => {
  it('serves a rescue host name only with a certificate for its own key, applies purges in order and refuses replays', async () => {
    let now = Date.now();
    const purged: string[][] = [];
    const trust = new RescueTrust({ purge: async (_id, prefixes) => (purged.push(prefixes), 1), now: () => now });
    const session = new RescueSession(sos(now), now);
    session.state = 'active';
    const der = await issueRescueCertificate({ ca, host: HOST, spki: trust.tlsKey.spki, notBefore: now - 60_000, notAfter: now + 3_600_000 });
    const otherDer = await issueRescueCertificate({ ca, host: HOST, spki: makeRescueTlsKey().spki, notBefore: now - 60_000, notAfter: now + 3_600_000 });
    const trustMessage = (chain: string[]) =>
      signDsrp<TrustMessage>({ type: 'trust', origin: originId, at: now, host: HOST, chain, dynamic: ['/api/'] } as never, origin.raw, origin.pkcs8);

    assert.deepEqual(trust.onTrust(trustMessage([otherDer]), session), { status: 400, reason: 'certificate refused: not for this rescuer\'s key' });
    assert.equal(trust.context(HOST), undefined);
    assert.deepEqual(trust.onTrust(trustMessage([der]), session), { status: 200 });
    assert.ok(trust.context(HOST));
    assert.equal(trust.originOfHost(HOST), originId);
    assert.equal(trust.marked(session, '/api/items?id=3'), true);
    assert.equal(trust.marked(session, '/index.html'), false);

    assert.deepEqual(await trust.onPurge(purge(10, now)), { status: 200 });
    assert.deepEqual(purged, [['/api/items']]);
    const replay = await trust.onPurge(purge(10, now));
    assert.equal(replay.status, 400);
    assert.match((replay as { reason: string }).reason, /replayed purge/);
    assert.equal((await trust.onPurge(purge(9, now))).status, 400, 'an older sequence number is a replay too');
    assert.deepEqual(purged, [['/api/items']], 'a replay purges nothing');
    assert.deepEqual(trust.report(originId), { purgeSeq: 10, purgesRefused: 2 });

    // A fetch under way keeps its answer unless a purge since it began covered its path.
    const began = trust.generation(originId);
    await trust.onPurge(purge(11, now, origin, ['/api/items/7']));
    assert.equal(trust.purgedSince(originId, began, '/api/items/7?full=1'), true);
    assert.equal(trust.purgedSince(originId, began, '/api/items/8'), false, 'another item\'s answer is still good');
    assert.equal(trust.purgedSince(originId, trust.generation(originId), '/api/items/7'), false);
    trust.countRefused(originId); // a forged one the server could not decode
    assert.deepEqual(trust.report(originId), { purgeSeq: 11, purgesRefused: 3 });

    // After the rescue ends and a new one starts, the old purge is still a replay.
    trust.end(originId);
    assert.equal(trust.context(HOST), undefined);
    assert.deepEqual(trust.onTrust(trustMessage([der]), session), { status: 200 });
    assert.equal((await trust.onPurge(purge(10, now))).status, 400);

    // The certificate runs out: the name is no longer served.
    now += 2 * 3_600_000;
    assert.equal(trust.context(HOST), undefined);
  });

  it('refuses purges and trust from a site it does not rescue', async () => {
    const now = Date.now();
    const trust = new RescueTrust({ purge: async () => 0, now: () => now });
    assert.equal((await trust.onPurge(purge(1, now))).status, 403);
    const message = signDsrp<TrustMessage>({ type: 'trust', origin: originId, at: now, dynamic: ['/api/'] } as never, origin.raw, origin.pkcs8);
    assert.equal(trust.onTrust(message, undefined).status, 481);
    assert.deepEqual(trust.report(originId), { purgesRefused: 1 });
  });
});

describe('the origin and a trusted rescuer whose certificate expired', () => {
  let server: Server;
  let port: number;
  const rescuer = keyPair();
  const tlsKey = makeRescueTlsKey();

  before(async () => {
    // The rescuer serves a certificate the site issued it that ran out an hour ago.
    const now = Date.now();
    const expired = await issueRescueCertificate({ ca, host: HOST, spki: tlsKey.spki, notBefore: now - 3 * 3_600_000, notAfter: now - 3_600_000 });
    server = createServer({ key: tlsKey.keyPem, cert: certificatePem(expired) }, (_req, res) => res.end('old'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is refused, counted, never sent users, and shown on the status page', async () => {
    const sent: DsrpMessage[] = [];
    const dropped: string[] = [];
    const events: string[] = [];
    let now = Date.now();
    const trust = new OriginTrust(
      { rescuers: new Map([[rescuer.raw.toString('base64url'), HOST]]), ca, certValidityMs: 3_600_000, dynamic: [], https: true },
      {
        originId,
        key: { raw: origin.raw, privateKey: origin.pkcs8 },
        // The rescuer takes the fresh certificate but keeps serving its old one.
        send: async (_key, message) => (sent.push(message), 200),
        drop: async (key, reason) => void dropped.push(`${key}: ${reason}`),
        onEvent: (text) => events.push(text),
        log: createLogger('test', 'error'),
        now: () => now,
      },
    );
    const accept = signDsrp<AcceptMessage>(
      { type: 'accept', origin: originId, at: now, http: 'http://127.0.0.1:1', allowedRps: 10, tls: { spki: tlsKey.spki, https: `https://127.0.0.1:${port}` } } as never,
      rescuer.raw,
      rescuer.pkcs8,
    );
    trust.accepted(accept);
    const deadline = Date.now() + 5_000;
    while (trust.view().rescuers[0]?.state === 'waiting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    now = Date.now();

    assert.equal(sent[0]?.type, 'trust', 'the rescuer got a certificate for its name');
    const view = trust.view();
    assert.equal(view.rescuers[0].state, 'refused');
    assert.match(view.rescuers[0].reason ?? '', /r1\.rescue\.example\.test: its certificate expired/);
    assert.equal(view.totals.expiredCertificates, 1);
    assert.equal(view.totals.certificatesRefused, 1);
    assert.equal(trust.base(rescuer.raw.toString('base64url')), undefined, 'no user is sent there');
    assert.equal(dropped.length, 1);

    const page = renderOriginStatusPage({ ...emptyView(), trust: view }, 'https://www.example.test/');
    assert.match(page, /Trusted rescuers/);
    assert.match(page, /1 refused \(1 expired\)/);
    assert.match(page, /refused \(its certificate for r1\.rescue\.example\.test: its certificate expired/);
  });
});

function emptyView(): OriginView {
  return {
    originId,
    state: 'sos',
    load: 0.9,
    band: { low: 0.6, high: 0.8 },
    redirectProbability: 0.5,
    requestsPerSecond: 10,
    egressMbps: 1,
    capacityMbps: 1,
    upstreamLatencyMs: 1,
    cpu: 0.1,
    rescuers: [],
    totals: { requests: 0, redirected: 0, served: 0, upstreamErrors: 0, spotChecks: 0, spotCheckFailures: 0, byName: 0, refusedHosts: 0 },
    log: [],
  };
}

describe('an HTTPS site and a volunteer it did not pin', () => {
  it('is released at once: its users go to pinned rescuers only', async () => {
    const volunteer = keyPair();
    const dropped: string[] = [];
    const sent: DsrpMessage[] = [];
    const trust = new OriginTrust(
      { rescuers: new Map([[stranger.raw.toString('base64url'), HOST]]), ca, certValidityMs: 3_600_000, dynamic: [], https: true },
      {
        originId,
        key: { raw: origin.raw, privateKey: origin.pkcs8 },
        send: async (_key, message) => (sent.push(message), 200),
        drop: async (key, reason) => void dropped.push(`${key}: ${reason}`),
        onEvent: () => undefined,
        log: createLogger('test', 'error'),
        now: () => Date.now(),
      },
    );
    const accept = signDsrp<AcceptMessage>({ type: 'accept', origin: originId, at: Date.now(), http: 'http://127.0.0.1:1', allowedRps: 10 } as never, volunteer.raw, volunteer.pkcs8);
    trust.accepted(accept);
    assert.equal(trust.pinned(volunteer.raw.toString('base64url')), false);
    assert.deepEqual(dropped, [`${volunteer.raw.toString('base64url')}: not pinned: an HTTPS site is rescued only by rescuers it trusts`]);
    assert.equal(sent.length, 0, 'no certificate, no marked paths');
    assert.equal(trust.base(volunteer.raw.toString('base64url')), undefined);
  });
});

describe('the origin\'s copy of marked answers (MarkedAnswers)', () => {
  const answer = (value: string) => ({ status: 200, headers: { 'cache-control': 'max-age=0' }, body: Buffer.from(value) });

  it('runs a query once for every rescuer that misses it, and never keeps an answer a purge overtook', async () => {
    const answers = new MarkedAnswers(() => Date.now());
    let queries = 0;
    let release!: () => void;
    const slow = () => new Promise<ReturnType<typeof answer>>((resolve) => (release = () => resolve(answer(`v${++queries}`))));
    const ten = Array.from({ length: 10 }, () => answers.get('/api/items/1', slow));
    release();
    assert.deepEqual(new Set((await Promise.all(ten)).map((r) => r.body.toString())), new Set(['v1']));
    assert.equal(queries, 1);
    assert.equal((await answers.get('/api/items/1', slow)).body.toString(), 'v1', 'kept until purged');

    answers.purge(['/api/items/1']);
    const during = answers.get('/api/items/1', slow);
    answers.purge(['/api/items/1']); // the data changed again while the query ran
    release();
    assert.equal((await during).body.toString(), 'v2');
    const after = answers.get('/api/items/1', slow);
    release();
    assert.equal((await after).body.toString(), 'v3', 'the answer the purge overtook was not kept');
  });

  it('keeps nothing private', async () => {
    const answers = new MarkedAnswers(() => Date.now());
    let queries = 0;
    const mine = async () => (queries++, { status: 200, headers: { 'cache-control': 'private' }, body: Buffer.from('me') });
    await answers.get('/api/me', mine);
    await answers.get('/api/me', mine);
    assert.equal(queries, 2);
  });
});
