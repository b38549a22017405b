// The input level meter's reading: the RMS of a block of samples in dBFS, shown over the range
// a voice uses (-60 dBFS, silence in a quiet room, to 0 dBFS, clipping).

const FLOOR_DBFS = -60;

/** RMS in dBFS of samples in -1..1; -Infinity for silence. */
export function rmsDbfs(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return samples.length ? 10 * Math.log10(sum / samples.length) : -Infinity;
}

/** 0 at or below -60 dBFS, 1 at 0 dBFS, linear in dB between. */
export function meterLevel(samples: Float32Array): number {
  const db = rmsDbfs(samples);
  if (!(db > FLOOR_DBFS)) return 0;
  return Math.min(1, (db - FLOOR_DBFS) / -FLOOR_DBFS);
}
