// G.711 behind the VoiceCodec shape. Stateless, so both directions share nothing and close() has
// nothing to free; it has no concealment of its own (G.711 Appendix I PLC is the caller's).
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
