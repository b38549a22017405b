import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeALawFrame,
  decodeG711,
  decodeMuLawFrame,
  encodeALaw,
  encodeG711,
  encodeMuLaw,
  lawOfPayloadType,
} from '../../../native/wire/audio/g711.js';

const EVERY_CODE = Uint8Array.from({ length: 256 }, (_, i) => i);
const EVERY_SAMPLE = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

describe('G.711 mu-law', () => {
  it('decodes-the-reference-codes-of-the-standard', () => {
    assert.deepEqual([...decodeMuLawFrame(Uint8Array.of(0xff, 0x7f, 0x00, 0x80))], [0, 0, -32124, 32124]);
  });

  it('re-encodes-every-decoded-code-to-itself-except-the-negative-zero', () => {
    const reencoded = encodeMuLaw(decodeMuLawFrame(EVERY_CODE));
    const changed = [...EVERY_CODE].filter((code) => reencoded[code] !== code);
    // 0x7F is "-0": it decodes to 0, which encodes as the positive zero 0xFF.
    assert.deepEqual(changed, [0x7f]);
    assert.equal(reencoded[0x7f], 0xff);
  });

  it('keeps-round-trip-error-within-half-a-step-of-each-segment', () => {
    const decoded = decodeMuLawFrame(encodeMuLaw(EVERY_SAMPLE));
    for (let i = 0; i < EVERY_SAMPLE.length; i++) {
      const x = EVERY_SAMPLE[i];
      if (Math.abs(x) > 32124) continue; // saturates at the largest code
      const code = encodeMuLaw(Int16Array.of(x))[0];
      const segment = (~code >> 4) & 7;
      // Step is 8 << segment in 16-bit units; +3 because the two low bits are dropped before quantizing.
      const bound = (4 << segment) + 3;
      assert.ok(Math.abs(x - decoded[i]) <= bound, `sample ${x} decoded as ${decoded[i]} (segment ${segment})`);
    }
  });

  it('saturates-full-scale-samples-to-the-largest-codes', () => {
    assert.deepEqual([...encodeMuLaw(Int16Array.of(32767, -32768))], [0x80, 0x00]);
  });

  it('is-monotonic-over-the-whole-input-range', () => {
    const decoded = decodeMuLawFrame(encodeMuLaw(EVERY_SAMPLE));
    for (let i = 1; i < decoded.length; i++) assert.ok(decoded[i] >= decoded[i - 1], `not monotonic at ${EVERY_SAMPLE[i]}`);
  });
});

describe('G.711 A-law', () => {
  it('decodes-the-reference-codes-of-the-standard', () => {
    assert.deepEqual([...decodeALawFrame(Uint8Array.of(0xd5, 0x55, 0xaa, 0x2a))], [8, -8, 32256, -32256]);
  });

  it('re-encodes-every-decoded-code-to-itself', () => {
    const reencoded = encodeALaw(decodeALawFrame(EVERY_CODE));
    assert.deepEqual([...reencoded], [...EVERY_CODE]);
  });

  it('keeps-round-trip-error-within-half-a-step-of-each-segment', () => {
    const decoded = decodeALawFrame(encodeALaw(EVERY_SAMPLE));
    for (let i = 0; i < EVERY_SAMPLE.length; i++) {
      const x = EVERY_SAMPLE[i];
      if (Math.abs(x) > 32256) continue;
      const code = encodeALaw(Int16Array.of(x))[0];
      const segment = ((code ^ 0x55) >> 4) & 7;
      const bound = segment < 2 ? 8 : 8 << (segment - 1);
      assert.ok(Math.abs(x - decoded[i]) <= bound, `sample ${x} decoded as ${decoded[i]} (segment ${segment})`);
    }
  });

  it('encodes-silence-as-the-idle-code-0xD5', () => {
    assert.deepEqual([...encodeALaw(new Int16Array(4))], [0xd5, 0xd5, 0xd5, 0xd5]);
  });
});

describe('G.711 framing', () => {
  it('carries-a-20-ms-sine-through-either-law-with-high-snr', () => {
    const frame = Int16Array.from({ length: 160 }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    for (const law of ['mu', 'a'] as const) {
      const wire = encodeG711(law, frame);
      assert.equal(wire.length, 160);
      const back = decodeG711(law, wire);
      let signal = 0;
      let noise = 0;
      for (let i = 0; i < frame.length; i++) {
        signal += frame[i] ** 2;
        noise += (frame[i] - back[i]) ** 2;
      }
      // G.711 gives roughly 38 dB SNR for a loud tone; 30 dB leaves room without hiding a broken table.
      assert.ok(10 * Math.log10(signal / noise) > 30, `${law}-law SNR too low`);
    }
  });

  it('maps-the-static-payload-types-to-their-laws', () => {
    assert.equal(lawOfPayloadType(0), 'mu');
    assert.equal(lawOfPayloadType(8), 'a');
    assert.equal(lawOfPayloadType(101), undefined);
  });
});
