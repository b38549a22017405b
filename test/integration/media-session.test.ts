// Two real media sessions on loopback UDP: audio A sends is recorded by B and still carries the
// signal; DTMF arrives once per key, in order; RTCP yields a round trip; hold stops the audio;
// symmetric RTP finds A although A's SDP gives a wrong port; junk is counted and dropped. A raw
// UDP peer checks the RTP on the wire (marker, sequence, timestamps, RFC 4733 events), the RTCP
// BYE on close, and the dead-peer timeout.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../native/log.js';
import type { AudioSink } from '../../native/proto/media/audio-io.js';
import { MediaSession, type MediaSessionOptions } from '../../native/services/calls/media-session.js';
import { WavFileSource, WavRecorder } from '../../native/services/calls/wav-file-audio.js';
import { resample } from '../../native/proto/media/resampler.js';
import { decodeWav } from '../../native/wire/audio/wav.js';
import { parseRtcpCompound, serializeRtcpCompound } from '../../native/wire/rtp/rtcp.js';
import { looksLikeRtcp, parseRtpPacket, serializeRtpPacket, type RtpPacket } from '../../native/wire/rtp/rtp-packet.js';
import { parseTelephoneEvent } from '../../native/wire/rtp/telephone-event.js';
import type { NegotiatedAudio } from '../../native/wire/sdp/audio-offer-answer.js';
import { freePort } from '../support/node-process.js';

const log = createLogger('media-test', 'silent');
const dir = await mkdtemp(path.join(tmpdir(), 'peerdial-media-'));
const sessions: MediaSession[] = [];
after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function open(extra: Partial<MediaSessionOptions> = {}): Promise<MediaSession> {
  const session = await MediaSession.open({ bind: '127.0.0.1', advertisedHost: '127.0.0.1', log, rtcpIntervalMs: 500, ...extra });
  sessions.push(session);
  return session;
}

function negotiated(remotePort: number, direction: NegotiatedAudio['direction'] = 'sendrecv', codec: 'PCMU' | 'PCMA' = 'PCMU'): NegotiatedAudio {
  return {
    codec: { name: codec, payloadType: codec === 'PCMU' ? 0 : 8 },
    telephoneEventPayloadType: 101,
    remoteAddress: '127.0.0.1',
    remotePort,
    direction,
  };
}

