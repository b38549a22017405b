// Calls with baresip encrypted to the phone: SIP over TLS, and SRTP keyed by SDES (RFC 4568;
// baresip's srtp module with `mediaenc=srtp-mand`, which takes nothing else). Both directions.
// Each side plays its own tone; each hears the other's, and tshark at the node's address finds
// no SIP in the clear and no RTP payload that sounds like either tone.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { requireBaresip, startBaresip, type Baresip } from '../peers/baresip.js';
import { readPackets, requireTshark, startCapture, type Capture } from '../peers/tshark.js';
import { describeCalls, framesAt, watchCalls, writeTone } from '../support/calls.js';
import { heardTone, rtpPayloadsTo } from '../support/wire-audio.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/** The node alone at this address, so the capture takes its traffic whatever the port. */
const NODE_ADDRESS = '127.0.0.5';
const NODE_RTP_PORTS = '16384-19999';
const NODE_HZ = 440;
const PHONE_HZ = 660;

describe('calls with baresip over TLS, encrypted to the phone (SDES)', { timeout: 120_000 }, () => {
  let dir: string;
  let nodeTone: string;
  let phoneTone: string;
  let node: NodeProcess | undefined;
  let control: NodeControl | undefined;
  let baresip: Baresip | undefined;
  let capture: Capture | undefined;

  before(async () => {
    requireBaresip();
    requireTshark();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-srtp-baresip-'));
    nodeTone = await writeTone(path.join(dir, 'node.wav'), NODE_HZ, 30);
    phoneTone = await writeTone(path.join(dir, 'phone.wav'), PHONE_HZ, 30);
  });
  afterEach(async () => {
    await capture?.stop().catch(() => undefined);
    control?.close();
    await baresip?.stop();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
    if (baresip) await removeDir(baresip.dir);
    [node, control, baresip, capture] = [undefined, undefined, undefined, undefined];
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function talk(caller: 'phone' | 'node', t: { diagnostic(message: string): void }): Promise<void> {
    const recording = path.join(dir, `node-heard-${caller}.wav`);
    node = await startNode({ user: 'alice', args: ['--bind', NODE_ADDRESS, '--auto-answer', '--play', nodeTone, '--record', recording, '--rtp-ports', NODE_RTP_PORTS, '--no-mdns', '--no-multicast-register'] });
    const api = (control = controlOf(node));
    const calls = watchCalls(api);
    const status = await api.invoke('node.status', {});
    baresip = await startBaresip({ user: 'carol', answerMode: 'auto', source: phoneTone, tls: true, mediaenc: 'srtp-mand' });
    const pcap = path.join(dir, `${caller}.pcap`);
    capture = await startCapture({ file: pcap, ports: [], hosts: [NODE_ADDRESS], probePort: await freePort(), maxSeconds: 60 });

    if (caller === 'phone') await baresip.dial(`sip:alice@${NODE_ADDRESS}:${status.sipTlsPort};transport=tls`);
    else await api.invoke('call.dial', { to: baresip.tlsUri! });
    await baresip.waitFor('CALL_ESTABLISHED');
    const talking: CallView = await until('two seconds of audio at the node', async () => {
      const [view] = await api.invoke('call.list', {});
      return view?.quality && view.quality.packetsReceived > 100 && view.quality.packetsSent > 100 ? view : undefined;
    }, 15_000, describeCalls(calls));
    assert.equal(talking.encryption, 'to-phone', 'the call screen says "Encrypted to the phone"');
    await api.invoke('call.hangup', { id: talking.id });
    await baresip.waitFor('CALL_CLOSED');
    await capture.stop();
    capture = undefined;
    await node.stop();
    await baresip.stop();

    // The signalling: over TLS, none of it readable as SIP on the wire.
    assert.equal(readPackets(pcap, ['frame.number'], 'sip').length, 0, 'no SIP in the clear');
    assert.ok(readPackets(pcap, ['frame.number'], 'tls.record').length > 0, 'TLS records between them');
    // The audio: each side hears the other's tone; the packets on the wire sound like neither.
    const toNode = rtpPayloadsTo(pcap, NODE_ADDRESS, 10);
    // Everything captured is the node's: what goes to baresip's address came from it.
    const fromNode = rtpPayloadsTo(pcap, '127.0.0.1', 10);
    assert.ok(toNode.length > 100 && fromNode.length > 100, `RTP both ways on the wire: ${toNode.length} to the node, ${fromNode.length} from it`);
    const nodeHeard = heardTone(recording, PHONE_HZ);
    const phoneHeard = heardTone(baresip.receivedRecording(), NODE_HZ);
    const wire = { toNode: framesAt(toNode, PHONE_HZ), fromNode: framesAt(fromNode, NODE_HZ) };
    t.diagnostic(`node heard ${PHONE_HZ} Hz in ${(nodeHeard * 100).toFixed(0)}% of loud frames, baresip ${NODE_HZ} Hz in ${(phoneHeard * 100).toFixed(0)}%; on the wire ${(wire.toNode * 100).toFixed(1)}% / ${(wire.fromNode * 100).toFixed(1)}%`);
    assert.ok(nodeHeard > 0.8, `the node heard baresip's tone in ${(nodeHeard * 100).toFixed(0)}% of its loud frames`);
    assert.ok(phoneHeard > 0.8, `baresip heard the node's tone in ${(phoneHeard * 100).toFixed(0)}% of its loud frames`);
    assert.ok(wire.toNode < 0.02 && wire.fromNode < 0.02, `packets on the wire that sound like the tones: ${(wire.toNode * 100).toFixed(1)}% to the node, ${(wire.fromNode * 100).toFixed(1)}% from it`);
  }

  it('hold and resume keep the encrypted audio going, whatever keys baresip answers the re-INVITEs with', async () => {
    node = await startNode({ user: 'alice', args: ['--bind', NODE_ADDRESS, '--auto-answer', '--play', nodeTone, '--rtp-ports', NODE_RTP_PORTS, '--no-mdns', '--no-multicast-register'] });
    const api = (control = controlOf(node));
    const calls = watchCalls(api);
    baresip = await startBaresip({ user: 'carol', answerMode: 'auto', source: phoneTone, tls: true, mediaenc: 'srtp-mand' });
    const { id } = await api.invoke('call.dial', { to: baresip.tlsUri! });
    await baresip.waitFor('CALL_ESTABLISHED');
    const received = async () => (await api.invoke('call.list', {})).find((c) => c.id === id)?.quality?.packetsReceived ?? 0;
    await until('audio from baresip', async () => ((await received()) > 50 ? true : undefined), 15_000, describeCalls(calls));
    await api.invoke('call.hold', { id, hold: true });
    await api.invoke('call.hold', { id, hold: false });
    const resumedAt = await received();
    await until('audio again after the resume', async () => ((await received()) > resumedAt + 100 ? true : undefined), 15_000, describeCalls(calls));
    const [view] = await api.invoke('call.list', {});
    assert.equal(view.encryption, 'to-phone');
    assert.ok((view.quality?.refusedSrtp ?? 0) < 5, `SRTP refused after the re-INVITEs: ${view.quality?.refusedSrtp}`);
    await api.invoke('call.hangup', { id });
  });

  it('baresip calls the node over TLS with SRTP only, and both hear each other', (t) => talk('phone', t));
  it('the node calls baresip at a transport=tls URI, offers SDES, and both hear each other', (t) => talk('node', t));
});
