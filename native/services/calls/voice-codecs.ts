// The codec of a call, made from the name the SDP agreed on, and how long its packets are.
import { createG711Codec } from '../../wire/audio/g711-codec.js';
import { createG722Codec } from '../../wire/audio/g722.js';
import { createOpusCodec } from '../../wire/audio/opus.js';
import { opusPacketMs } from '../../wire/audio/opus-toc.js';
import type { VoiceCodec } from '../../wire/audio/voice-codec.js';
import type { AudioCodecName } from '../../wire/sdp/audio-offer-answer.js';

/**
 * What this node speaks, most preferred first (RFC 3264 5.1: the offer's order is the
 * preference): Opus between Peerdial users and with phones that have it, then the wideband
 * and narrowband codecs every phone has.
 */
export const OFFERED_CODECS: AudioCodecName[] = ['opus', 'G722', 'PCMU', 'PCMA'];

/**
 * Opus encoder effort. Complexity 5 sounds better but costs ~2.5 times complexity 0's CPU
 * (bench/codecs.ts: ~4k against ~10k encodes a second on one core): a node with a few calls
 * takes it, one carrying many (a benchmark, a busy relay of calls) takes 0 for the calls after.
 * The codecs live in the media workers, but the count is the node's: the main thread keeps it
 * (OpusEffort) and tells each call's worker which complexity to make its encoder with.
 */
const OPUS_RICH_COMPLEXITY = 5;
const OPUS_RICH_CALLS = 16;

export class OpusEffort {
  private rich = 0;

  /** The complexity for a call starting Opus now; a call given the rich one gives it back with release(). */
  claim(): { complexity: number | undefined; release(): void } {
    if (this.rich >= OPUS_RICH_CALLS) return { complexity: undefined, release: () => undefined };
    this.rich++;
    let released = false;
    return {
      complexity: OPUS_RICH_COMPLEXITY,
      release: () => {
        if (released) return;
        released = true;
        this.rich--;
      },
    };
  }
}

/** The node's ledger (one per process, as the media workers are). */
export const opusEffort = new OpusEffort();

/** `opusComplexity`: undefined for libopus's default in opus.ts (0). */
export function createVoiceCodec(name: AudioCodecName, opusComplexity?: number): VoiceCodec {
  switch (name) {
    case 'PCMU':
      return createG711Codec('mu');
    case 'PCMA':
      return createG711Codec('a');
    case 'G722':
      return createG722Codec();
    case 'opus':
      return createOpusCodec(opusComplexity !== undefined ? { complexity: opusComplexity } : {});
  }
}

/** The audio a packet holds, in ms; undefined when it cannot be told. */
export function packetMs(name: AudioCodecName, payload: Uint8Array): number | undefined {
  // G.711: one byte per 8 kHz sample; G.722: one byte per two 16 kHz samples. Both are 8 bytes a ms.
  if (name === 'opus') return opusPacketMs(payload);
  return payload.length / 8;
}
