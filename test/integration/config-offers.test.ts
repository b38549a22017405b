// Configuration offers between engines over real SIP on loopback, with LAN discovery stood in
// for by an injected list of peers: Alice shares her settings, Bob sees the offer signed by her
// key, accepts it, follows her next version by himself, ignores forgeries, and stops following.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigOfferView, LanPeerView, LanView } from '../../native/control/api.js';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { createLogger } from '../../native/log.js';
import { SipStack, type IncomingRequest } from '../../native/services/sip/sip-stack.js';
import { Database } from '../../native/storage/db.js';
import { SettingsRepository } from '../../native/storage/repositories/settings-repository.js';
import { realTimers } from '../../native/transport/clock.js';
import { canonicalJson } from '../../native/wire/overlay/record.js';
import { CONFIG_OFFER_CONTENT_TYPE, CONFIG_OFFER_EVENT, encodeConfigOffer, signConfigOffer, type UnsignedConfigOffer } from '../../native/wire/lan/config-offer.js';
import { freePort, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const dirs: string[] = [];
const engines: Engine[] = [];
const cleanups: Array<() => Promise<void>> = [];

/** The discovery side, as the engine sees it: a list of peers and a change signal. */
class InjectedLan {
  private list: LanPeerView[] = [];
  private readonly listeners: Array<() => void> = [];
  peers = (): LanPeerView[] => this.list;
  onChange = (listener: () => void): void => void this.listeners.push(listener);
  set(peers: LanPeerView[]): void {
    this.list = peers;
    for (const l of this.listeners) l();
  }
}

function peerOf(port: number, nodeId: string, aor?: string): LanPeerView {
  return { nodeId, overlay: 'peerdial', host: '127.0.0.1', port, ...(aor ? { aor } : {}), via: ['mdns'], lastSeen: Date.now(), offersConfig: true };
}

async function start(userName: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, overlayConfig: FAST, registrationRefreshMs: 2_000, ...options });
  engines.push(engine);
  return engine;
}

/** The engine's settings, read through a second connection to its database (WAL lets both read). */
async function settingsOf(engine: Engine): Promise<SettingsRepository> {
  const db = await Database.open(path.join(engine.options.dataDir, 'peerdial.sqlite3'));
  cleanups.push(() => db.close());
  return new SettingsRepository(db);
}

function offerFrom(view: LanView, fingerprint: string): ConfigOfferView | undefined {
  return view.offers.find((o) => o.signerFingerprint === fingerprint);
}

/**
 * A node on the LAN that answers a `peerdial-config` SUBSCRIBE with documents it made itself,
 * and records how the subscriber answered each NOTIFY.
 */
async function startForger(bodies: () => Array<{ body: string; label: string }>): Promise<{ port: number; answers: Map<string, number> }> {
  const port = await freePort();
  const stack = new SipStack({ bind: '127.0.0.1', port, advertisedHost: '127.0.0.1', timers: realTimers, log: createLogger('forger', 'silent') });
  await stack.start();
  cleanups.push(() => stack.stop());
  const answers = new Map<string, number>();
  stack.handle('SUBSCRIBE', async (incoming: IncomingRequest) => {
    const { request } = incoming;
    const contact = /<([^>]+)>/.exec(JSON.stringify(request.headers.contact))?.[1] ?? (request.headers.contact as Array<{ uri: string }>)[0].uri;
    incoming.respond(200, { headers: { expires: 60, contact: [{ uri: `sip:127.0.0.1:${port}`, params: {} }] } });
    if (Number(request.headers.expires) === 0) return;
    let cseq = 0;
    for (const { body, label } of bodies()) {
      const outcome = await stack.request({
        method: 'NOTIFY',
        to: request.headers.from.uri,
        from: request.headers.to.uri,
        requestUri: contact,
        contact: `sip:127.0.0.1:${port}`,
        body,
        contentType: CONFIG_OFFER_CONTENT_TYPE,
        headers: { event: CONFIG_OFFER_EVENT, 'subscription-state': 'active;expires=60' },
        dialog: { callId: request.headers['call-id'], localTag: incoming.toTag, remoteTag: String(request.headers.from.params?.tag ?? ''), cseq: ++cseq, routeSet: [] },
      });
      answers.set(label, outcome.kind === 'final' ? outcome.response.status : 0);
    }
  });
  return { port, answers };
}

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  for (const c of cleanups) await c().catch(() => undefined);
  await Promise.all(dirs.map(removeDir));
});

