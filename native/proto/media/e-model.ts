// A call's expected quality as a MOS, from the E-model (ITU-T G.107) in its common simplified
// form: the transmission rating R starts at 93.2 (default values for everything but delay and
// the codec), loses Id for one-way delay and Ie,eff for the codec and packet loss, and maps to
// a mean opinion score between 1 and 4.5 (G.107 Annex B). What a user reads as "Call quality:
// 4.3 (good)" in the quality panel.

/** G.113 Appendix I: equipment impairment and packet-loss robustness, per codec (with concealment). */
const CODEC_IMPAIRMENT: Record<string, { ie: number; bpl: number }> = {
  PCMU: { ie: 0, bpl: 25.1 },
  PCMA: { ie: 0, bpl: 25.1 },
};
const UNKNOWN_CODEC = { ie: 0, bpl: 25.1 };
/** R0 - Is - A with G.107's default values. */
const R_DEFAULT = 93.2;
/** One-way delay beyond the network's: 20 ms of packetization plus the least the jitter buffer holds. */
const FIXED_DELAY_MS = 40;

export interface QualityInputs {
  codec: string;
  /** 0..1 */
  lossFraction: number;
  jitterMs: number;
  rttMs?: number;
}

/** The delay impairment Id for a one-way delay (G.107 simplified: 0.024 d, and 0.11 per ms above 177.3 ms). */
export function delayImpairment(oneWayMs: number): number {
  return 0.024 * oneWayMs + (oneWayMs > 177.3 ? 0.11 * (oneWayMs - 177.3) : 0);
}

/** Ie,eff (G.107 7.2): the codec's impairment grown by random packet loss. */
export function lossImpairment(codec: string, lossFraction: number): number {
  const { ie, bpl } = CODEC_IMPAIRMENT[codec.toUpperCase()] ?? UNKNOWN_CODEC;
  const ppl = Math.max(0, Math.min(100, lossFraction * 100));
  return ie + ((95 - ie) * ppl) / (ppl + bpl);
}

/** G.107 Annex B: R to MOS. */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

/**
 * The estimated MOS of a call from what RTCP tells: half the round trip (the path's one way),
 * twice the jitter (what the buffer holds back) and the fixed delay, and the loss.
 */
export function estimateMos(quality: QualityInputs): number {
  const oneWayMs = (quality.rttMs ?? 0) / 2 + 2 * quality.jitterMs + FIXED_DELAY_MS;
  const r = R_DEFAULT - delayImpairment(oneWayMs) - lossImpairment(quality.codec, quality.lossFraction);
  return Math.round(mosFromR(r) * 10) / 10;
}
