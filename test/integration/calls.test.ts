// Calls between in-process engines over real SIP and RTP on loopback: what each user sees,
// hears and finds in the history.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { decodeWav } from '../../native/wire/audio/wav.js';
import { CallEvents, RECORDING_RATE, toneHz, writeTone } from '../support/calls.js';
import { removeDir, startNode, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const dirs: string[] = [];
const engines: Engine[] = [];

async function start(userName: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const dataDir = options.dataDir ?? (await tempDataDir());
  if (!options.dataDir) dirs.push(dataDir);
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, ...options });
  engines.push(engine);
  return engine;
}

/** Nothing a failed test left ringing or running carries over into the next. */
afterEach(async () => {
  for (const engine of engines) {
    for (const call of await engine.api.invoke('call.list', {}).catch(() => [])) await engine.api.invoke('call.hangup', { id: call.id }).catch(() => undefined);
  }
});

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await Promise.all(dirs.map(removeDir));
});

describe('a call between two engines by direct URI', () => {
  let alice: Engine;
  let bob: Engine;
  let recording: string;
  before(async () => {
    const dir = await tempDataDir('peerdial-audio-');
    dirs.push(dir);
    recording = path.join(dir, 'bob-heard.wav');
    alice = await start('alice', { playFile: await writeTone(path.join(dir, 'a440.wav'), 440, 10) });
    bob = await start('bob', { recordFile: recording, playFile: await writeTone(path.join(dir, 'b1000.wav'), 1000, 10) });
  });

  it('rings at the callee with the caller shown, is answered, carries audio both ways, and ends in both histories', async () => {
    const aliceCalls = new CallEvents(alice);
    const bobCalls = new CallEvents(bob);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    assert.equal(dialled.state, 'calling');

    const ringing = await bobCalls.waitFor('the incoming call at bob', (v) => v.state === 'incoming');
    assert.equal(ringing.peerName, 'alice');
    assert.match(ringing.peer, /^sip:alice@127\.0\.0\.1:\d+$/);
    await aliceCalls.waitFor('ringback at alice', (v) => v.state === 'ringing');

    await bob.api.invoke('call.answer', { id: ringing.id });
    await aliceCalls.waitFor('the answer at alice', (v) => v.state === 'active');
    // Quality figures come from RTP and RTCP: packets both ways and a round trip once reports flowed.
    const live = await until('RTCP round trip at alice', async () => {
      const [view] = await alice.api.invoke('call.list', {});
      return view?.quality?.rttMs !== undefined && view.quality.packetsReceived > 50 ? view : undefined;
    }, 10_000);
    // Two Peerdial users speak Opus (offered first, RFC 7587).
    assert.equal(live.quality!.codec, 'opus');
    assert.ok(live.quality!.lossFraction < 0.01);
    await new Promise((r) => setTimeout(r, 1_500));
    // The panel's bitrate is Opus's, about the 32 kbit/s a clean path gets, and a clean loopback call rates excellent.
    const [rated] = await alice.api.invoke('call.list', {});
    assert.ok(rated.quality!.bitrateKbps! > 16 && rated.quality!.bitrateKbps! < 40, `bitrate ${rated.quality!.bitrateKbps} kbit/s`);
    assert.ok(rated.quality!.mos! >= 4.3, `MOS ${rated.quality!.mos}`);

    await alice.api.invoke('call.hangup', { id: dialled.id });
    const ended = await bobCalls.waitFor('the end at bob', (v) => v.state === 'ended');
    assert.equal(ended.endReason, 'remote-hangup');
    assert.equal(ended.endMessage, 'alice hung up');

    // What bob heard was alice's 440 Hz tone.
    // While bob's node runs on, the call's recording is already a whole WAV: its header's sizes say what is in it.
    const heard = await until('bob\'s recording, settled', async () => {
      const bytes = await readFile(recording);
      const dataBytes = bytes.readUInt32LE(40);
      return dataBytes > RECORDING_RATE * 2 * 2 && dataBytes === bytes.length - 44 && bytes.readUInt32LE(4) === bytes.length - 8 ? decodeWav(bytes) : undefined;
    }, 5_000);
    const hz = toneHz(heard.samples, heard.sampleRate);
    assert.ok(hz !== undefined && Math.abs(hz - 440) < 15, `bob heard ${hz} Hz, not alice's 440 Hz`);

    const [aliceEntry] = await alice.api.invoke('call.history', {});
    const [bobEntry] = await until('bob\'s history', async () => {
      const entries = await bob.api.invoke('call.history', {});
      return entries.length ? entries : undefined;
    });
    assert.equal(aliceEntry.outcome, 'answered');
    assert.equal(aliceEntry.direction, 'out');
    assert.equal(bobEntry.outcome, 'answered');
    assert.equal(bobEntry.direction, 'in');
    assert.ok(bobEntry.durationSeconds >= 1);
  });

  it('declined: the caller reads that the callee declined; the callee history says declined', async () => {
    const aliceCalls = new CallEvents(alice);
    const bobCalls = new CallEvents(bob);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    const ringing = await bobCalls.waitFor('the incoming call', (v) => v.state === 'incoming');
    await bob.api.invoke('call.decline', { id: ringing.id });
    const ended = await aliceCalls.waitFor('the decline at alice', (v) => v.id === dialled.id && v.state === 'ended');
    assert.equal(ended.endReason, 'declined');
    assert.equal(ended.endMessage, 'bob declined the call');
    await until('the declined call in bob\'s history', async () => (await bob.api.invoke('call.history', {})).some((e) => e.outcome === 'declined'));
  });

  it('cancelled before the answer: the callee stops ringing and has a missed call', async () => {
    const bobCalls = new CallEvents(bob);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    await bobCalls.waitFor('the incoming call', (v) => v.state === 'incoming');
    const cancelled = await alice.api.invoke('call.hangup', { id: dialled.id });
    assert.equal(cancelled.endReason, 'cancelled');
    const ended = await bobCalls.waitFor('the cancel at bob', (v) => v.state === 'ended');
    assert.equal(ended.endReason, 'cancelled');
    assert.equal(ended.endMessage, 'Missed call from alice');
    const entry = await until('the missed call in bob\'s history', async () => (await bob.api.invoke('call.history', {})).find((e) => e.outcome === 'missed'));
    assert.equal(entry.peerName, 'alice');
    assert.equal(entry.durationSeconds, 0);
  });

  it('hold and resume: the other side sees it, and audio stops while held', async () => {
    const bobCalls = new CallEvents(bob);
    const aliceCalls = new CallEvents(alice);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    const ringing = await bobCalls.waitFor('the incoming call', (v) => v.state === 'incoming');
    await bob.api.invoke('call.answer', { id: ringing.id });
    await aliceCalls.waitFor('the answer at alice', (v) => v.id === dialled.id && v.state === 'active');

    const held = await alice.api.invoke('call.hold', { id: dialled.id, hold: true });
    assert.equal(held.hold, 'local');
    await bobCalls.waitFor('remote hold at bob', (v) => v.hold === 'remote');
    // alice sends sendonly: she still sends (music on hold), bob sends nothing back.
    const before = (await alice.api.invoke('call.list', {}))[0].quality!.packetsReceived;
    await new Promise((r) => setTimeout(r, 600));
    const during = (await alice.api.invoke('call.list', {}))[0].quality!.packetsReceived;
    assert.ok(during - before <= 2, `alice still received ${during - before} packets while holding`);

    const resumed = await alice.api.invoke('call.hold', { id: dialled.id, hold: false });
    assert.equal(resumed.hold, 'none');
    await bobCalls.waitFor('resumed at bob', (v) => v.hold === 'none' && v.state === 'active');
    await until('audio again at alice', async () => (await alice.api.invoke('call.list', {}))[0].quality!.packetsReceived > during + 10, 3_000);
    await alice.api.invoke('call.hangup', { id: dialled.id });
  });

  it('DTMF keys pressed on one side show on the other, once each, in order', async () => {
    const bobCalls = new CallEvents(bob);
    const aliceCalls = new CallEvents(alice);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    const ringing = await bobCalls.waitFor('the incoming call', (v) => v.state === 'incoming');
    await bob.api.invoke('call.answer', { id: ringing.id });
    await aliceCalls.waitFor('the answer', (v) => v.id === dialled.id && v.state === 'active');
    await alice.api.invoke('call.dtmf', { id: dialled.id, digits: '159#' });
    await bobCalls.waitFor('all four keys at bob', (v) => v.dtmfReceived === '159#');
    await bob.api.invoke('call.dtmf', { id: ringing.id, digits: '*0' });
    await aliceCalls.waitFor('the keys at alice', (v) => v.dtmfReceived === '*0');
    await assert.rejects(alice.api.invoke('call.dtmf', { id: dialled.id, digits: '12x' }), { code: 'INVALID_ARGUMENT' });
    await alice.api.invoke('call.hangup', { id: dialled.id });
  });

  it('a call to a user this node does not have ends as unreachable, with the reason', async () => {
    const aliceCalls = new CallEvents(alice);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact!.replace('bob@', 'nobody@') });
    const ended = await aliceCalls.waitFor('the failed call', (v) => v.id === dialled.id && v.state === 'ended');
    assert.equal(ended.endReason, 'unreachable');
    assert.match(ended.endMessage!, /404/);
  });

  it('commands on calls that do not fit say so with stable codes', async () => {
    await assert.rejects(alice.api.invoke('call.answer', { id: 'nope' }), { code: 'NOT_FOUND' });
    await assert.rejects(alice.api.invoke('call.dial', { to: 'not a uri' }), { code: 'INVALID_URI' });
    await assert.rejects(alice.api.invoke('call.hold', { id: 'x', hold: 'yes' as unknown as boolean }), { code: 'INVALID_ARGUMENT' });
  });
});

