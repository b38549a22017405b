// An eighth-order Butterworth low-pass (four cascaded biquads, RBJ cookbook coefficients), kept
// streaming across blocks: the anti-aliasing filter in front of a rate reduction.
interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
  x1: number;
  x2: number;
  y1: number;
  y2: number;
}

// The Q of each section of an 8th-order Butterworth filter: 1 / (2 cos((2k - 1) pi / 16)), k = 1..4.
// Eighth order puts 6 kHz (which would fold onto 2 kHz at 8 kHz) about 35 dB down from a 3.6 kHz cutoff.
const BUTTERWORTH_8_Q = [0.5097956, 0.6013449, 0.8999762, 2.5629154];

function lowPassSection(sampleRate: number, cutoff: number, q: number): Biquad {
  const w0 = (2 * Math.PI * cutoff) / sampleRate;
  const alpha = Math.sin(w0) / (2 * q);
  const cos = Math.cos(w0);
  const a0 = 1 + alpha;
  return {
    b0: (1 - cos) / 2 / a0,
    b1: (1 - cos) / a0,
    b2: (1 - cos) / 2 / a0,
    a1: (-2 * cos) / a0,
    a2: (1 - alpha) / a0,
    x1: 0,
    x2: 0,
    y1: 0,
    y2: 0,
  };
}

export class LowPassFilter {
  private readonly sections: Biquad[];

  constructor(sampleRate: number, cutoff: number) {
    this.sections = BUTTERWORTH_8_Q.map((q) => lowPassSection(sampleRate, cutoff, q));
  }

  process(block: Float32Array): Float32Array {
    const out = Float32Array.from(block);
    for (const s of this.sections) {
      for (let i = 0; i < out.length; i++) {
        const x = out[i];
        const y = s.b0 * x + s.b1 * s.x1 + s.b2 * s.x2 - s.a1 * s.y1 - s.a2 * s.y2;
        s.x2 = s.x1;
        s.x1 = x;
        s.y2 = s.y1;
        s.y1 = y;
        out[i] = y;
      }
    }
    return out;
  }
}
