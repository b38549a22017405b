// ITU-T G.711 (11/88) companding: mu-law and A-law, 8-bit codes <-> 16-bit linear PCM.
// Bit-exact with the reference behaviour of the ITU G.191 software tools: mu-law quantizes the
// top 14 bits of a sample, A-law the top 13; encoding goes through tables indexed by those bits,
// decoding through 256-entry tables, so neither direction branches per sample.

/** RFC 3551 6: the static payload types of the two laws. */
export const PCMU_PAYLOAD_TYPE = 0;
export const PCMA_PAYLOAD_TYPE = 8;

const MU_BIAS = 0x21; // 33 in the 14-bit domain (0x84 in 16-bit)
const MU_CLIP = 8159; // 14-bit magnitude above which mu-law saturates

/** G.711 Table 2a: mu-law segment of a biased 14-bit magnitude; 8 means beyond the last segment. */
function muLawSegment(biased: number): number {
  let segment = 0;
  while (segment < 8 && biased >= 0x40 << segment) segment++;
  return segment;
}

function encodeMuLaw14(sample14: number): number {
  // Codes are sent inverted (G.711 3.2): the all-zeros code would otherwise be a long run of 0 bits.
  let magnitude = sample14;
  let mask = 0xff;
  if (magnitude < 0) {
    magnitude = -magnitude;
    mask = 0x7f;
  }
  if (magnitude > MU_CLIP) magnitude = MU_CLIP;
  magnitude += MU_BIAS;
  const segment = muLawSegment(magnitude);
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = (magnitude >> (segment + 1)) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

function decodeMuLaw(code: number): number {
  const inverted = ~code & 0xff;
  const segment = (inverted >> 4) & 0x07;
  const magnitude = ((((inverted & 0x0f) << 3) + 0x84) << segment) - 0x84;
  return inverted & 0x80 ? -magnitude : magnitude;
}

/** G.711 Table 1a: A-law segment of a 13-bit magnitude; 8 means beyond the last segment. */
function aLawSegment(magnitude: number): number {
  let segment = 0;
  while (segment < 8 && magnitude >= 0x20 << segment) segment++;
  return segment;
}

function encodeALaw13(sample13: number): number {
  // Even bits are inverted on the line (G.711 2.2), hence the 0x55 in both masks.
  let magnitude = sample13;
  let mask = 0xd5;
  if (magnitude < 0) {
    // One's complement for negatives: -1 and 0 share the smallest code pair symmetrically.
    magnitude = -magnitude - 1;
    mask = 0x55;
  }
  const segment = aLawSegment(magnitude);
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = (segment < 2 ? magnitude >> 1 : magnitude >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

function decodeALaw(code: number): number {
  const value = code ^ 0x55;
  const segment = (value >> 4) & 0x07;
  let magnitude = (value & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return value & 0x80 ? magnitude : -magnitude;
}

const MU_DECODE = Int16Array.from({ length: 256 }, (_, code) => decodeMuLaw(code));
const A_DECODE = Int16Array.from({ length: 256 }, (_, code) => decodeALaw(code));
// Indexed by the sample's top 14 (mu) or 13 (A) bits taken as unsigned.
const MU_ENCODE = Uint8Array.from({ length: 1 << 14 }, (_, index) => encodeMuLaw14((index << 18) >> 18));
const A_ENCODE = Uint8Array.from({ length: 1 << 13 }, (_, index) => encodeALaw13((index << 19) >> 19));

export type G711Law = 'mu' | 'a';

export function encodeMuLaw(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = MU_ENCODE[(pcm[i] >> 2) & 0x3fff];
  return out;
}

export function encodeALaw(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = A_ENCODE[(pcm[i] >> 3) & 0x1fff];
  return out;
}

export function decodeMuLawFrame(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = MU_DECODE[codes[i]];
  return out;
}

export function decodeALawFrame(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = A_DECODE[codes[i]];
  return out;
}

export function encodeG711(law: G711Law, pcm: Int16Array): Buffer {
  return law === 'mu' ? encodeMuLaw(pcm) : encodeALaw(pcm);
}

export function decodeG711(law: G711Law, codes: Uint8Array): Int16Array {
  return law === 'mu' ? decodeMuLawFrame(codes) : decodeALawFrame(codes);
}

/** The law an RTP payload type stands for (RFC 3551 static types), or undefined. */
export function lawOfPayloadType(payloadType: number): G711Law | undefined {
  if (payloadType === PCMU_PAYLOAD_TYPE) return 'mu';
  if (payloadType === PCMA_PAYLOAD_TYPE) return 'a';
  return undefined;
}