describe('call waiting, transfer and the echo test', () => {
  let alice: Engine;
  let bob: Engine;
  let carol: Engine;
  before(async () => {
    alice = await start('alice');
    bob = await start('bob');
    carol = await start('carol', { autoAnswer: true });
  });

  it('a second call while in one: answering it puts the first on hold', async () => {
    const bobCalls = new CallEvents(bob);
    const first = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    const ring1 = await bobCalls.waitFor('the first call', (v) => v.state === 'incoming' && v.peerName === 'alice');
    await bob.api.invoke('call.answer', { id: ring1.id });
    await bobCalls.waitFor('first answered', (v) => v.id === ring1.id && v.state === 'active');

    const second = await carol.api.invoke('call.dial', { to: bob.sipContact! });
    const ring2 = await bobCalls.waitFor('the waiting call', (v) => v.state === 'incoming' && v.peerName === 'carol');
    await bob.api.invoke('call.answer', { id: ring2.id });
    await bobCalls.waitFor('the first call on hold', (v) => v.id === ring1.id && v.hold === 'local');
    const calls = await bob.api.invoke('call.list', {});
    assert.deepEqual(calls.map((c) => [c.peerName, c.state, c.hold]).sort(), [
      ['alice', 'active', 'local'],
      ['carol', 'active', 'none'],
    ]);
    await alice.api.invoke('call.hangup', { id: first.id });
    await carol.api.invoke('call.hangup', { id: second.id });
  });

  it('blind transfer: bob sends alice on to carol; alice ends up talking to carol', async () => {
    const aliceCalls = new CallEvents(alice);
    const bobCalls = new CallEvents(bob);
    const carolCalls = new CallEvents(carol);
    const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
    const ringing = await bobCalls.waitFor('the call', (v) => v.state === 'incoming');
    await bob.api.invoke('call.answer', { id: ringing.id });
    await aliceCalls.waitFor('answered', (v) => v.id === dialled.id && v.state === 'active');

    const transferred = await bob.api.invoke('call.transfer', { id: ringing.id, to: carol.sipContact! });
    assert.equal(transferred.endReason, 'transferred');
    await aliceCalls.waitFor('the old call ends', (v) => v.id === dialled.id && v.state === 'ended');
    const onward = await aliceCalls.waitFor('the new call to carol is answered', (v) => v.peer === carol.sipContact && v.state === 'active');
    await carolCalls.waitFor('carol talks to alice', (v) => v.peerName === 'alice' && v.state === 'active');
    await alice.api.invoke('call.hangup', { id: onward.id });
  });

  it('the echo test plays back what it hears', async () => {
    const dir = await tempDataDir('peerdial-echo-');
    dirs.push(dir);
    const recording = path.join(dir, 'echo.wav');
    const dave = await start('dave', { playFile: await writeTone(path.join(dir, 't.wav'), 600, 10), recordFile: recording });
    const daveCalls = new CallEvents(dave);
    const dialled = await dave.api.invoke('call.dial', { to: 'echo' });
    assert.equal(dialled.peerName, 'Echo test');
    await daveCalls.waitFor('the echo answers', (v) => v.state === 'active');
    await new Promise((r) => setTimeout(r, 2_000));
    await dave.api.invoke('call.hangup', { id: dialled.id });
    await until('the recording', async () => decodeWav(await readFile(recording)).samples.length > RECORDING_RATE);
    const hz = toneHz(decodeWav(await readFile(recording)).samples);
    assert.ok(hz !== undefined && Math.abs(hz - 600) < 15, `the echo returned ${hz} Hz, not the 600 Hz sent`);
    assert.deepEqual(await dave.api.invoke('call.list', {}), []);
  });

  it('the history survives a restart', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const erin = await start('erin', { dataDir, autoAnswer: true });
    const aliceCalls = new CallEvents(alice);
    const dialled = await alice.api.invoke('call.dial', { to: erin.sipContact! });
    await aliceCalls.waitFor('answered', (v) => v.id === dialled.id && v.state === 'active');
    await alice.api.invoke('call.hangup', { id: dialled.id });
    await until('erin has the call in her history', async () => (await erin.api.invoke('call.history', {})).length === 1);
    await erin.stop();
    const again = await start('erin', { dataDir });
    const [entry] = await again.api.invoke('call.history', {});
    assert.equal(entry.peerName, 'alice');
    assert.equal(entry.outcome, 'answered');
  });
});

