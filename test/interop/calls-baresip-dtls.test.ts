// Calls with baresip keyed by DTLS-SRTP (RFC 5763/5764; baresip's dtls_srtp module with
// `mediaenc=dtls_srtp`) over plain UDP signalling: the keys come from a handshake on the media
// port and never cross the SIP. Both directions, with and without RTCP multiplexed. Each side
// plays its own tone and hears the other's; tshark at the node's address sees the DTLS handshake
// and no RTP payload that sounds like either tone. A phone without DTLS-SRTP refuses the offer:
// the call goes plain ("Not encrypted") if the user allows that, and ends as not secured if not.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
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
const NODE_ADDRESS = '127.0.0.6';
const NODE_RTP_PORTS = '20000-23999';
const NODE_HZ = 440;
const PHONE_HZ = 660;

describe('calls with baresip keyed by DTLS-SRTP', { timeout: 180_000 }, () => {
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
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-dtls-baresip-'));
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

  async function startBoth(name: string, phone: { mediaenc?: 'dtls_srtp'; rtcpMux?: boolean }) {
    const recording = path.join(dir, `node-heard-${name}.wav`);
    node = await startNode({ user: 'alice', args: ['--bind', NODE_ADDRESS, '--auto-answer', '--play', nodeTone, '--record', recording, '--rtp-ports', NODE_RTP_PORTS, '--no-mdns', '--no-multicast-register'] });
    const api = (control = controlOf(node));
    const calls = watchCalls(api);
    const status = await api.invoke('node.status', {});
    baresip = await startBaresip({ user: 'carol', answerMode: 'auto', source: phoneTone, ...phone });
    return { api, calls, status, recording };
  }

  async function talk(caller: 'phone' | 'node', rtcpMux: boolean, t: { diagnostic(message: string): void }): Promise<void> {
    const { api, calls, status, recording } = await startBoth(`${caller}-${rtcpMux}`, { mediaenc: 'dtls_srtp', rtcpMux });
    const pcap = path.join(dir, `${caller}-${rtcpMux}.pcap`);
    capture = await startCapture({ file: pcap, ports: [], hosts: [NODE_ADDRESS], probePort: await freePort(), maxSeconds: 60 });

    if (caller === 'phone') await baresip!.dial(`sip:alice@${NODE_ADDRESS}:${status.sipPort}`);
    else await api.invoke('call.dial', { to: baresip!.uri });
    await baresip!.waitFor('CALL_ESTABLISHED');
    const talking: CallView = await until('two seconds of audio at the node', async () => {
      const [view] = await api.invoke('call.list', {});
      return view?.quality && view.quality.packetsReceived > 100 && view.quality.packetsSent > 100 ? view : undefined;
    }, 15_000, describeCalls(calls));
    assert.equal(talking.encryption, 'to-phone', 'the call screen says "Encrypted to the phone"');
    if (rtcpMux) {
      // RTCP multiplexed on the one DTLS-keyed port: baresip's SRTCP reports come back and give a round trip.
      const reported = await until('a round trip from the phone\'s SRTCP reports', async () => {
        const [view] = await api.invoke('call.list', {});
        return view?.quality?.rttMs !== undefined ? view : undefined;
      }, 15_000, describeCalls(calls));
      assert.ok(reported.quality!.rttMs! >= 0);
    }
    const security = (await api.invoke('node.status', {})).callSecurity;
    assert.equal(security.phoneEncryptedCalls, 1);
    await api.invoke('call.hangup', { id: talking.id });
    await baresip!.waitFor('CALL_CLOSED');
    await capture.stop();
    capture = undefined;
    await node!.stop();
    await baresip!.stop();

    const log = baresip!.output();
    assert.match(log, /verified sha-256 fingerprint OK/, 'baresip checked the node\'s certificate against its SDP fingerprint');
    assert.match(log, /DTLS-SRTP complete/);
    // The handshake ran on the media path, and the SIP carried no keys.
    assert.ok(readPackets(pcap, ['frame.number'], 'dtls.handshake').length > 0, 'a DTLS handshake on the wire');
    assert.equal(readPackets(pcap, ['frame.number'], 'sdp.media_attr contains "crypto"').length, 0, 'no SDES keys in the SIP');
    assert.ok(readPackets(pcap, ['frame.number'], 'sdp.media_attr matches "(?i)fingerprint:sha-256" || sdp.session_attr matches "(?i)fingerprint:sha-256"').length >= 2, 'fingerprints in offer and answer');
    const toNode = rtpPayloadsTo(pcap, NODE_ADDRESS, 16);
    const fromNode = rtpPayloadsTo(pcap, '127.0.0.1', 16);
    assert.ok(toNode.length > 100 && fromNode.length > 100, `RTP both ways on the wire: ${toNode.length} to the node, ${fromNode.length} from it`);
    const nodeHeard = heardTone(recording, PHONE_HZ);
    const phoneHeard = heardTone(baresip!.receivedRecording(), NODE_HZ);
    const wire = { toNode: framesAt(toNode, PHONE_HZ), fromNode: framesAt(fromNode, NODE_HZ) };
    t.diagnostic(`node heard ${PHONE_HZ} Hz in ${(nodeHeard * 100).toFixed(0)}% of loud frames, baresip ${NODE_HZ} Hz in ${(phoneHeard * 100).toFixed(0)}%; on the wire ${(wire.toNode * 100).toFixed(1)}% / ${(wire.fromNode * 100).toFixed(1)}%`);
    assert.ok(nodeHeard > 0.8, `the node heard baresip's tone in ${(nodeHeard * 100).toFixed(0)}% of its loud frames`);
    assert.ok(phoneHeard > 0.8, `baresip heard the node's tone in ${(phoneHeard * 100).toFixed(0)}% of its loud frames`);
    assert.ok(wire.toNode < 0.02 && wire.fromNode < 0.02, `packets on the wire that sound like the tones: ${(wire.toNode * 100).toFixed(1)}% to the node, ${(wire.fromNode * 100).toFixed(1)}% from it`);
  }

  it('baresip calls the node with DTLS-SRTP (RTCP on its own port), and both hear each other', (t) => talk('phone', false, t));
  it('the node calls baresip, offers DTLS-SRTP with RTCP multiplexed, and both hear each other', (t) => talk('node', true, t));

  it('hold and resume keep the DTLS-SRTP call going on the keys agreed at its start', async () => {
    const { api, calls } = await startBoth('hold', { mediaenc: 'dtls_srtp', rtcpMux: true });
    const { id } = await api.invoke('call.dial', { to: baresip!.uri });
    await baresip!.waitFor('CALL_ESTABLISHED');
    const received = async () => (await api.invoke('call.list', {})).find((c) => c.id === id)?.quality?.packetsReceived ?? 0;
    await until('audio from baresip', async () => ((await received()) > 50 ? true : undefined), 15_000, describeCalls(calls));
    await api.invoke('call.hold', { id, hold: true });
    await api.invoke('call.hold', { id, hold: false });
    const resumedAt = await received();
    await until('audio again after the resume', async () => ((await received()) > resumedAt + 100 ? true : undefined), 15_000, describeCalls(calls));
    const [view] = await api.invoke('call.list', {});
    assert.equal(view.encryption, 'to-phone');
    assert.ok((view.quality?.refusedSrtp ?? 0) < 5, `SRTP refused after the re-INVITEs: ${view.quality?.refusedSrtp}`);
    assert.doesNotMatch(baresip!.output(), /dtls_srtp: .*(error|failed)/i);
    await api.invoke('call.hangup', { id });
  });

  it('a fingerprint changed on the way is caught by the handshake: the call ends as not secured, counted', async () => {
    const { api, calls, status } = await startBoth('tampered', { mediaenc: 'dtls_srtp' });
    // Someone on the signalling path rewrites the phone's a=fingerprint (as a man in the middle
    // that wants to terminate DTLS itself would): a UDP relay between baresip and the node.
    const relay = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
    let phone: { port: number; address: string } | undefined;
    relay.on('message', (message, from) => {
      if (from.address === NODE_ADDRESS) {
        if (phone) relay.send(message, phone.port, phone.address);
        return;
      }
      phone = from;
      const text = message.toString('latin1');
      const tampered = text.replace(/(a=fingerprint:\S+ )([0-9A-F]{2})/i, (_, head: string, first: string) => head + (first === '00' ? '11' : '00'));
      relay.send(Buffer.from(tampered, 'latin1'), status.sipPort, NODE_ADDRESS);
    });
    try {
      await baresip!.dial(`sip:alice@127.0.0.1:${relay.address().port}`);
      const ended = await until('the node ends the call as not secured', async () => [...calls.values()].find((c) => c.state === 'ended'), 20_000, describeCalls(calls));
      assert.equal(ended.endReason, 'not-secured');
      const security = await api.invoke('call.security', {});
      assert.equal(security.refused['wrong-certificate'], 1, 'counted as a wrong certificate');
      const history = await api.invoke('call.history', {});
      assert.match(JSON.stringify(history), /not-secured|could not be secured/);
    } finally {
      relay.close();
    }
  });

  it('a phone without DTLS-SRTP refuses the offer: the call goes plain, or ends as not secured when plain calls are off', async () => {
    const { api, calls } = await startBoth('plain', {});
    await api.invoke('call.dial', { to: baresip!.uri });
    await baresip!.waitFor('CALL_ESTABLISHED');
    const talking: CallView = await until('audio at the node', async () => {
      const [view] = await api.invoke('call.list', {});
      return view?.quality && view.quality.packetsReceived > 50 ? view : undefined;
    }, 15_000, describeCalls(calls));
    assert.equal(talking.encryption, 'none', 'the call screen says "Not encrypted"');
    assert.match(baresip!.output(), /no common audio codecs - rejected/, "baresip refused the DTLS-SRTP offer first");
    await api.invoke('call.hangup', { id: talking.id });
    await baresip!.waitFor('CALL_CLOSED');

    await api.invoke('call.setSecurity', { allowUnencryptedPhones: false });
    const { id } = await api.invoke('call.dial', { to: baresip!.uri });
    const ended = await until('the call ends as not secured', async () => {
      const view = calls.get(id);
      return view?.state === 'ended' ? view : undefined;
    }, 15_000, describeCalls(calls));
    assert.equal(ended.endReason, 'not-secured');
    const security = await api.invoke('call.security', {});
    assert.equal(security.refused['plain-not-allowed'], 1);
    assert.equal(security.phoneEncryptedCalls, 0);
  });
});
