// A user's desk phone (baresip) that registers to the user's node over TLS: it is listed as a
// TLS binding, rings for the user's AOR on the connection it registered on (the node never
// connects back to the phone), and carries audio both ways; its call out goes over TLS too.
// tshark on the node's TLS port finds TLS records and no SIP in the clear.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView, NewPhone } from '../../native/control/api.js';
import { requireBaresip, startBaresip, type Baresip } from '../peers/baresip.js';
import { readPackets, requireTshark, startCapture, type Capture } from '../peers/tshark.js';
import { audioTempDir } from '../support/audio-analysis.js';
import { describeCalls, watchCalls, writeTone } from '../support/calls.js';
import { controlOf, untilFoundByEachOther, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { recordedBytes, toneHeardSince } from '../netns/lab-tones.js';

const NODE_RTP_PORTS = '16384-19999';
const BOB_HZ = 620;
const PHONE_HZ = 850;
const TALK_MS = 3_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function assertTone(hz: number | undefined, expected: number, what: string): void {
  assert.ok(hz !== undefined && Math.abs(hz - expected) < 25, `${what}: heard ${hz} Hz, expected ${expected} Hz`);
}

describe('a SIP phone registered to its user\'s node over TLS (baresip)', { timeout: 120_000 }, () => {
  let dir: string;
  let bob: NodeProcess;
  let alice: NodeProcess;
  let bobApi: NodeControl;
  let aliceApi: NodeControl;
  let bobCalls: Map<string, CallView>;
  let phone: Baresip | undefined;
  let credentials: NewPhone;
  let aliceTls: number;
  let capture: Capture | undefined;
  let pcap: string;
  let heardByBob: string;
  let phoneTls: number;

  before(async () => {
    requireBaresip();
    requireTshark();
    dir = await audioTempDir();
    const bobTone = await writeTone(path.join(dir, 'bob.wav'), BOB_HZ, 120);
    const phoneTone = await writeTone(path.join(dir, 'phone.wav'), PHONE_HZ, 120);
    heardByBob = path.join(dir, 'bob-heard.wav');
    bob = await startNode({ user: 'bob', args: ['--play', bobTone, '--record', heardByBob, '--rtp-ports', NODE_RTP_PORTS, '--refresh-seconds', '5'] });
    alice = await startNode({ user: 'alice', args: ['--bootstrap', `127.0.0.1:${bob.sipPort}`, '--rtp-ports', NODE_RTP_PORTS, '--refresh-seconds', '5'] });
    bobApi = controlOf(bob);
    aliceApi = controlOf(alice);
    bobCalls = watchCalls(bobApi);
    await untilFoundByEachOther({ api: aliceApi, user: 'alice' }, { api: bobApi, user: 'bob' });
    credentials = await aliceApi.invoke('phones.add', { name: 'Desk phone' });
    aliceTls = (await aliceApi.invoke('node.status', {})).sipTlsPort;
    phone = await startBaresip({
      answerMode: 'manual',
      source: phoneTone,
      tls: true,
      register: { aor: credentials.aor, username: credentials.username, password: credentials.password, proxy: `127.0.0.1:${aliceTls};transport=tls` },
    });
    // baresip listens for TLS on its SIP port + 1: the node must never connect there.
    phoneTls = Number(/:(\d+);transport=tls$/.exec(phone.tlsUri!)![1]);
    pcap = path.join(dir, 'phone-tls.pcap');
    capture = await startCapture({ file: pcap, ports: [aliceTls, phoneTls], probePort: await freePort(), maxSeconds: 90 });
  });

  after(async () => {
    await capture?.stop().catch(() => undefined);
    await phone?.stop();
    bobApi?.close();
    aliceApi?.close();
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all([alice, bob, phone].filter((p) => p !== undefined).map((p) => removeDir('dataDir' in p ? p.dataDir : p.dir)));
    if (dir) await removeDir(dir);
  });

  it('registers over TLS, and the node lists the binding as TLS', async () => {
    const listed = await until('the phone registered', async () => (await aliceApi.invoke('phones.list', {})).find((p) => p.state === 'registered'), 15_000, () => phone!.output().slice(-1_500));
    assert.equal(listed.bindings.length, 1);
    assert.equal(listed.bindings[0].protocol, 'tls');
    assert.match(listed.bindings[0].contact, /transport=tls/i);
  });

  it('rings for sip:alice@peerdial on its TLS connection, answers, and carries audio both ways', async () => {
    const bobFrom = await recordedBytes(heardByBob);
    const call = await bobApi.invoke('call.dial', { to: 'sip:alice@peerdial' });
    await phone!.waitFor('CALL_INCOMING', undefined, 10_000);
    await phone!.accept();
    await until('bob talks to the phone', async () => bobCalls.get(call.id)?.state === 'active', 10_000, describeCalls(bobCalls));
    await sleep(TALK_MS);
    assertTone(await toneHeardSince(heardByBob, bobFrom), PHONE_HZ, 'bob hears the phone');
    assertTone(await toneHeardSince(phone!.receivedRecording(), 0), BOB_HZ, 'the phone hears bob');
    await bobApi.invoke('call.hangup', { id: call.id });
    await phone!.waitFor('CALL_CLOSED', undefined, 10_000);
  });

  it('calls sip:bob@peerdial through its node over TLS', async () => {
    const before = [...bobCalls.keys()];
    await phone!.dial('sip:bob@peerdial');
    const incoming = await until('bob rings', async () => [...bobCalls.values()].find((c) => !before.includes(c.id) && c.direction === 'in' && c.state === 'incoming'), 10_000, describeCalls(bobCalls));
    assert.equal(incoming.peer, 'sip:alice@peerdial', 'the phone calls as its user');
    await bobApi.invoke('call.answer', { id: incoming.id });
    await phone!.waitFor('CALL_ESTABLISHED', (e) => e.direction === 'outgoing', 10_000);
    await phone!.hangup();
    await until('the phone hung up at bob', async () => bobCalls.get(incoming.id)?.state === 'ended', 10_000, describeCalls(bobCalls));
  });

  it('on the wire between the phone and its node: TLS records, no SIP in the clear, and no connection to the phone\'s own listener', async () => {
    await capture!.stop();
    capture = undefined;
    assert.ok(readPackets(pcap, ['frame.number'], 'tls.record').length > 0);
    assert.equal(readPackets(pcap, ['frame.number'], 'sip').length, 0, 'no SIP in the clear');
    assert.equal(readPackets(pcap, ['frame.number'], `tcp.flags.syn == 1 && tcp.dstport == ${phoneTls}`).length, 0, 'the node reached the phone on the connection it registered on');
  });
});