describe('calls by AOR through the overlay', () => {
  const FAST = { stabilizeMs: 200, fixFingersMs: 100, checkPredecessorMs: 400, replicateMs: 1_000, requestTimeoutMs: 1_000 };
  let ring: Engine[];
  before(async () => {
    ring = [];
    for (const user of ['ann', 'ben', 'cat']) {
      const bootstrap = ring.length ? [`127.0.0.1:${ring[0].sip.port}`] : [];
      ring.push(await start(user, { bootstrap, overlayConfig: FAST, registrationRefreshMs: 2_000, autoAnswer: user !== 'ann' }));
    }
    await until('every binding stored', async () => {
      for (const user of ['ann', 'ben', 'cat']) {
        const found = await ring[0].api.invoke('overlay.lookup', { aor: user }).catch(() => undefined);
        if (!found?.contacts.length) return false;
      }
      return true;
    });
  });

  it('a bare name is a user of our overlay: found, called at their device, answered', async () => {
    const [ann, ben] = ring;
    const annCalls = new CallEvents(ann);
    const dialled = await ann.api.invoke('call.dial', { to: 'ben' });
    assert.equal(dialled.peer, 'sip:ben@peerdial');
    const answered = await annCalls.waitFor('the answer', (v) => v.id === dialled.id && v.state === 'active');
    assert.equal(answered.peer, 'sip:ben@peerdial');
    // ben sees ann by her AOR, so calling back reaches her wherever she is.
    const [atBen] = await ben.api.invoke('call.list', {});
    assert.match(atBen.peer, /^sip:ann@peerdial/);
    // Two Peerdial users: the audio is encrypted end to end, and both ends say so.
    assert.equal(answered.encryption, 'end-to-end');
    assert.equal(atBen.encryption, 'end-to-end');
    const flowing = await until('audio both ways', async () => {
      const [view] = await ben.api.invoke('call.list', {});
      return view?.quality && view.quality.packetsReceived > 10 ? view : undefined;
    });
    assert.equal(flowing.quality!.refusedSrtp, 0);
    assert.equal((await ann.api.invoke('call.security', {})).encryptedCalls, 1);
    await ann.api.invoke('call.hangup', { id: dialled.id });
  });

  it('a name nobody has ends as unreachable, saying so', async () => {
    const annCalls = new CallEvents(ring[0]);
    const dialled = await ring[0].api.invoke('call.dial', { to: 'sip:zed@peerdial' });
    const ended = await annCalls.waitFor('the failed lookup', (v) => v.id === dialled.id && v.state === 'ended');
    assert.equal(ended.endReason, 'unreachable');
  });
});

