// The call-progress tones a caller and a callee hear, as cadences: which frequencies sound, and
// for how long, in a repeating pattern. No audio files: call-tones.ts plays them on oscillators.
export interface ToneSegment {
  /** Frequencies summed while on; empty for a pause. */
  frequencies: number[];
  seconds: number;
}

export type ToneName = 'ringback' | 'ring' | 'call-waiting';

export const CADENCES: Record<ToneName, ToneSegment[]> = {
  // What the caller hears while the other phone rings: 425 Hz, 1 s on, 4 s off (ETSI ES 201 970).
  ringback: [
    { frequencies: [425], seconds: 1 },
    { frequencies: [], seconds: 4 },
  ],
  // This phone ringing: a double ring (two bursts of 400+450 Hz), then a pause.
  ring: [
    { frequencies: [400, 450], seconds: 0.4 },
    { frequencies: [], seconds: 0.2 },
    { frequencies: [400, 450], seconds: 0.4 },
    { frequencies: [], seconds: 2 },
  ],
  // A second call while talking: a short, quiet beep now and then, not a ring over the voice.
  'call-waiting': [
    { frequencies: [440], seconds: 0.3 },
    { frequencies: [], seconds: 3.7 },
  ],
};

export function cadenceLength(cadence: readonly ToneSegment[]): number {
  return cadence.reduce((sum, segment) => sum + segment.seconds, 0);
}

/** The frequencies sounding `seconds` after the tone started. */
export function frequenciesAt(cadence: readonly ToneSegment[], seconds: number): number[] {
  let t = seconds % cadenceLength(cadence);
  for (const segment of cadence) {
    if (t < segment.seconds) return segment.frequencies;
    t -= segment.seconds;
  }
  return [];
}

/** The on-periods within [0, horizon): when each burst starts and stops, and at which frequencies. */
export function bursts(cadence: readonly ToneSegment[], horizon: number): Array<{ start: number; end: number; frequencies: number[] }> {
  const out: Array<{ start: number; end: number; frequencies: number[] }> = [];
  let t = 0;
  while (t < horizon) {
    for (const segment of cadence) {
      if (t >= horizon) break;
      if (segment.frequencies.length > 0) out.push({ start: t, end: Math.min(t + segment.seconds, horizon), frequencies: segment.frequencies });
      t += segment.seconds;
    }
  }
  return out;
}
