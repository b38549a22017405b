// Voice codec throughput on one core: 20 ms frames of speech-like audio encoded and decoded a
// second, for Opus (at its default complexity and bitrate, and at each complexity under
// `opus.byComplexity`), G.722 and G.711. A call needs 50 encodes and 50 decodes a second, so
// calls per core ~ 1 / (50 / encodePerSec + 50 / decodePerSec).
// `node --import tsx bench/codecs.ts` prints the JSON; bench/calls.ts may fold it into calls.json.
import { performance } from 'node:perf_hooks';
import { createG711Codec } from '../native/wire/audio/g711-codec.js';
import { createG722Codec } from '../native/wire/audio/g722.js';
import { createOpusCodec, OPUS_DEFAULT_BITRATE, OPUS_DEFAULT_COMPLEXITY } from '../native/wire/audio/opus.js';
import type { VoiceCodec } from '../native/wire/audio/voice-codec.js';
import { framesOf, speechLike } from '../test/support/speech-like.js';

const RUN_MS = 2000;
const SPEECH_SECONDS = 4;

/** Calls of `step(i)` per second over about `ms` (after a short warm-up for the JIT). */
function perSecond(step: (i: number) => void, ms = RUN_MS): number {
  for (let i = 0; i < 200; i++) step(i);
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 50; i++) step(count++);
    elapsed = performance.now() - start;
  }
  return Math.round((count * 1000) / elapsed);
}

interface Throughput {
  encodePerSec: number;
  decodePerSec: number;
  /** Concurrent calls one core could code both ways, from the two rates. */
  callsPerCore: number;
}

function measure(makeCodec: () => VoiceCodec, ms = RUN_MS): Throughput {
  const probe = makeCodec();
  const frames = framesOf(speechLike(probe.sampleRate, SPEECH_SECONDS), (probe.sampleRate * 20) / 1000);
  probe.close();
  // Encoding runs through the speech again and again on one codec, as a call would.
  const encoder = makeCodec();
  const encodePerSec = perSecond((i) => encoder.encode(frames[i % frames.length]), ms);
  encoder.close();
  // Decoding needs the packets of one continuous stream, made by one encoder.
  const source = makeCodec();
  const stream = frames.map((frame) => source.encode(frame));
  source.close();
  const decoder = makeCodec();
  const decodePerSec = perSecond((i) => decoder.decode(stream[i % stream.length]), ms);
  decoder.close();
  const callsPerCore = Math.floor(1 / (50 / encodePerSec + 50 / decodePerSec));
  return { encodePerSec, decodePerSec, callsPerCore };
}

export interface CodecThroughput {
  opus: Throughput & { complexity: number; bitrate: number; byComplexity: Record<string, Throughput> };
  g722: Throughput;
  g711: Throughput;
  frameMs: 20;
  node: string;
}

export function measureCodecs(): CodecThroughput {
  const byComplexity: Record<string, Throughput> = {};
  for (const complexity of [0, 1, 3, 5, 10]) {
    byComplexity[complexity] = measure(() => createOpusCodec({ complexity }), RUN_MS / 2);
  }
  return {
    opus: {
      ...measure(() => createOpusCodec()),
      complexity: OPUS_DEFAULT_COMPLEXITY,
      bitrate: OPUS_DEFAULT_BITRATE,
      byComplexity,
    },
    g722: measure(() => createG722Codec()),
    g711: measure(() => createG711Codec('mu')),
    frameMs: 20,
    node: process.version,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(measureCodecs(), null, 2));
