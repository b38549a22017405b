// What a member that carries a client's signalling can see of two Peerdial users, measured at its
// interface with tshark. Bob writes to carol and calls her; carol is a client attached to mona
// (a member), so every request for carol goes through mona. The capture of mona's SIP port and
// of everything carol sends or receives, and mona's own log, hold neither the message text nor a
// media key: the message crosses as a sealed body, the SDP carries only public keys and
// signatures, and the RTP on the wire does not decode to the tone bob plays, while carol hears it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeG711 } from '../../native/wire/audio/g711.js';
import { SEALED_MESSAGE_CONTENT_TYPE } from '../../native/wire/im/sealed-message.js';
import { RELAY_CONTENT_TYPE } from '../../native/wire/relay/credential.js';
import { readPackets, requireTshark, startCapture, type Capture } from '../peers/tshark.js';
import { framesAt, framesOf, RECORDING_RATE, writeTone } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

const CHORD_ENV = { PEERDIAL_CHORD: '{"stabilizeMs":300,"fixFingersMs":200,"checkPredecessorMs":500,"replicateMs":2000}' };
const CAROL_ADDRESS = '127.0.0.9';
const SECRET = 'the vault code is 271828';
const BOB_HZ = 440;

describe('what a member carrying a client sees of two users', { timeout: 180_000 }, () => {
  const nodes: NodeProcess[] = [];
  const controls: NodeControl[] = [];
  let dir: string;
  let capture: Capture | undefined;

  before(async () => {
    requireTshark();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-member-view-'));
  });

  after(async () => {
    await capture?.stop().catch(() => undefined);
    controls.forEach((c) => c.close());
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function node(user: string, args: string[]): Promise<{ process: NodeProcess; api: NodeControl }> {
    const process = await startNode({ user, args: ['--no-mdns', '--no-multicast-register', '--refresh-seconds', '5', ...args], env: CHORD_ENV });
    nodes.push(process);
    const api = controlOf(process);
    controls.push(api);
    return { process, api };
  }

  it('holds no message text and no media key, and the audio on the wire is not the tone carol hears', async () => {
    const mona = await node('mona', []);
    const bootstrap = ['--bootstrap', `127.0.0.1:${mona.process.sipPort}`];
    const bob = await node('bob', [...bootstrap, '--play', await writeTone(path.join(dir, 'bob.wav'), BOB_HZ, 30)]);
    const recording = path.join(dir, 'carol-heard.wav');
    const carol = await node('carol', ['--bind', CAROL_ADDRESS, '--client', '--auto-answer', '--record', recording, ...bootstrap]);
    await until('carol attached to mona', async () => (await carol.api.invoke('nat.status', {})).attachment?.state === 'attached', 20_000);
    await until('bob finds carol, and carol bob', async () => {
      const a = await bob.api.invoke('overlay.lookup', { aor: 'carol' }).catch(() => undefined);
      const b = await carol.api.invoke('overlay.lookup', { aor: 'bob' }).catch(() => undefined);
      return !!a?.contacts.length && !!b?.contacts.length;
    }, 20_000);

    const pcap = path.join(dir, 'member-view.pcap');
    capture = await startCapture({ file: pcap, ports: [mona.process.sipPort], hosts: [CAROL_ADDRESS], probePort: await freePort(), maxSeconds: 120 });

    const sent = await bob.api.invoke('im.send', { to: 'carol', text: SECRET });
    await until('the message delivered', async () => (await bob.api.invoke('im.history', { peer: 'carol' })).find((m) => m.id === sent.id)?.status === 'delivered', 15_000);
    const atCarol = (await carol.api.invoke('im.history', { peer: 'sip:bob@peerdial' })).find((m) => m.text === SECRET);
    assert.equal(atCarol?.encrypted, true, 'carol has the text, sealed end to end');

    const call = await bob.api.invoke('call.dial', { to: 'carol' });
    const talking = await until('audio at carol', async () => {
      const [view] = await carol.api.invoke('call.list', {});
      return view?.quality && view.quality.packetsReceived > 150 ? view : undefined;
    }, 20_000);
    assert.equal(talking.encryption, 'end-to-end');
    await bob.api.invoke('call.hangup', { id: call.id });
    await until('the call ended at carol', async () => (await carol.api.invoke('call.list', {})).length === 0, 10_000);
    await capture.stop();
    capture = undefined;

    // The words: nowhere in the capture, nor in mona's log.
    const raw = await readFile(pcap);
    assert.ok(!raw.includes(Buffer.from('271828')), 'the text is not in the capture');
    assert.ok(!mona.process.output().includes('271828'), 'nor in the member\'s log');
    const messages = readPackets(pcap, ['sip.Method', 'sip.from.user', 'sip.Content-Type'], 'sip.Method == "MESSAGE" && sip.from.user == "bob"');
    // Bob's node also asks relays about calls by MESSAGE (the relay service's own JSON, no user text);
    // every other MESSAGE of his is sealed, and his text crossed as one.
    const userMessages = messages.filter((m) => m['sip.Content-Type'][0] !== RELAY_CONTENT_TYPE);
    assert.ok(userMessages.length >= 1, 'bob\'s MESSAGE crossed the member');
    for (const m of userMessages) assert.equal(m['sip.Content-Type'][0], SEALED_MESSAGE_CONTENT_TYPE);

    // The keys: the INVITE's SDP has the SRTP profile and public values only, no SDES key.
    const invites = readPackets(pcap, ['sdp.media.proto', 'sdp.media_attr'], 'sip.Method == "INVITE" && sip.from.user == "bob"');
    assert.ok(invites.length >= 1, 'the INVITE crossed the member');
    for (const invite of invites) {
      assert.deepEqual(invite['sdp.media.proto'], ['RTP/SAVP']);
      const keyLines = invite['sdp.media_attr'].filter((a) => a.startsWith('peerdial-srtp:'));
      assert.equal(keyLines.length, 1);
      assert.match(keyLines[0], /^peerdial-srtp:1 AES_CM_128_HMAC_SHA1_80 [\w-]{43} [\w-]{43} [\w-]{86}$/, 'two public keys and a signature');
      assert.ok(!invite['sdp.media_attr'].some((a) => a.startsWith('crypto:')), 'no SDES key on the path');
    }

    // The audio: every RTP payload from bob to carol, decoded as G.711, is not bob's tone...
    const rtp = readPackets(pcap, ['udp.payload'], `rtp && ip.dst == ${CAROL_ADDRESS}`, ['-o', 'rtp.heuristic_rtp:TRUE']);
    assert.ok(rtp.length > 100, `RTP to carol on the wire: ${rtp.length} packets`);
    // Past the 12-byte RTP header, up to the 10-byte tag: what a listener on the path would play
    // if the call were G.711 in the clear (it is Opus, encrypted: either way it must not be the tone).
    const payloads = rtp.map((p) => decodeG711('mu', Buffer.from((p['udp.payload'][0] ?? '').replace(/[^0-9a-f]/gi, ''), 'hex').subarray(12, -10)));
    const onTheWire = framesAt(payloads, BOB_HZ);
    // ...while carol, who holds the keys, heard it: the same measure finds the tone in her recording.
    // The WAV's sizes are written when the node stops: read the samples after its 44-byte header.
    const bytes = await readFile(recording);
    const body = bytes.subarray(44, 44 + ((bytes.length - 44) & ~1));
    const heard = new Int16Array(body.length / 2).map((_, i) => body.readInt16LE(i * 2));
    const loud = framesOf(heard, RECORDING_RATE / 50).filter((f) => f.some((x) => Math.abs(x) > 4000));
    const heardTone = framesAt(loud, BOB_HZ, RECORDING_RATE);
    assert.ok(heardTone > 0.8, `carol heard ${BOB_HZ} Hz in ${(heardTone * 100).toFixed(0)}% of her loud frames`);
    assert.ok(onTheWire < 0.02, `${(onTheWire * 100).toFixed(1)}% of the packets on the wire sound like the tone`);
  });
});