describe('configuration offers on a LAN', () => {
  let alice: Engine;
  let bob: Engine;
  let xavier: Engine;
  let bobLan: InjectedLan;
  let bobSettings: SettingsRepository;
  let aliceFingerprint: string;
  let xavierAddress: string;
  const bobView = () => bob.api.invoke('lan.status', {});

  before(async () => {
    xavier = await start('xavier');
    alice = await start('alice');
    bobLan = new InjectedLan();
    bob = await start('bob', { lanPeers: bobLan.peers, onLanPeersChanged: bobLan.onChange });
    bobSettings = await settingsOf(bob);
    aliceFingerprint = alice.identity.current!.fingerprint;
    xavierAddress = `127.0.0.1:${xavier.sip.port}`;
  });

  it('shows Bob the offer Alice shares, signed by her key, and applies nothing before he accepts', async () => {
    const shared = await alice.api.invoke('lan.share', { config: { bootstrap: [xavierAddress], callerPolicy: 'buddies' } });
    assert.deepEqual(shared.sharing, { version: 1, config: { bootstrap: [xavierAddress], callerPolicy: 'buddies' } });
    bobLan.set([peerOf(alice.sip.port, alice.overlay.self!.id, 'sip:alice@peerdial')]);

    const offer = await until('Bob to see Alice\'s offer', async () => offerFrom(await bobView(), aliceFingerprint));
    assert.equal(offer.signerName, 'alice');
    assert.equal(offer.signerAor, 'sip:alice@peerdial');
    assert.equal(offer.version, 1);
    assert.equal(offer.state, 'available');
    assert.deepEqual(offer.config, { bootstrap: [xavierAddress], callerPolicy: 'buddies' });
    const view = await bobView();
    assert.equal(view.peers[0].port, alice.sip.port, 'the LAN peer is listed');

    assert.equal(await bobSettings.get('calls.callerPolicy'), undefined);
    assert.ok(!(await bob.api.invoke('overlay.status', {})).bootstrap.includes(xavierAddress));
  });

  it('applies the offer when Bob accepts it: his settings change and his overlay joins through the bootstrap peer', async () => {
    const view = await bob.api.invoke('lan.acceptOffer', { signerFingerprint: aliceFingerprint });
    assert.equal(offerFrom(view, aliceFingerprint)?.state, 'following');
    assert.equal(await bobSettings.get('calls.callerPolicy'), 'buddies');
    const status = await until('Bob to join the ring through Xavier', async () => {
      const s = await bob.api.invoke('overlay.status', {});
      return s.bootstrap.includes(xavierAddress) && s.successors.some((n) => n.id === xavier.overlay.self!.id) && s;
    });
    assert.ok(status.bootstrap.includes(xavierAddress));
  });

  it('applies Alice\'s next version by itself', async () => {
    await alice.api.invoke('lan.share', { config: { bootstrap: [xavierAddress], callerPolicy: 'anyone', stun: ['stun.example.org:3478'], rescue: { enabled: true, donateMbit: 4 } } });
    await until('Bob to apply version 2', async () => (await bobSettings.get('calls.callerPolicy')) === 'anyone');
    assert.deepEqual(await bobSettings.get('nat.stun'), ['stun.example.org:3478']);
    assert.deepEqual(await bobSettings.get('rescue.policy'), { enabled: true, donateMbit: 4 });
    const rescue = await until('Bob to start helping rescue sites', async () => {
      const v = await bob.api.invoke('rescue.status', {});
      return v.settings.enabled && v;
    });
    assert.equal(rescue.settings.donateMbit, 4, 'the offered donation applies at once, as the Rescue screen would');
    assert.ok(rescue.httpUrl);
    const offer = offerFrom(await bobView(), aliceFingerprint);
    assert.equal(offer?.version, 2);
    assert.equal(offer?.state, 'following');
  });

  it('ignores a tampered offer, one signed by another key, an unsigned one and a replayed older version, while following', async () => {
    const aliceKey = alice.identity.signingKey!;
    const mallory = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    const aliceSigner = { key: alice.identity.current!.publicKey, name: 'alice', aor: 'sip:alice@peerdial' };
    const evil: UnsignedConfigOffer = { signer: aliceSigner, version: 7, issuedAt: Date.now(), config: { callerPolicy: 'buddies', bootstrap: ['127.0.0.1:9'] } };
    const forger = await startForger(() => {
      const tampered = JSON.parse(encodeConfigOffer(signConfigOffer({ ...evil, config: { callerPolicy: 'anyone' } }, aliceKey)));
      tampered.config = evil.config;
      const { sig: _sig, ...unsigned } = signConfigOffer(evil, aliceKey);
      return [
        { label: 'tampered', body: JSON.stringify(tampered) },
        { label: 'other key', body: encodeConfigOffer(signConfigOffer(evil, mallory)) },
        { label: 'unsigned', body: canonicalJson(unsigned) },
        { label: 'replayed version 1', body: encodeConfigOffer(signConfigOffer({ ...evil, version: 1 }, aliceKey)) },
      ];
    });
    const before = { ...bob.lanOffers.counters };
    bobLan.set([...bobLan.peers(), peerOf(forger.port, '00'.repeat(20))]);
    await until('the forger\'s four documents to be answered', async () => forger.answers.size === 4);
    assert.deepEqual(Object.fromEntries(forger.answers), { tampered: 403, 'other key': 403, unsigned: 403, 'replayed version 1': 200 });
    assert.equal(bob.lanOffers.counters.ignoredBadSignature - before.ignoredBadSignature, 2);
    assert.equal(bob.lanOffers.counters.ignoredUnsigned - before.ignoredUnsigned, 1);
    assert.equal(bob.lanOffers.counters.ignoredStale - before.ignoredStale, 1);
    assert.equal(bob.lanOffers.counters.applied, before.applied);

    assert.equal(await bobSettings.get('calls.callerPolicy'), 'anyone');
    assert.ok(!(await bob.api.invoke('overlay.status', {})).bootstrap.includes('127.0.0.1:9'));
    const view = await bobView();
    assert.equal(offerFrom(view, aliceFingerprint)?.version, 2);
    assert.equal(view.offers.length, 1, 'no offer is listed for the forgeries');
  });

  it('stops following: Alice\'s version 3 shows but is not applied', async () => {
    const stopped = await bob.api.invoke('lan.stopFollowing', { signerFingerprint: aliceFingerprint });
    assert.equal(offerFrom(stopped, aliceFingerprint)?.state, 'stopped');
    await alice.api.invoke('lan.share', { config: { callerPolicy: 'buddies', stun: ['stun.other.example:3478'] } });
    const seen = await until('Bob to see version 3', async () => {
      const offer = offerFrom(await bobView(), aliceFingerprint);
      return offer?.version === 3 && offer;
    });
    assert.equal(seen.state, 'stopped');
    assert.equal(await bobSettings.get('calls.callerPolicy'), 'anyone');
    assert.deepEqual(await bobSettings.get('nat.stun'), ['stun.example.org:3478']);
  });

  it('keeps Bob\'s decision across a restart, and takes the offer away when Alice stops sharing', async () => {
    const dataDir = bob.options.dataDir;
    await bob.stop();
    bobLan = new InjectedLan();
    bob = await start('bob', { dataDir, lanPeers: bobLan.peers, onLanPeersChanged: bobLan.onChange });
    const remembered = offerFrom(await bobView(), aliceFingerprint);
    assert.equal(remembered?.state, 'stopped');
    assert.equal(remembered?.version, 3);

    await bob.api.invoke('lan.acceptOffer', { signerFingerprint: aliceFingerprint });
    assert.equal(await bobSettings.get('calls.callerPolicy'), 'buddies', 'accepting again applies the newest version known');

    const carol = await start('carol', { lanPeers: () => [peerOf(alice.sip.port, alice.overlay.self!.id)], onLanPeersChanged: () => undefined });
    await until('Carol to see Alice\'s offer', async () => offerFrom(await carol.api.invoke('lan.status', {}), aliceFingerprint));
    const withdrawn = await alice.api.invoke('lan.share', { config: null });
    assert.equal(withdrawn.sharing, undefined);
    await until('the offer to leave Carol\'s list', async () => (await carol.api.invoke('lan.status', {})).offers.length === 0);
    const kept = offerFrom(await bobView(), aliceFingerprint);
    assert.equal(kept?.state, 'following', 'Bob still shows the offer he follows, though Alice withdrew it');
  });

  it('refuses to share settings that are not valid, with a sentence', async () => {
    await assert.rejects(alice.api.invoke('lan.share', { config: { bootstrap: ['nowhere'] } }), (e: { code?: string; message?: string }) => e.code === 'INVALID_ARGUMENT' && /HOST:PORT/.test(e.message ?? ''));
    await assert.rejects(alice.api.invoke('lan.share', { config: {} }), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(bob.api.invoke('lan.acceptOffer', { signerFingerprint: '0000 0000' }), (e: { code?: string }) => e.code === 'NOT_FOUND');
  });
});
