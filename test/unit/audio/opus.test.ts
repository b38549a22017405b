import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOpusCodec, OPUS_FRAME_SAMPLES } from '../../../native/wire/audio/opus.js';
import { bytesOf, ffmpeg, ffmpegHas, int16Of, requireFfmpeg } from '../../support/ffmpeg.js';
import { readOggOpusPackets, writeOggOpus } from '../../support/ogg-opus.js';
import { bestDelay, framesOf, snrDb, speechLike } from '../../support/speech-like.js';

const RATE = 48000;
/** libopus's encoder lookahead at 48 kHz (2.5 ms + 4 ms): how far its output trails its input. */
const LOOKAHEAD = 312;

function concat(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function encodeAll(pcm: Int16Array, options: Parameters<typeof createOpusCodec>[0] = {}): Buffer[] {
  const codec = createOpusCodec(options);
  const packets = framesOf(pcm, OPUS_FRAME_SAMPLES).map((frame) => codec.encode(frame));
  codec.close();
  return packets;
}

function decodeAll(packets: Buffer[]): Int16Array {
  const codec = createOpusCodec();
  const out = concat(packets.map((p) => codec.decode(p)));
  codec.close();
  return out;
}

function squaredError(a: Int16Array, b: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

describe('Opus codec', () => {
  it('carries-speech-through-a-round-trip-at-48-khz', () => {
    const pcm = speechLike(RATE, 3);
    const decoded = decodeAll(encodeAll(pcm));
    assert.equal(decoded.length, pcm.length);
    const match = bestDelay(pcm, decoded, 2 * LOOKAHEAD);
    // A perceptual codec does not keep the waveform exactly; 0.8 at 32 kbit/s is far above chance.
    assert.ok(match.correlation > 0.7, `correlation ${match.correlation.toFixed(3)} at delay ${match.delay}`);
    assert.ok(Math.abs(match.delay - LOOKAHEAD) <= 8, `delay ${match.delay}`);
  });

  it('rebuilds-a-lost-packet-from-the-next-ones-fec-far-better-than-plc', () => {
    const pcm = speechLike(RATE, 4);
    const packets = encodeAll(pcm, { packetLossPercent: 20 });
    const reference = createOpusCodec();
    const clean = packets.map((p) => reference.decode(p));
    let fecBetter = 0;
    let tried = 0;
    let fecError = 0;
    let plcError = 0;
    for (let lost = 20; lost < packets.length - 2; lost += 9) {
      const energy = clean[lost].reduce((sum, s) => sum + s * s, 0);
      if (energy < 1e8) continue; // a pause: nothing to rebuild
      const withFec = createOpusCodec();
      const withPlc = createOpusCodec();
      for (let i = 0; i < lost; i++) {
        withFec.decode(packets[i]);
        withPlc.decode(packets[i]);
      }
      const rebuilt = withFec.recover(OPUS_FRAME_SAMPLES, packets[lost + 1])!;
      const concealed = withPlc.recover(OPUS_FRAME_SAMPLES)!;
      assert.equal(rebuilt.length, OPUS_FRAME_SAMPLES);
      assert.equal(concealed.length, OPUS_FRAME_SAMPLES);
      const fec = squaredError(clean[lost], rebuilt);
      const plc = squaredError(clean[lost], concealed);
      tried++;
      if (fec < plc) fecBetter++;
      fecError += fec;
      plcError += plc;
      withFec.close();
      withPlc.close();
    }
    reference.close();
    assert.ok(tried >= 8, `only ${tried} voiced frames to test`);
    assert.ok(fecBetter >= tried - 2, `FEC beat PLC on ${fecBetter} of ${tried} lost frames`);
    // Summed over all lost frames: at least 10 dB less error with the redundancy than without.
    assert.ok(plcError > 10 * fecError, `error FEC ${fecError.toExponential(2)} against PLC ${plcError.toExponential(2)}`);
  });

  it('sends-only-tiny-packets-through-silence-with-dtx', () => {
    const codec = createOpusCodec();
    const silence = new Int16Array(OPUS_FRAME_SAMPLES);
    const sizes = Array.from({ length: 50 }, () => codec.encode(silence).length);
    codec.close();
    // libopus needs ~200 ms of silence before it declares DTX; after that only the TOC octet (or a
    // refresh of comfort noise every 400 ms).
    const settled = sizes.slice(20);
    assert.ok(settled.filter((n) => n <= 3).length >= settled.length - 2, `sizes after 400 ms: ${settled.join(',')}`);
  });

  it('follows-tune-to-a-new-bitrate', () => {
    const pcm = speechLike(RATE, 2);
    const frames = framesOf(pcm, OPUS_FRAME_SAMPLES);
    const codec = createOpusCodec();
    const meanSize = (range: Int16Array[]) => range.reduce((n, f) => n + codec.encode(f).length, 0) / range.length;
    codec.tune({ bitrate: 16000 });
    const low = meanSize(frames);
    codec.tune({ bitrate: 64000 });
    const high = meanSize(frames);
    codec.tune({ packetLossPercent: 0 });
    codec.close();
    // 16 and 64 kbit/s are 40 and 160 octets per 20 ms; VBR wanders around them.
    assert.ok(low < 60, `mean ${low.toFixed(0)} octets at 16 kbit/s`);
    assert.ok(high > 2 * low, `mean ${high.toFixed(0)} octets at 64 kbit/s against ${low.toFixed(0)} at 16`);
  });

  it('keeps-hundreds-of-calls-apart-in-one-growing-wasm-memory', () => {
    // 400 encoder+decoder pairs outgrow the instance's first 16 MiB: growth must not break the
    // codecs made before it, and each call's stream must decode as it would alone.
    const frames = framesOf(speechLike(RATE, 0.2), OPUS_FRAME_SAMPLES);
    const alone = decodeAll(encodeAll(concat(frames)));
    const calls = Array.from({ length: 400 }, () => createOpusCodec());
    const outputs = calls.map(() => [] as Int16Array[]);
    for (const frame of frames) calls.forEach((call, i) => outputs[i].push(call.decode(call.encode(frame))));
    for (const call of calls) call.close();
    for (const out of [outputs[0], outputs[399]]) assert.deepEqual(concat(out), alone);
  });

  it('gives-no-samples-for-a-packet-libopus-rejects-and-refuses-use-after-close', () => {
    const codec = createOpusCodec();
    // TOC code 3 (RFC 6716 3.2.5) with a frame count of 0: invalid.
    const corrupt = Buffer.from([0x03, 0x00]);
    assert.equal(codec.decode(corrupt).length, 0);
    // A corrupt next packet leaves concealment; a gap not in 2.5 ms steps is filled to the step below.
    assert.equal(codec.recover(OPUS_FRAME_SAMPLES, corrupt)?.length, OPUS_FRAME_SAMPLES);
    assert.equal(codec.recover(1000)?.length, 960);
    codec.close();
    assert.throws(() => codec.encode(new Int16Array(OPUS_FRAME_SAMPLES)), /after close/);
  });
});

describe('Opus against ffmpeg (libopus)', () => {
  it('is-decoded-by-ffmpeg-as-we-decode-it', (t) => {
    requireFfmpeg();
    if (!ffmpegHas('libopus')) return t.skip('this ffmpeg has no libopus');
    const packets = encodeAll(speechLike(RATE, 3));
    const ours = decodeAll(packets);
    const theirs = int16Of(ffmpeg(['-c:a', 'libopus', '-f', 'ogg'], writeOggOpus(packets, OPUS_FRAME_SAMPLES), ['-f', 's16le', '-ar', '48000', '-ac', '1']));
    assert.equal(theirs.length, ours.length);
    // Same decoder, different builds (float here, perhaps fixed-point there): not bit-exact, but close.
    const snr = snrDb(theirs, ours);
    assert.ok(snr > 60, `ours against ffmpeg's decode: ${snr.toFixed(1)} dB`);
  });

  it('decodes-ffmpegs-libopus-stream-as-ffmpeg-does', (t) => {
    requireFfmpeg();
    if (!ffmpegHas('libopus')) return t.skip('this ffmpeg has no libopus');
    const pcm = speechLike(RATE, 3);
    const ogg = ffmpeg(['-f', 's16le', '-ar', '48000', '-ac', '1'], bytesOf(pcm), [
      '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-frame_duration', '20', '-f', 'ogg',
    ]);
    const ours = decodeAll(readOggOpusPackets(ogg));
    const theirs = int16Of(ffmpeg(['-c:a', 'libopus', '-f', 'ogg'], ogg, ['-f', 's16le', '-ar', '48000', '-ac', '1']));
    // ffmpeg drops the stream's pre-skip (the encoder's lookahead); we return every sample.
    const snr = snrDb(theirs, ours, LOOKAHEAD);
    assert.ok(snr > 60, `ours against ffmpeg's decode: ${snr.toFixed(1)} dB`);
    assert.ok(bestDelay(pcm, ours, 2 * LOOKAHEAD).correlation > 0.7);
  });
});
