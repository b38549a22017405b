// An encrypted call's media between two real sessions on loopback, through a hostile relay in the
// middle that forwards every datagram and also keeps a copy, replays, tampers and injects. The
// keys come from the signed agreement (wire/sdp/media-key.ts) as a call makes them. What the
// relay holds does not carry the audio; what the far end plays does; every replayed, tampered
// or injected datagram is refused and counted; SRTCP still yields a round trip.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../native/log.js';
import { MediaSession } from '../../native/services/calls/media-session.js';
import { WavFileSource, WavRecorder } from '../../native/services/calls/wav-file-audio.js';
import { resample } from '../../native/proto/media/resampler.js';
import { decodeG711, encodeG711 } from '../../native/wire/audio/g711.js';
import { decodeWav } from '../../native/wire/audio/wav.js';
import { generateX25519KeyPair } from '../../native/wire/crypto/x25519.js';
import { looksLikeRtcp, serializeRtpPacket } from '../../native/wire/rtp/rtp-packet.js';
import type { NegotiatedAudio } from '../../native/wire/sdp/audio-offer-answer.js';
import { deriveCallSrtpKeys } from '../../native/wire/sdp/media-key.js';

const log = createLogger('srtp-media-test', 'silent');
const dir = await mkdtemp(path.join(tmpdir(), 'peerdial-srtp-'));
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const close of closers) await close();
  await rm(dir, { recursive: true, force: true });
});

const negotiated = (remotePort: number): NegotiatedAudio => ({ codec: { name: 'PCMU', payloadType: 0 }, telephoneEventPayloadType: 101, remoteAddress: '127.0.0.1', remotePort, direction: 'sendrecv' });

function sweep(seconds: number): Int16Array {
  const n = 8000 * seconds;
  return Int16Array.from({ length: n }, (_, i) => {
    const t = i / 8000;
    return Math.round(12000 * Math.sin(2 * Math.PI * (300 * t + ((3000 - 300) / (2 * seconds)) * t * t)));
  });
}

/** The best normalised cross-correlation of `sent` inside `heard`. */
function bestCorrelation(sent: Int16Array, heard: Int16Array): number {
  let sentEnergy = 0;
  for (const s of sent) sentEnergy += s * s;
  let best = 0;
  for (let lag = 0; lag + sent.length <= heard.length; lag += 1) {
    let dot = 0;
    let heardEnergy = 0;
    for (let i = 0; i < sent.length; i++) {
      dot += sent[i] * heard[lag + i];
      heardEnergy += heard[lag + i] * heard[lag + i];
    }
    if (heardEnergy > 0) best = Math.max(best, dot / Math.sqrt(sentEnergy * heardEnergy));
  }
  return best;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function udp(port = 0): Promise<dgram.Socket | undefined> {
  const socket = dgram.createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) socket.close();
  return bound ? socket : undefined;
}

/** Two sockets on ports P and P+1 (RTP and RTCP, RFC 3550 11). */
async function portPair(): Promise<[dgram.Socket, dgram.Socket]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const rtp = await udp();
    if (!rtp) continue;
    const rtcp = await udp(rtp.address().port + 1);
    if (rtcp) return [rtp, rtcp];
    rtp.close();
  }
  throw new Error('no two adjacent free UDP ports');
}

/**
 * A relay between A and B on both ports: forwards everything, keeps what A sent, and while
 * `hostile` is on sends before each of A's datagrams a copy with one bit flipped, after it the
 * datagram again (a replay), and a plain RTP packet of its own on A's stream.
 */
async function hostileRelay(aPort: number, bPort: number) {
  const facingA = await portPair();
  const facingB = await portPair();
  const state = { hostile: false, fromA: [] as Buffer[], injected: 0 };
  const loud = encodeG711('mu', Int16Array.from({ length: 160 }, (_, i) => Math.round(20000 * Math.sin((2 * Math.PI * 2000 * i) / 8000))));
  for (const offset of [0, 1] as const) {
    facingA[offset].on('message', (datagram) => {
      state.fromA.push(datagram);
      const to = bPort + offset;
      if (state.hostile) {
        // A forgery of the packet goes first: taken, it would spend the real one's index.
        const tampered = Buffer.from(datagram);
        tampered[tampered.length - 12] ^= 0x01;
        facingB[offset].send(tampered, to, '127.0.0.1');
      }
      facingB[offset].send(datagram, to, '127.0.0.1');
      if (!state.hostile) return;
      facingB[offset].send(datagram, to, '127.0.0.1');
      if (offset === 0 && !looksLikeRtcp(datagram)) {
        const ssrc = datagram.readUInt32BE(8);
        const seq = (datagram.readUInt16BE(2) + 1000) & 0xffff;
        facingB[0].send(serializeRtpPacket({ payloadType: 0, sequenceNumber: seq, timestamp: 0, ssrc, payload: loud }), to, '127.0.0.1');
        state.injected++;
      }
    });
    facingB[offset].on('message', (datagram) => facingA[offset].send(datagram, aPort + offset, '127.0.0.1'));
  }
  closers.push(() => [...facingA, ...facingB].forEach((s) => s.close()));
  return { state, portForA: facingA[0].address().port, portForB: facingB[0].address().port };
}

