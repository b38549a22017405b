// Buddies and presence between nodes of one overlay, over real SIP on loopback: requests and
// answers, live status, a buddy whose node is killed, strangers and forgeries refused, and a
// key that changes.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import type { BuddyView } from '../../native/control/api.js';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { offlineBoundMs } from '../../native/proto/sip/subscription-timing.js';
import { BUDDY_CONTENT_TYPE, encodeBuddyMessage } from '../../native/wire/presence/buddy-message.js';
import { buildPidf, PIDF_CONTENT_TYPE } from '../../native/wire/presence/pidf.js';
import { signPayload, subscribeSigningText } from '../../native/wire/presence/signature.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { removeDir, startNode, tempDataDir, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const EXPIRES_S = 4;
const dirs: string[] = [];
const engines: Engine[] = [];

async function start(userName: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const dataDir = options.dataDir ?? (await tempDataDir());
  if (!options.dataDir) dirs.push(dataDir);
  const engine = await Engine.start({
    dataDir,
    bind: '127.0.0.1',
    sipPort: 0,
    user: { userName },
    overlayConfig: FAST,
    registrationRefreshMs: 2_000,
    presenceExpiresSeconds: EXPIRES_S,
    ...options,
  });
  engines.push(engine);
  return engine;
}

async function buddyOf(list: Promise<BuddyView[]>, aor: string): Promise<BuddyView | undefined> {
  return (await list).find((b) => b.aor === aor);
}

