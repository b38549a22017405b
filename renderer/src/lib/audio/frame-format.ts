// The audio frame format of the control API (native/control/api.ts AUDIO_*), repeated here because
// the renderer may import only types from the engine; the literal types make the compiler check
// the rate and frame size, and test/unit/renderer/audio-dsp.test.ts checks the byte count.
import type { AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE } from '../../../../native/control/api.js';

export const ENGINE_SAMPLE_RATE: typeof AUDIO_SAMPLE_RATE = 48000;
export const FRAME_SAMPLES: typeof AUDIO_FRAME_SAMPLES = 960;
/** 16-bit samples. */
export const FRAME_BYTES = FRAME_SAMPLES * 2;
