// ITU-T G.722 at 64 kbit/s (mode 1): a QMF splits 16 kHz PCM into two 8 kHz sub-bands,
// coded by ADPCM with 6 bits (low band) and 2 bits (high band), one octet per input sample pair.
// Block names (QUANTL, LOGSCL, UPPOL2, ...) and variable names are the spec's, fixed-point as
// there; the spec's 14-bit PCM is taken and given as 16-bit (two more bits in the QMF shifts),
// which is what other 16-bit implementations (ffmpeg's g722) do, so our octets and samples match.
// RFC 3551 4.5.2: RTP clock 8000 though the audio is 16 kHz; 20 ms = 320 samples = 160 octets.
import type { VoiceCodec } from './voice-codec.js';

/** RFC 3551 6: G.722's static payload type. */
export const G722_PAYLOAD_TYPE = 9;

/** Table 11: the 24 QMF coefficients, symmetric (h[i] = h[23 - i]). */
const QMF = Int32Array.of(3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3);

/** QUANTL: the low band's 29 decision levels, scaled by DETL >> 12. */
const Q6 = Int32Array.of(
  35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786,
  858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
);
/** INVQAL: output levels of the 4-bit low-band code that drives adaptation. */
const QQ4 = Int32Array.of(0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0);
/** INVQBL at 64 kbit/s: output levels of the full 6-bit low-band code. */
const QQ6 = Int32Array.of(
  -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
  -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
  24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
);
/** INVQAH: output levels of the 2-bit high-band code. */
const QQ2 = Int32Array.of(-7408, -1616, 7408, 1616);
/** LOGSCL's WL after RIL's mapping RL42, indexed directly by the 4-bit low-band code. */
const WL = Int32Array.of(-60, 3042, 1198, 538, 334, 172, 58, -30, 3042, 1198, 538, 334, 172, 58, -30, -60);
/** LOGSCH's WH after RH2, indexed by the high-band code. */
const WH = Int32Array.of(798, -214, 798, -214);
/** SCALEL/SCALEH: ILB, the antilog table of the log-to-linear scale factor. */
const ILB = Int32Array.of(
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
  2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
);

/** Room for the QMF delay lines to slide through before they are copied back (see G722Encoder.x). */
const DELAY_BUFFER = 512;