/** Sends one raw SIP request over UDP from a socket of its own and resolves with the final response's status line. */
async function sendRaw(port: number, build: (local: number) => string): Promise<string> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no final response')), 5_000);
      socket.on('message', (data) => {
        const text = data.toString('utf8');
        const status = /^SIP\/2\.0 (\d{3}) .*$/m.exec(text);
        if (status && Number(status[1]) >= 200) {
          clearTimeout(timer);
          resolve(status[0].trim());
        }
      });
      socket.send(build(local), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

function request(method: string, lines: string[], body = ''): string {
  return [method, ...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await Promise.all(dirs.map(removeDir));
});

describe('buddies and presence on an overlay of three nodes', () => {
  let bob: Engine;
  let carol: Engine;
  let alice: NodeProcess;
  let aliceApi: NodeControl;
  const ALICE = 'sip:alice@peerdial';
  const BOB = 'sip:bob@peerdial';

  before(async () => {
    bob = await start('bob');
    carol = await start('carol', { bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    // Alice is a separate process, so that she can really be killed.
    alice = await startNode({ user: 'alice', args: ['--bootstrap', `127.0.0.1:${bob.sip.port}`, '--refresh-seconds', '5'] });
    dirs.push(alice.dataDir);
    aliceApi = controlOf(alice);
    await until('every user found in the overlay', async () => {
      for (const user of ['alice', 'bob', 'carol']) {
        const found = await bob.overlay.lookupAor(user).catch(() => undefined);
        if (!found?.contacts.length || !found.owner) return false;
      }
      return (await aliceApi.invoke('overlay.lookup', { aor: 'bob' }).catch(() => undefined))?.contacts.length;
    });
  });

  after(async () => {
    aliceApi?.close();
    await alice?.kill();
  });

  it('a request shows who asks (their key fingerprint) and their note; accepted, both list each other', async () => {
    const aliceIdentity = (await aliceApi.invoke('identity.get', {}))!;
    const bobIdentity = (await bob.api.invoke('identity.get', {}))!;
    const sent = await aliceApi.invoke('buddy.add', { aor: 'bob', note: 'Alice from the choir' });
    assert.equal(sent.aor, BOB);
    assert.equal(sent.state, 'requested');
    assert.equal(sent.fingerprint, bobIdentity.fingerprint, 'the key pinned is the one holding the name bob');

    const request = await until('the request at bob', () => buddyOf(bob.api.invoke('buddy.list', {}), ALICE));
    assert.equal(request.state, 'incoming');
    assert.equal(request.fingerprint, aliceIdentity.fingerprint);
    assert.equal(request.requestNote, 'Alice from the choir');
    assert.equal(request.displayName, 'alice');

    const accepted = await bob.api.invoke('buddy.accept', { aor: ALICE });
    assert.equal(accepted.state, 'accepted');
    await until('bob accepted at alice', async () => (await buddyOf(aliceApi.invoke('buddy.list', {}), BOB))?.state === 'accepted');
    // A buddy message is not a chat message.
    assert.deepEqual(await bob.api.invoke('im.conversations', {}), []);
  });

  it('bob sees alice online, then her "busy" and note within 2 s', async () => {
    await until('alice online at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), ALICE))?.presence.status === 'available', 15_000);
    const started = Date.now();
    const own = await aliceApi.invoke('presence.set', { status: 'busy', note: 'in a meeting <until 3>' });
    assert.deepEqual(own, { status: 'busy', note: 'in a meeting <until 3>', autoAway: false, awayAfterMinutes: 10 });
    const seen = await until(
      'busy at bob',
      async () => {
        const b = await buddyOf(bob.api.invoke('buddy.list', {}), ALICE);
        return b?.presence.status === 'busy' && b.presence.note === 'in a meeting <until 3>' ? b : undefined;
      },
      2_000,
      () => '',
      20,
    );
    assert.ok(Date.now() - started < 2_000);
    assert.ok(seen.presence.lastSeen! >= started);
  });

  it('a stranger\'s SUBSCRIBE is refused with 403, signed or not, and so is one only claiming to be a buddy', async () => {
    const contactOf = (user: string, port: number) => `sip:${user}@127.0.0.1:${port}`;
    const subscribe = (from: string, signature?: (local: number, callId: string) => string) => (local: number) => {
      const callId = randomBytes(8).toString('hex');
      return request(`SUBSCRIBE ${bob.sipContact} SIP/2.0`, [
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${callId}`,
        'Max-Forwards: 70',
        `From: <${from}>;tag=${callId.slice(0, 6)}`,
        `To: <${BOB}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 SUBSCRIBE',
        `Contact: <${contactOf(from.slice(4, from.indexOf('@')), local)}>`,
        'Event: presence',
        'Accept: application/pidf+xml',
        'Expires: 60',
        ...(signature ? [`Peerdial-Signature: ${signature(local, callId)}`] : []),
      ]);
    };
    assert.match(await sendRaw(bob.sip.port, subscribe('sip:carol@peerdial')), /^SIP\/2\.0 403 /);
    // Signed by carol's own key: she is who she says, but not bob's buddy.
    const carolKey = carol.identity.signingKey!;
    const signedByCarol = (local: number, callId: string) =>
      signPayload('peerdial-subscribe-v1', subscribeSigningText({ from: 'sip:carol@peerdial', to: BOB, callId, cseq: 1, expires: 60, contact: contactOf('carol', local) }), carolKey);
    assert.match(await sendRaw(bob.sip.port, subscribe('sip:carol@peerdial', signedByCarol)), /^SIP\/2\.0 403 /);
    // From alice, a buddy, but without her signature.
    assert.match(await sendRaw(bob.sip.port, subscribe(ALICE)), /^SIP\/2\.0 403 /);
    assert.equal(bob.presence.watchers, 1, 'only alice watches bob');
  });

  it('a forged presence document is refused and changes nothing', async () => {
    const dialog = bob.presence.watcher.dialogOf(ALICE);
    assert.ok(dialog, 'bob subscribes to alice');
    const before = (await buddyOf(bob.api.invoke('buddy.list', {}), ALICE))!;
    const stranger = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    const body = buildPidf({ entity: ALICE, status: 'available', note: 'forged', at: Date.now() + 60_000 });
    const notify = (signature: string | undefined) => (local: number) =>
      request(
        `NOTIFY ${bob.sipContact} SIP/2.0`,
        [
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
          'Max-Forwards: 70',
          `From: <${ALICE}>;tag=${dialog.remoteTag}`,
          `To: <${BOB}>;tag=${dialog.localTag}`,
          `Call-ID: ${dialog.callId}`,
          `CSeq: ${1000 + Math.floor(Math.random() * 1000)} NOTIFY`,
          'Event: presence',
          'Subscription-State: active;expires=60',
          `Content-Type: ${PIDF_CONTENT_TYPE}`,
          ...(signature ? [`Peerdial-Signature: ${signature}`] : []),
        ],
        body,
      );
    assert.match(await sendRaw(bob.sip.port, notify(signPayload('peerdial-presence-v1', Buffer.from(body), stranger))), /^SIP\/2\.0 403 /);
    assert.match(await sendRaw(bob.sip.port, notify(undefined)), /^SIP\/2\.0 403 /);
    const afterwards = (await buddyOf(bob.api.invoke('buddy.list', {}), ALICE))!;
    assert.equal(afterwards.presence.status, before.presence.status);
    assert.equal(afterwards.presence.note, 'in a meeting <until 3>');
    assert.equal(bob.presence.watcher.forgedRefused, 2);
  });

  it('alice\'s node is killed: bob shows her offline, with when she was last seen, within the documented bound', async () => {
    const killedAt = Date.now();
    await alice.kill('SIGKILL');
    const offline = await until(
      'alice offline at bob',
      async () => {
        const b = await buddyOf(bob.api.invoke('buddy.list', {}), ALICE);
        return b?.presence.status === 'offline' ? b : undefined;
      },
      offlineBoundMs(EXPIRES_S) + 5_000,
      () => '',
      50,
    );
    const took = Date.now() - killedAt;
    assert.ok(took <= offlineBoundMs(EXPIRES_S) + 500, `offline after ${took} ms; the bound for ${EXPIRES_S} s subscriptions is ${offlineBoundMs(EXPIRES_S)} ms`);
    assert.ok(offline.presence.lastSeen !== undefined && offline.presence.lastSeen <= killedAt && offline.presence.lastSeen > killedAt - EXPIRES_S * 1000 - 1_000, 'last seen at her last refresh');
  });

  it('a message signed by another key for alice\'s name is flagged as a key change; nothing is sent until it is trusted', async () => {
    const impostor = generateKeyPairSync('ed25519');
    const raw = impostor.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64url');
    const body = encodeBuddyMessage({ v: 1, type: 'request', from: ALICE, to: BOB, publicKey: raw, at: Date.now(), note: 'new phone' });
    const signature = signPayload('peerdial-buddy-v1', Buffer.from(body), impostor.privateKey.export({ format: 'der', type: 'pkcs8' }));
    const answer = await sendRaw(bob.sip.port, (local) =>
      request(
        `MESSAGE ${bob.sipContact} SIP/2.0`,
        [
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
          'Max-Forwards: 70',
          `From: <${ALICE}>;tag=x1`,
          `To: <${BOB}>`,
          `Call-ID: ${randomBytes(8).toString('hex')}`,
          'CSeq: 1 MESSAGE',
          `Content-Type: ${BUDDY_CONTENT_TYPE}`,
          `Peerdial-Signature: ${signature}`,
        ],
        body,
      ),
    );
    assert.match(answer, /^SIP\/2\.0 403 /);
    const flagged = (await buddyOf(bob.api.invoke('buddy.list', {}), ALICE))!;
    assert.equal(flagged.state, 'accepted');
    assert.ok(flagged.keyChanged, 'the view says the key changed');
    assert.notEqual(flagged.keyChanged.fingerprint, flagged.fingerprint);
    assert.match(bob.buddies.sendBlockReason(ALICE) ?? '', /different key/);
    await assert.rejects(bob.api.invoke('im.send', { to: ALICE, text: 'are you there?' }), /different key/);

    const trusted = await bob.api.invoke('buddy.trustKey', { aor: ALICE });
    assert.equal(trusted.keyChanged, undefined);
    assert.equal(trusted.fingerprint, flagged.keyChanged.fingerprint);
    assert.equal(bob.buddies.sendBlockReason(ALICE), undefined);
  });

  it('a buddy who quits shows offline at once, and online again when back', async () => {
    const carolDir = await tempDataDir();
    dirs.push(carolDir);
    const dave = await start('dave', { dataDir: carolDir, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    await until('dave registered', async () => (await bob.api.invoke('overlay.lookup', { aor: 'dave' }).catch(() => undefined))?.contacts.length);
    await bob.api.invoke('buddy.add', { aor: 'dave' });
    await until('the request at dave', async () => (await buddyOf(dave.api.invoke('buddy.list', {}), BOB))?.state === 'incoming');
    await dave.api.invoke('buddy.accept', { aor: BOB });
    const DAVE = 'sip:dave@peerdial';
    await until('dave online at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), DAVE))?.presence.status === 'available');

    const stoppedAt = Date.now();
    await dave.stop();
    await until('dave offline at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), DAVE))?.presence.status === 'offline', 1_000, () => '', 20);
    assert.ok(Date.now() - stoppedAt < 1_000);

    const back = await start('dave', { dataDir: carolDir, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    await until('dave online again at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), DAVE))?.presence.status === 'available', 10_000);
    await until('bob online at dave', async () => (await buddyOf(back.api.invoke('buddy.list', {}), BOB))?.presence.status === 'available', 10_000);

    // Removing a buddy removes us from their list too, and ends presence both ways.
    await bob.api.invoke('buddy.remove', { aor: DAVE });
    assert.equal(await buddyOf(bob.api.invoke('buddy.list', {}), DAVE), undefined);
    await until('bob gone from dave\'s list', async () => !(await buddyOf(back.api.invoke('buddy.list', {}), BOB)), 45_000);
    await until('no subscription left between them', async () => back.presence.watchers === 0 && !back.presence.watcher.dialogOf(BOB) && !bob.presence.watcher.dialogOf(DAVE));
  });

  it('a removal made while the buddy is offline reaches them when they are back', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const ERIN = 'sip:erin@peerdial';
    let erin = await start('erin', { dataDir, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    await until('erin registered', async () => (await bob.api.invoke('overlay.lookup', { aor: 'erin' }).catch(() => undefined))?.contacts.length);
    await bob.api.invoke('buddy.add', { aor: 'erin' });
    await until('the request at erin', async () => (await buddyOf(erin.api.invoke('buddy.list', {}), BOB))?.state === 'incoming');
    await erin.api.invoke('buddy.accept', { aor: BOB });
    await until('erin accepted at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), ERIN))?.state === 'accepted');
    await erin.stop();
    await bob.api.invoke('buddy.remove', { aor: ERIN });
    erin = await start('erin', { dataDir, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    assert.equal((await buddyOf(erin.api.invoke('buddy.list', {}), BOB))?.state, 'accepted', 'erin has not been told yet');
    await until('bob gone from erin\'s list', async () => !(await buddyOf(erin.api.invoke('buddy.list', {}), BOB)), 45_000);
  });

  it('a declined request says so to the asker; a blocked one is refused and stays blocked, her messages dropped unseen', async () => {
    const CAROL = 'sip:carol@peerdial';
    await carol.api.invoke('buddy.add', { aor: 'bob', note: 'remember me?' });
    await until('carol\'s request at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), CAROL))?.state === 'incoming');
    const declined = await bob.api.invoke('buddy.decline', { aor: CAROL });
    assert.equal(declined.state, 'declined');
    assert.equal(await buddyOf(bob.api.invoke('buddy.list', {}), CAROL), undefined);
    await until('"declined" at carol', async () => (await buddyOf(carol.api.invoke('buddy.list', {}), BOB))?.state === 'declined');

    await carol.api.invoke('buddy.add', { aor: 'bob', note: 'please?' });
    await until('carol\'s second request at bob', async () => (await buddyOf(bob.api.invoke('buddy.list', {}), CAROL))?.requestNote === 'please?');
    const blocked = await bob.api.invoke('buddy.block', { aor: CAROL });
    assert.equal(blocked.state, 'blocked');
    assert.match(bob.buddies.sendBlockReason(CAROL) ?? '', /blocked/);
    await carol.api.invoke('buddy.remove', { aor: BOB });
    await carol.api.invoke('buddy.add', { aor: 'bob', note: 'third time' });
    await new Promise((r) => setTimeout(r, 500));
    const still = (await buddyOf(bob.api.invoke('buddy.list', {}), CAROL))!;
    assert.equal(still.state, 'blocked', 'neither her removal nor her new request undoes the block');
    assert.equal(still.requestNote, 'please?');
    assert.equal((await buddyOf(carol.api.invoke('buddy.list', {}), BOB))?.state, 'requested', 'her request stays unanswered');
    // Her messages are dropped too, without telling her (as in Signal): 202, so she reads "sent", never "delivered".
    const sent = await carol.api.invoke('im.send', { to: BOB, text: 'hello?' });
    await until('carol\'s message taken and dropped', async () => {
      const [last] = (await carol.api.invoke('im.history', { peer: BOB })).slice(-1);
      return last?.id === sent.id && last.status === 'sent';
    });
    assert.ok(!(await bob.api.invoke('im.history', { peer: CAROL })).some((m) => m.text === 'hello?'));
  });

  it('idle time sets "away" and coming back restores the status; own presence survives a restart', async () => {
    const set = await carol.api.invoke('presence.set', { status: 'available', note: 'on call duty', awayAfterMinutes: 5 });
    assert.deepEqual(set, { status: 'available', note: 'on call duty', autoAway: false, awayAfterMinutes: 5 });
    assert.deepEqual(await carol.api.invoke('presence.activity', { idle: true }), { status: 'away', note: 'on call duty', autoAway: true, awayAfterMinutes: 5 });
    assert.deepEqual(await carol.api.invoke('presence.activity', { idle: false }), set);
    await carol.api.invoke('presence.set', { status: 'busy' });
    assert.equal((await carol.api.invoke('presence.activity', { idle: true })).status, 'busy', 'idle does not turn "busy" into "away"');
    await carol.api.invoke('presence.set', { status: 'available', awayAfterMinutes: 0 });
    assert.equal((await carol.api.invoke('presence.activity', { idle: true })).status, 'available', '0 minutes means never');
    await assert.rejects(carol.api.invoke('presence.set', { status: 'asleep' as 'away' }), /available, away or busy/);

    await carol.api.invoke('presence.set', { status: 'busy', note: 'back Monday', awayAfterMinutes: 15 });
    const dataDir = carol.options.dataDir;
    await carol.stop();
    carol = await start('carol', { dataDir, bootstrap: [`127.0.0.1:${bob.sip.port}`] });
    assert.deepEqual(await carol.api.invoke('presence.get', {}), { status: 'busy', note: 'back Monday', autoAway: false, awayAfterMinutes: 15 });
    assert.equal((await buddyOf(carol.api.invoke('buddy.list', {}), BOB))?.state, 'requested', 'the buddy list survives it too');
  });
});