describe('an encrypted call through a hostile relay', () => {
  it('plays the audio at the far end, leaves the relay only ciphertext, and refuses replays, tampering and injection', async () => {
    const open = async () => {
      const session = await MediaSession.open({ bind: '127.0.0.1', advertisedHost: '127.0.0.1', log, rtcpIntervalMs: 500 });
      closers.push(() => session.close());
      return session;
    };
    const a = await open();
    const b = await open();
    // The agreement as a call makes it: each side's fresh X25519 key, the Call-ID as salt.
    const callerKey = generateX25519KeyPair();
    const calleeKey = generateX25519KeyPair();
    const callerPublic = callerKey.publicKey.toString('base64url');
    const calleePublic = calleeKey.publicKey.toString('base64url');
    a.secure(deriveCallSrtpKeys('caller', callerKey.privateKey, callerPublic, calleePublic, 'call-1@test'));
    b.secure(deriveCallSrtpKeys('callee', calleeKey.privateKey, callerPublic, calleePublic, 'call-1@test'));
    assert.throws(() => a.secure(deriveCallSrtpKeys('caller', callerKey.privateKey, callerPublic, calleePublic, 'x')), /once/);

    const relay = await hostileRelay(a.port, b.port);
    const signal = sweep(1);
    const source = new WavFileSource({ sampleRate: 8000, samples: signal });
    const recordingPath = path.join(dir, 'b-heard.wav');
    const recorder = await WavRecorder.create(recordingPath);
    a.setSource(source);
    b.setSink(recorder);
    a.configure(negotiated(relay.portForA));
    b.configure(negotiated(relay.portForB));
    await waitFor(() => a.stats().packetsReceived > 10, 3000, 'A to hear B through the relay');
    relay.state.hostile = true;
    await waitFor(() => source.finished, 3000, 'the sweep to be sent');
    relay.state.hostile = false;
    await sleep(400);
    await recorder.close();

    // The recorder keeps 48 kHz; the sweep was sent at 8 kHz, so it is compared at 8 kHz.
    const recorded = decodeWav(await readFile(recordingPath));
    const heard = resample(recorded.samples, recorded.sampleRate, 8000);
    const atB = bestCorrelation(signal, heard);
    assert.ok(atB > 0.9, `B plays the sweep (correlation ${atB.toFixed(3)})`);

    // What the relay holds: RTP headers in the clear, payloads that decode to noise.
    const payloads = relay.state.fromA.filter((d) => !looksLikeRtcp(d)).map((d) => decodeG711('mu', d.subarray(12, d.length - 10)));
    const onTheWire = new Int16Array(payloads.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of payloads) {
      onTheWire.set(p, at);
      at += p.length;
    }
    const atRelay = bestCorrelation(signal.subarray(0, 4000), onTheWire);
    assert.ok(atRelay < 0.2, `the relay's copy does not carry the sweep (correlation ${atRelay.toFixed(3)})`);

    const refused = b.stats().srtp!;
    const hostileRtp = relay.state.injected;
    assert.ok(hostileRtp > 20, `the relay was hostile for ${hostileRtp} packets`);
    assert.ok(refused.replayed >= hostileRtp, `replays refused: ${refused.replayed} of at least ${hostileRtp}`);
    // Each tampered copy and each injected plain packet fails authentication.
    assert.ok(refused.authFailed >= 2 * hostileRtp, `forgeries refused: ${refused.authFailed} of at least ${2 * hostileRtp}`);
    assert.ok(b.stats().packetsReceived <= a.stats().packetsSent, 'no packet was taken twice');
    await waitFor(() => a.stats().rttMs !== undefined && b.stats().rttMs !== undefined, 5000, 'a round trip from SRTCP reports');
    assert.equal(a.stats().srtp!.authFailed, 0, 'nothing forged came back to A');
  });
});