/** The spec's 16-bit saturating arithmetic (its "limit" on every add). */
function sat(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/**
 * One sub-band's adaptive state (the spec's blocks 3 and 4): the scale factor and the
 * pole-zero predictor. The encoder and the decoder keep identical copies.
 */
class SubBand {
  /** NBL/NBH: log scale factor. */
  nb = 0;
  /** DETL/DETH: linear scale factor. */
  det: number;
  /** SL/SH: predictor output; SZ: its zero-section part. */
  s = 0;
  sz = 0;
  /** AL1, AL2: pole coefficients; B[1..6]: zero coefficients (B[0] unused). */
  a1 = 0;
  a2 = 0;
  readonly b = new Int32Array(7);
  /** DLT1..DLT6: past quantized differences, newest at 1 (0 unused, as in the spec's numbering). */
  readonly d = new Int32Array(7);
  /** PLT1, PLT2 and RLT1, RLT2: past partial and full reconstructed signals. */
  p1 = 0;
  p2 = 0;
  r1 = 0;
  r2 = 0;

  constructor(initialDet: number) {
    this.det = initialDet;
  }

  /**
   * BLOCK 4 (RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC) for the
   * quantized difference `dlt`, leaving the prediction for the next sample in s.
   */
  adapt(dlt: number): void {
    const r = sat(this.s + dlt);
    const p = sat(this.sz + dlt);
    // UPPOL2: signs compared as the spec's SG (1 for negative, 0 otherwise).
    const sg0 = p < 0;
    const sg1 = this.p1 < 0;
    const sg2 = this.p2 < 0;
    const wa1 = sat(this.a1 * 4);
    let wa2 = sg0 === sg1 ? -wa1 : wa1;
    if (wa2 > 32767) wa2 = 32767;
    let a2 = (wa2 >> 7) + (sg0 === sg2 ? 128 : -128) + ((this.a2 * 32512) >> 15);
    a2 = a2 > 12288 ? 12288 : a2 < -12288 ? -12288 : a2;
    // UPPOL1: bounded by the updated AL2 so the pole section stays stable.
    let a1 = sat((sg0 === sg1 ? 192 : -192) + ((this.a1 * 32640) >> 15));
    const bound = sat(15360 - a2);
    a1 = a1 > bound ? bound : a1 < -bound ? -bound : a1;
    this.p2 = this.p1;
    this.p1 = p;
    this.r2 = this.r1;
    this.r1 = r;
    this.a1 = a1;
    this.a2 = a2;
    // UPZERO, DELAYA and FILTEZ in one pass from the oldest tap down, so each DLT is read once:
    // B[i] adapts by the sign of the old DLT[i] against DLT (0 counts as positive; DLT 0 only
    // leaks), then DLT[i] takes DLT[i-1], then the new pair adds to SZ.
    const d = this.d;
    const b = this.b;
    const step = dlt === 0 ? 0 : 128;
    const dNegative = dlt < 0;
    let sz = 0;
    for (let i = 6; i > 0; i--) {
      const bi = sat((d[i] < 0 === dNegative ? step : -step) + ((b[i] * 32640) >> 15));
      const di = i > 1 ? d[i - 1] : dlt;
      b[i] = bi;
      d[i] = di;
      sz += (bi * sat(di + di)) >> 15;
    }
    // FILTEP, PREDIC
    const sp = sat(((a1 * sat(r + r)) >> 15) + ((a2 * sat(this.r2 + this.r2)) >> 15));
    this.sz = sat(sz);
    this.s = sat(sp + this.sz);
  }

  /** LOGSCL + SCALEL (low band): the log factor leaks and steps by WL; DETL follows. */
  scaleLow(code4: number): void {
    const nb = ((this.nb * 32512) >> 15) + WL[code4];
    this.nb = nb < 0 ? 0 : nb > 18432 ? 18432 : nb;
    this.det = linearScale(this.nb, 8);
  }

  /** LOGSCH + SCALEH (high band). */
  scaleHigh(code2: number): void {
    const nb = ((this.nb * 32512) >> 15) + WH[code2];
    this.nb = nb < 0 ? 0 : nb > 22528 ? 22528 : nb;
    this.det = linearScale(this.nb, 10);
  }
}

/** SCALEL/SCALEH: 2^(nb/2048) through ILB, then times 4 (the spec's << 2). */
function linearScale(nb: number, offset: number): number {
  const shift = offset - (nb >> 11);
  const mantissa = ILB[(nb >> 6) & 31];
  return (shift < 0 ? mantissa << -shift : mantissa >> shift) << 2;
}

/** QUANTL: the 6-bit low-band code of the difference EL for scale DETL. */
function quantizeLow(el: number, det: number): number {
  const wd = el >= 0 ? el : -(el + 1);
  // How many of the 29 decision levels wd reaches (they rise, so a binary search finds it).
  let level = 0;
  let above = 29;
  while (level < above) {
    const mid = (level + above) >> 1;
    if (wd >= (Q6[mid] * det) >> 12) level = mid + 1;
    else above = mid;
  }
  // QUANTL's codes: positive intervals count down from 61, negative from 63, 62 then 31 down.
  if (el >= 0) return 61 - level;
  return level < 2 ? 63 - level : 33 - level;
}

/** QUANTH: the 2-bit high-band code of EH for scale DETH. */
function quantizeHigh(eh: number, det: number): number {
  const wd = eh >= 0 ? eh : -(eh + 1);
  const small = wd < (564 * det) >> 12;
  if (eh >= 0) return small ? 3 : 2;
  return small ? 1 : 0;
}

/** The transmit side: QMF analysis, then both sub-band ADPCM encoders. */
export class G722Encoder {
  private readonly low = new SubBand(32);
  private readonly high = new SubBand(8);
  /**
   * The 24-sample QMF delay line is x[at..at+24), newest first, inside a longer buffer: each pair
   * moves `at` down by 2 instead of shifting 22 samples, and only at the bottom are the newest
   * 22 copied back to the top.
   */
  private readonly x = new Int32Array(DELAY_BUFFER);
  private at = DELAY_BUFFER - 24;

  /** Two input samples per output octet; an odd last sample is dropped. */
  encode(pcm: Int16Array): Buffer {
    const out = Buffer.allocUnsafe(pcm.length >> 1);
    const x = this.x;
    const low = this.low;
    const high = this.high;
    let at = this.at;
    for (let n = 0; n < out.length; n++) {
      if (at < 2) {
        x.copyWithin(DELAY_BUFFER - 22, at, at + 22);
        at = DELAY_BUFFER - 22;
      }
      at -= 2;
      x[at + 1] = pcm[2 * n];
      x[at] = pcm[2 * n + 1];
      // Transmit QMF: XA over the even taps, XB over the odd; XL = XA + XB, XH = XA - XB.
      let xa = 0;
      let xb = 0;
      for (let i = 0; i < 24; i += 2) {
        xa += x[at + i] * QMF[i];
        xb += x[at + i + 1] * QMF[i + 1];
      }
      const xl = (xa + xb) >> 14;
      const xh = (xa - xb) >> 14;

      const il = quantizeLow(sat(xl - low.s), low.det);
      const code4 = il >> 2;
      const dlt = (low.det * QQ4[code4]) >> 15;
      low.scaleLow(code4);
      low.adapt(dlt);

      const ih = quantizeHigh(sat(xh - high.s), high.det);
      const dh = (high.det * QQ2[ih]) >> 15;
      high.scaleHigh(ih);
      high.adapt(dh);

      out[n] = (ih << 6) | il;
    }
    this.at = at;
    return out;
  }
}

/** The receive side: both sub-band ADPCM decoders, then QMF synthesis. */
export class G722Decoder {
  private readonly low = new SubBand(32);
  private readonly high = new SubBand(8);
  /** XD = RL - RH and XS = RL + RH, the receive QMF's two 12-sample delay lines at [at, at+12), newest first. */
  private readonly xd = new Int32Array(DELAY_BUFFER);
  private readonly xs = new Int32Array(DELAY_BUFFER);
  private at = DELAY_BUFFER - 12;

  /** Each octet gives two samples. */
  decode(codes: Uint8Array): Int16Array {
    const out = new Int16Array(codes.length * 2);
    const low = this.low;
    const high = this.high;
    const xd = this.xd;
    const xs = this.xs;
    let at = this.at;
    for (let n = 0; n < codes.length; n++) {
      const il = codes[n] & 0x3f;
      const ih = codes[n] >> 6;

      // INVQBL with the full 6-bit code for the output; LIMIT; adaptation uses only 4 bits (INVQAL).
      let rl = sat(low.s + ((low.det * QQ6[il]) >> 15));
      rl = rl > 16383 ? 16383 : rl < -16384 ? -16384 : rl;
      const code4 = il >> 2;
      const dlt = (low.det * QQ4[code4]) >> 15;
      low.scaleLow(code4);
      low.adapt(dlt);

      const dh = (high.det * QQ2[ih]) >> 15;
      let rh = sat(high.s + dh);
      rh = rh > 16383 ? 16383 : rh < -16384 ? -16384 : rh;
      high.scaleHigh(ih);
      high.adapt(dh);

      // Receive QMF: XOUT1 from the even taps over XD, XOUT2 from the odd taps over XS.
      if (at < 1) {
        xd.copyWithin(DELAY_BUFFER - 11, 0, 11);
        xs.copyWithin(DELAY_BUFFER - 11, 0, 11);
        at = DELAY_BUFFER - 11;
      }
      at--;
      xd[at] = rl - rh;
      xs[at] = rl + rh;
      let out1 = 0;
      let out2 = 0;
      for (let i = 0; i < 12; i++) {
        out1 += xd[at + i] * QMF[2 * i];
        out2 += xs[at + i] * QMF[2 * i + 1];
      }
      out[2 * n] = sat(out1 >> 11);
      out[2 * n + 1] = sat(out2 >> 11);
    }
    this.at = at;
    return out;
  }
}

/** G.722 for one call: 320 samples at 16 kHz in, 160 octets out, and back. */
export function createG722Codec(): VoiceCodec {
  const encoder = new G722Encoder();
  const decoder = new G722Decoder();
  return {
    sampleRate: 16000,
    encode: (pcm) => encoder.encode(pcm),
    decode: (payload) => decoder.decode(payload),
    recover: () => undefined,
    tune: () => {},
    close: () => {},
  };
}
