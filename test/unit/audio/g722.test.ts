import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createG722Codec, G722Decoder, G722Encoder } from '../../../native/wire/audio/g722.js';
import { bytesOf, ffmpeg, int16Of, requireFfmpeg } from '../../support/ffmpeg.js';
import { framesOf, snrDb, speechLike } from '../../support/speech-like.js';

const RATE = 16000;
const FRAME = 320; // 20 ms

/** Speech-like audio, then a stretch driven to full scale (clipped) to reach the saturating paths. */
function testSignal(): Int16Array {
  const speech = speechLike(RATE, 3);
  const loud = speechLike(RATE, 1, 11).map((s) => Math.max(-32768, Math.min(32767, s * 6)));
  const sweep = Int16Array.from({ length: RATE }, (_, i) => Math.round(30000 * Math.sin(2 * Math.PI * (100 * i + (3900 * i * i) / RATE / 2) / RATE)));
  const out = new Int16Array(speech.length + loud.length + sweep.length);
  out.set(speech);
  out.set(loud, speech.length);
  out.set(sweep, speech.length + loud.length);
  return out;
}

function tone(hz: number, seconds: number): Int16Array {
  return Int16Array.from({ length: RATE * seconds }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * hz * i) / RATE)));
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `first difference at ${i}: ours ${a[i]}, ffmpeg ${b[i]}`;
  return a.length === b.length ? 'identical' : `lengths ${a.length} and ${b.length}`;
}

describe('G.722 against ffmpeg', () => {
  const pcm = testSignal();

  it('encodes-the-same-octets-as-ffmpeg', () => {
    requireFfmpeg();
    const encoder = new G722Encoder();
    const ours = Buffer.concat(framesOf(pcm, FRAME).map((frame) => encoder.encode(frame)));
    const theirs = ffmpeg(['-f', 's16le', '-ar', '16000', '-ac', '1'], bytesOf(pcm), ['-c:a', 'g722', '-f', 'g722']);
    assert.equal(ours.length, pcm.length / 2);
    assert.ok(ours.equals(theirs), firstDifference(ours, theirs));
  });

  it('decodes-ffmpeg-octets-to-the-same-samples-as-ffmpeg', () => {
    requireFfmpeg();
    const octets = ffmpeg(['-f', 's16le', '-ar', '16000', '-ac', '1'], bytesOf(pcm), ['-c:a', 'g722', '-f', 'g722']);
    const theirs = int16Of(ffmpeg(['-f', 'g722'], octets, ['-f', 's16le']));
    const decoder = new G722Decoder();
    const ours = new Int16Array(octets.length * 2);
    for (let i = 0; i < octets.length; i += FRAME / 2) ours.set(decoder.decode(octets.subarray(i, i + FRAME / 2)), i * 2);
    assert.equal(ours.length, theirs.length);
    assert.ok(ours.every((s, i) => s === theirs[i]), firstDifference(ours, theirs));
  });
});

describe('G.722 codec', () => {
  it('makes-160-octets-of-20-ms-and-320-samples-back', () => {
    const codec = createG722Codec();
    assert.equal(codec.sampleRate, 16000);
    const payload = codec.encode(tone(1000, 1).subarray(0, FRAME));
    assert.equal(payload.length, 160);
    assert.equal(codec.decode(payload).length, FRAME);
    assert.equal(codec.recover(FRAME), undefined);
  });

  // The QMF pair delays the signal by 22 samples. A 1 kHz tone rides the 6-bit low band (about
  // 47 dB here); 5 kHz only the 2-bit high band (about 22 dB), and reaching it at all is what
  // wideband means: a narrowband codec would return silence.
  for (const [hz, minimumDb] of [[1000, 40], [5000, 18]]) {
    it(`carries-a-${hz}-hz-tone-with-high-snr`, () => {
      const codec = createG722Codec();
      const input = tone(hz, 1);
      const output = new Int16Array(input.length);
      framesOf(input, FRAME).forEach((frame, i) => output.set(codec.decode(codec.encode(frame)), i * FRAME));
      // Skip the first 100 ms while the adaptive quantizers settle.
      const settled = RATE / 10;
      const snr = snrDb(input.subarray(settled, input.length - 64), output.subarray(settled), 22);
      assert.ok(snr > minimumDb, `SNR ${snr.toFixed(1)} dB at ${hz} Hz`);
    });
  }
});