/** A linear sweep 300 Hz -> 3 kHz: unlike a steady tone it matches itself at one lag only. */
function sweep(seconds: number): Int16Array {
  const rate = 8000;
  const n = rate * seconds;
  return Int16Array.from({ length: n }, (_, i) => {
    const t = i / rate;
    const phase = 2 * Math.PI * (300 * t + ((3000 - 300) / (2 * seconds)) * t * t);
    return Math.round(12000 * Math.sin(phase));
  });
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** The best normalised cross-correlation of `sent` inside `heard`, and at which lag. */
function bestCorrelation(sent: Int16Array, heard: Int16Array): { value: number; lag: number } {
  let sentEnergy = 0;
  for (const s of sent) sentEnergy += s * s;
  let best = { value: 0, lag: -1 };
  for (let lag = 0; lag + sent.length <= heard.length; lag++) {
    let dot = 0;
    let heardEnergy = 0;
    for (let i = 0; i < sent.length; i++) {
      const h = heard[lag + i];
      dot += sent[i] * h;
      heardEnergy += h * h;
    }
    const value = heardEnergy > 0 ? dot / Math.sqrt(sentEnergy * heardEnergy) : 0;
    if (value > best.value) best = { value, lag };
  }
  return best;
}

class CountingSink implements AudioSink {
  frames = 0;
  write(): void {
    this.frames++;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('media session between two peers on loopback', () => {
  it('carries-audio-dtmf-rtcp-and-hold-and-latches-to-the-real-source-port', async () => {
    const a = await open();
    const b = await open();
    const wrongPortForA = await freePort();
    const signal = sweep(1);
    const source = new WavFileSource({ sampleRate: 8000, samples: signal });
    const recordingPath = path.join(dir, 'b-heard.wav');
    const recorder = await WavRecorder.create(recordingPath);
    a.setSource(source);
    b.setSink(recorder);
    const digits: string[] = [];
    b.onDtmf = (digit) => digits.push(digit);

    // A's SDP gave B a port nobody listens on; B must find A by A's own packets.
    a.configure(negotiated(b.port));
    b.configure(negotiated(wrongPortForA));
    await waitFor(() => b.stats().remoteMedia === `127.0.0.1:${a.port}`, 2000, 'B to latch to A');
    await waitFor(() => a.stats().packetsReceived > 20, 2000, 'A to hear B through the latched address');

    await waitFor(() => source.finished, 3000, 'the sweep to be sent');
    await sleep(400); // jitter buffer delay and the last frames in flight
    await recorder.close();
    // The recorder keeps 48 kHz; the sweep was sent at 8 kHz, so it is compared at 8 kHz.
    const recorded = decodeWav(await readFile(recordingPath));
    const heard = resample(recorded.samples, recorded.sampleRate, 8000);
    assert.ok(rms(heard) > 10 * 20, `recording is near silent (rms ${rms(heard).toFixed(1)})`);
    const match = bestCorrelation(signal, heard);
    assert.ok(match.value > 0.9, `recording does not carry the sweep (best correlation ${match.value.toFixed(3)} at lag ${match.lag})`);
    // The sweep was sent from A's first packet, so it shows up after B's buffering only.
    assert.ok(match.lag / 8 < 300, `sweep heard ${match.lag / 8} ms late`);

    await a.sendDtmf('123#');
    await waitFor(() => digits.length >= 4, 1000, 'the DTMF keys');
    await sleep(200); // any duplicate would arrive within a few frames
    assert.deepEqual(digits, ['1', '2', '3', '#']);
    assert.equal(a.stats().dtmfSent, 4);
    assert.equal(b.stats().dtmfReceived, 4);
    await assert.rejects(a.sendDtmf('12x'), /not a phone key/);

    await waitFor(() => a.stats().rttMs !== undefined && b.stats().rttMs !== undefined, 5000, 'RTCP round trips');
    for (const s of [a, b]) {
      const stats = s.stats();
      assert.ok(stats.rttMs! >= 0 && stats.rttMs! < 50, `loopback RTT ${stats.rttMs} ms`);
      assert.equal(stats.codec, 'PCMU');
      assert.ok(stats.packetsReceived > 50);
      assert.equal(stats.lossFraction, 0);
      assert.ok(stats.jitterMs < 10, `jitter ${stats.jitterMs}`);
    }

    // B holds: it keeps sending (sendonly) and neither plays nor is sent audio; RTCP goes on.
    const heldSink = new CountingSink();
    b.setSink(heldSink);
    b.configure(negotiated(wrongPortForA, 'sendonly'));
    a.configure(negotiated(b.port, 'recvonly'));
    await sleep(100);
    const sentByA = a.stats().packetsSent;
    const heardByB = b.stats().packetsReceived;
    const framesAtB = heldSink.frames;
    const rtcpAtB = b.stats().rtcpReceived!;
    await sleep(1200);
    assert.equal(a.stats().packetsSent, sentByA, 'A still sends RTP while held');
    assert.equal(b.stats().packetsReceived, heardByB, 'B still receives RTP while holding');
    assert.equal(heldSink.frames, framesAtB, 'B still plays audio while holding');
    assert.ok(b.stats().rtcpReceived! > rtcpAtB, 'RTCP stopped during hold');
    assert.ok(a.stats().packetsReceived > 0);

    // Resume: audio flows to B again.
    b.configure(negotiated(wrongPortForA, 'sendrecv'));
    a.configure(negotiated(b.port, 'sendrecv'));
    await waitFor(() => heldSink.frames > framesAtB + 10 && b.stats().packetsReceived > heardByB + 10, 2000, 'audio after resume');
  });

  it('counts-and-drops-malformed-datagrams-and-foreign-payload-types', async () => {
    const a = await open();
    const b = await open();
    a.configure(negotiated(b.port, 'sendrecv', 'PCMA'));
    b.configure(negotiated(a.port, 'sendrecv', 'PCMA'));
    const junk = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => junk.bind(0, '127.0.0.1', resolve));
    junk.unref();
    const send = (bytes: Buffer, port: number) => new Promise<void>((resolve) => junk.send(bytes, port, '127.0.0.1', () => resolve()));
    await send(Buffer.from('hello'), a.port); // too short for RTP
    await send(Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), a.port); // version 1
    await send(Buffer.from([0x80, 200, 0, 9, 1, 2]), a.port + 1); // RTCP whose length lies
    await send(Buffer.from([0x80, 201, 0, 5, 0, 0, 0, 1]), a.port); // RTCP muxed on the RTP port, also lying about its length
    await send(serializeRtpPacket({ payloadType: 18, sequenceNumber: 1, timestamp: 0, ssrc: 77, payload: Buffer.alloc(20) }), a.port);
    await waitFor(() => (a.stats().malformedDatagrams ?? 0) >= 4 && (a.stats().ignoredPackets ?? 0) >= 1, 1000, 'junk to be counted');
    junk.close();
    const before = a.stats().packetsReceived;
    await waitFor(() => a.stats().packetsReceived > before + 10, 1000, 'media to keep flowing after junk');
    assert.equal(a.stats().codec, 'PCMA');
  });
});

describe('an Opus call between two media sessions', () => {
  function opus(remotePort: number, peerTakesDtx = false): NegotiatedAudio {
    return { codec: { name: 'opus', payloadType: 111 }, telephoneEventPayloadType: 110, remoteAddress: '127.0.0.1', remotePort, direction: 'sendrecv', ...(peerTakesDtx ? { peerTakesDtx } : {}) };
  }

  /** A sweep 300 Hz -> 7 kHz at 48 kHz: the top half is what a telephone-band call would lose. */
  function wideSweep(seconds: number): Int16Array {
    const rate = 48000;
    return Int16Array.from({ length: rate * seconds }, (_, i) => {
      const t = i / rate;
      return Math.round(12000 * Math.sin(2 * Math.PI * (300 * t + ((7000 - 300) / (2 * seconds)) * t * t)));
    });
  }

  /**
   * RMS (dBFS) through a fourth-order difference filter: its gain rises 24 dB an octave, so 3.5 kHz
   * (the top of a telephone-band call) comes out ~23 dB below 7 kHz.
   */
  function highBandDbfs(samples: Int16Array): number {
    let sum = 0;
    for (let i = 4; i < samples.length; i++) {
      const v = samples[i] - 4 * samples[i - 1] + 6 * samples[i - 2] - 4 * samples[i - 3] + samples[i - 4];
      sum += v * v;
    }
    return 20 * Math.log10(Math.sqrt(sum / samples.length) / 32768);
  }

  it('carries-48-khz-audio-with-its-high-band-and-keys-on-the-opus-clock', async () => {
    const a = await open();
    const b = await open();
    const signal = wideSweep(2);
    a.setSource(new WavFileSource({ sampleRate: 48000, samples: signal }));
    const heard: Int16Array[] = [];
    b.setSink({ write: (frame, rate) => rate === 48000 && heard.push(frame.slice()) });
    const digits: string[] = [];
    b.onDtmf = (digit) => digits.push(digit);
    a.configure(opus(b.port));
    b.configure(opus(a.port));
    await waitFor(() => b.stats().packetsReceived >= 100, 4000, 'two seconds of Opus');
    await a.sendDtmf('7#');
    await waitFor(() => digits.length === 2, 3000, 'the keys');
    assert.deepEqual(digits, ['7', '#']);
    assert.equal(b.stats().codec, 'opus');
    // The sweep's top (5.3-7 kHz in its last quarter) came through: G.711 would carry none of it.
    const all = new Int16Array(heard.reduce((n, f) => n + f.length, 0));
    heard.reduce((at, f) => (all.set(f, at), at + f.length), 0);
    const loudest = Math.max(...Array.from({ length: Math.floor(all.length / 4800) }, (_, k) => highBandDbfs(all.subarray(k * 4800, (k + 1) * 4800))));
    const sentTop = highBandDbfs(signal.subarray(signal.length - 24000));
    assert.ok(loudest > sentTop - 6, `the high band peaked at ${loudest.toFixed(1)} dBFS; the sweep's top was sent at ${sentTop.toFixed(1)}`);
  });

  it('stops-sending-in-silence-only-toward-a-peer-that-asked-for-dtx', async () => {
    const quiet = async (peerTakesDtx: boolean) => {
      const a = await open();
      const b = await open();
      a.configure(opus(b.port, peerTakesDtx));
      b.configure(opus(a.port));
      await sleep(1500);
      return a.stats().packetsSent;
    };
    const withDtx = await quiet(true);
    const without = await quiet(false);
    assert.ok(without >= 60, `${without} packets in 1.5 s of silence without DTX: one every 20 ms`);
    assert.ok(withDtx < without / 2, `${withDtx} packets with DTX against ${without} without`);
  });
});

describe('media session against a raw UDP peer', () => {
  async function rawPeer() {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.unref(); // a failed assertion must not leave the runner waiting on it
    const rtp: { packet: RtpPacket; from: number }[] = [];
    const rtcp: Buffer[] = [];
    socket.on('message', (bytes, from) => {
      if (looksLikeRtcp(bytes)) rtcp.push(bytes);
      else {
        const parsed = parseRtpPacket(bytes);
        if (parsed.ok) rtp.push({ packet: parsed.packet, from: from.port });
      }
    });
    return { socket, port: socket.address().port, rtp, rtcp };
  }

  it('sends-well-formed-rtp-and-rfc4733-events-and-a-bye-on-close', async () => {
    const peer = await rawPeer();
    const session = await open();
    session.configure(negotiated(peer.port));
    // A report from the peer's RTP port: the session latches its RTCP there too (RFC 5761 style).
    const rr = serializeRtcpCompound({ type: 'rr', ssrc: 0x5eed, reports: [] }, 'raw@test');
    peer.socket.send(rr, session.port + 1, '127.0.0.1');
    await waitFor(() => peer.rtp.length >= 10, 1000, 'RTP from the session');
    const first = peer.rtp.slice(0, 10).map((r) => r.packet);
    assert.equal(first[0].marker, true);
    assert.ok(first.slice(1).every((p) => !p.marker));
    for (let i = 1; i < first.length; i++) {
      assert.equal(first[i].sequenceNumber, (first[i - 1].sequenceNumber + 1) & 0xffff);
      assert.equal(first[i].timestamp, (first[i - 1].timestamp + 160) >>> 0);
      assert.equal(first[i].ssrc, first[0].ssrc);
      assert.equal(first[i].payloadType, 0);
      assert.equal(first[i].payload.length, 160);
    }

    const before = peer.rtp.length;
    await session.sendDtmf('7');
    await sleep(100);
    const after = peer.rtp.slice(before).map((r) => r.packet);
    const eventsStart = after.findIndex((p) => p.payloadType === 101);
    const events = after.filter((p) => p.payloadType === 101);
    assert.equal(events.length, 7);
    assert.equal(events[0].marker, true);
    assert.ok(events.every((p) => p.timestamp === events[0].timestamp));
    const decoded = events.map((p) => parseTelephoneEvent(p.payload)!);
    assert.ok(decoded.every((e) => e.event === 7));
    assert.deepEqual(decoded.map((e) => e.end), [false, false, false, false, true, true, true]);
    // Audio resumes with the marker set and the clock 7 frames on.
    const resumed = after[eventsStart + 7];
    assert.equal(resumed.payloadType, 0);
    assert.equal(resumed.marker, true);
    assert.equal(resumed.timestamp, (events[0].timestamp + 7 * 160) >>> 0);

    // The session answers RTCP to where the peer's RTCP came from.
    await waitFor(() => peer.rtcp.length >= 1, 1500, 'an RTCP report at the peer');
    const report = parseRtcpCompound(peer.rtcp[0]);
    assert.ok(report.ok && report.packets[0].type === 'sr' && report.packets[1].type === 'sdes');

    const ssrc = first[0].ssrc;
    const count = peer.rtcp.length;
    await session.close();
    await waitFor(() => peer.rtcp.length > count, 1000, 'the RTCP BYE');
    const last = parseRtcpCompound(peer.rtcp.at(-1)!);
    assert.ok(last.ok);
    const bye = last.packets.find((p) => p.type === 'bye');
    assert.ok(bye && bye.type === 'bye' && bye.ssrcs.includes(ssrc), 'no BYE for our SSRC');
    peer.socket.close();
  });

  it('fires-on-peer-silent-once-when-the-peer-stops-and-not-while-not-receiving', async () => {
    const peer = await rawPeer();
    const listening = await open({ silenceTimeoutMs: 400 });
    const holding = await open({ silenceTimeoutMs: 400 });
    let silentFires = 0;
    let holdingFires = 0;
    listening.onPeerSilent = () => silentFires++;
    holding.onPeerSilent = () => holdingFires++;
    listening.configure(negotiated(peer.port));
    holding.configure(negotiated(peer.port, 'sendonly'));
    // The peer talks for 300 ms, then goes quiet.
    const ssrc = 0x1234;
    for (let i = 0; i < 15; i++) {
      const packet = serializeRtpPacket({ payloadType: 0, sequenceNumber: i, timestamp: i * 160, ssrc, payload: Buffer.alloc(160, 0xff) });
      peer.socket.send(packet, listening.port, '127.0.0.1');
      await sleep(20);
    }
    assert.ok(listening.stats().packetsReceived > 0);
    assert.equal(silentFires, 0, 'fired while the peer was talking');
    await sleep(1200);
    assert.equal(silentFires, 1);
    assert.equal(holdingFires, 0);
    peer.socket.close();
  });
});
