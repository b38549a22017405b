// G.711 (RFC 3551 4.5.14) as a VoiceCodec: one byte per sample at 8 kHz, no state, no concealment.
import { decodeG711, encodeG711, type G711Law } from './g711.js';
import type { VoiceCodec } from './voice-codec.js';

export function createG711Codec(law: G711Law): VoiceCodec {
  return {
    sampleRate: 8000,
    encode: (pcm) => encodeG711(law, pcm),
    decode: (payload) => decodeG711(law, payload),
    recover: () => undefined,
    tune: () => {},
    close: () => {},
  };
}
