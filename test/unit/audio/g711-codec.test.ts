import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeG711 } from '../../../native/wire/audio/g711.js';
import { createG711Codec } from '../../../native/wire/audio/g711-codec.js';

describe('G.711 codec', () => {
  it('wraps-either-law-at-8-khz-without-concealment-of-its-own', () => {
    const frame = Int16Array.from({ length: 160 }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    for (const law of ['mu', 'a'] as const) {
      const codec = createG711Codec(law);
      assert.equal(codec.sampleRate, 8000);
      const payload = codec.encode(frame);
      assert.deepEqual(payload, encodeG711(law, frame));
      assert.equal(codec.decode(payload).length, 160);
      assert.equal(codec.recover(160), undefined);
      codec.tune({ bitrate: 1000 });
      codec.close();
    }
  });
});