describe('a peer that dies in the middle of a call', () => {
  it('ends the call as "connection lost" once nothing arrives from it', async () => {
    const survivor = await start('sam', { mediaSilenceTimeoutMs: 1_500 });
    const victim = await startNode({ user: 'vic', args: ['--auto-answer'] });
    try {
      const calls = new CallEvents(survivor);
      const dialled = await survivor.api.invoke('call.dial', { to: victim.sipContact! });
      await calls.waitFor('the answer', (v) => v.id === dialled.id && v.state === 'active');
      await victim.kill('SIGKILL');
      const ended = await calls.waitFor('the lost call', (v) => v.id === dialled.id && v.state === 'ended', 10_000);
      assert.equal(ended.endReason, 'connection-lost');
      assert.match(ended.endMessage!, /connection to vic was lost/);
    } finally {
      await victim.kill('SIGKILL');
      await removeDir(victim.dataDir);
    }
  });
});

describe('an offer Peerdial cannot take', () => {
  it('is refused with 488 and a Warning that says why, and nothing rings', async () => {
    const target = await start('tess');
    const calls = new CallEvents(target);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const { port } = socket.address();
    const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n';
    const invite =
      `INVITE ${target.sipContact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-g729;rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:g729@127.0.0.1:${port}>;tag=g1\r\nTo: <${target.sipContact}>\r\nCall-ID: g729@127.0.0.1\r\nCSeq: 1 INVITE\r\n` +
      `Contact: <sip:g729@127.0.0.1:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`;
    const final = new Promise<string>((resolve) =>
      socket.on('message', (bytes) => {
        const text = bytes.toString();
        if (!/^SIP\/2\.0 1\d\d /.test(text)) resolve(text);
      }),
    );
    socket.send(invite, target.sip.port, '127.0.0.1');
    const response = await final;
    socket.close();
    assert.match(response, /^SIP\/2\.0 488 Not Acceptable Here\r\n/);
    assert.match(response, /\r\nWarning: 305 \S+ "None of the offered audio formats is one we speak \(opus, G722, PCMU, PCMA\)\."\r\n/);
    assert.equal(calls.seen.length, 0, 'the user never saw a call');
  });
});

