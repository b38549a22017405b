// 16-bit PCM (what the engine speaks) to and from Web Audio's float samples.
export function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] / 32768;
  return out;
}

/** Clips instead of wrapping around: an overdriven microphone must not turn into loud clicks. */
export function floatToInt16(samples: Float32Array, into = new Int16Array(samples.length)): Int16Array {
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    into[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
  return into;
}
