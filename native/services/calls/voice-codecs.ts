// The codec of a call, made from the name the SDP agreed on, and how long its packets are.
import { createG711Codec } from '../../wire/audio/g711-codec.js';
import { opusPacketMs } from '../../wire/audio/opus-toc.js';
import type { VoiceCodec } from '../../wire/audio/voice-codec.js';
import type { AudioCodecName } from '../../wire/sdp/audio-offer-answer.js';

/** What this node speaks, most preferred first (RFC 3264 5.1: the offer's order is the preference). */
export const OFFERED_CODECS: AudioCodecName[] = ['PCMU', 'PCMA'];

export function createVoiceCodec(name: AudioCodecName): VoiceCodec {
  switch (name) {
    case 'PCMU':
      return createG711Codec('mu');
    case 'PCMA':
      return createG711Codec('a');
    default:
      throw new Error(`no ${name} codec in this build`);
  }
}

/** The audio a packet holds, in ms; undefined when it cannot be told. */
export function packetMs(name: AudioCodecName, payload: Uint8Array): number | undefined {
  // G.711: one byte per 8 kHz sample; G.722: one byte per two 16 kHz samples. Both are 8 bytes a ms.
  if (name === 'opus') return opusPacketMs(payload);
  return payload.length / 8;
}