describe('a callee that hangs up before the caller ACKs its 200', () => {
  it('holds its BYE until the ACK arrives (RFC 3261 15)', async () => {
    const callee = await start('uma');
    const calls = new CallEvents(callee);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const { port } = socket.address();
    const heard: string[] = [];
    socket.on('message', (bytes) => heard.push(bytes.toString()));
    const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
    const headers = (method: string, branch: string, toTag = '') =>
      `${method} ${callee.sipContact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:late@127.0.0.1:${port}>;tag=l1\r\nTo: <${callee.sipContact}>${toTag}\r\nCall-ID: late-ack@127.0.0.1\r\nCSeq: 1 ${method}\r\n` +
      `Contact: <sip:late@127.0.0.1:${port}>\r\n`;
    socket.send(headers('INVITE', 'z9hG4bK-late') + `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`, callee.sip.port, '127.0.0.1');
    const ringing = await calls.waitFor('the call', (v) => v.state === 'incoming');
    await callee.api.invoke('call.answer', { id: ringing.id });
    await callee.api.invoke('call.hangup', { id: ringing.id });
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(heard.some((m) => m.startsWith('SIP/2.0 200')), 'the 200 came');
    assert.ok(!heard.some((m) => m.startsWith('BYE ')), 'no BYE before the ACK');
    const toTag = /\r\nTo: [^\r]*(;tag=[^;\r]+)/.exec(heard.find((m) => m.startsWith('SIP/2.0 200'))!)![1];
    socket.send(headers('ACK', 'z9hG4bK-late-ack', toTag) + 'Content-Length: 0\r\n\r\n', callee.sip.port, '127.0.0.1');
    await until('the BYE after the ACK', async () => heard.some((m) => m.startsWith('BYE ')), 3_000);
    socket.close();
  });
});
