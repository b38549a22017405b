// The part of bencode 4 the tests use to write KRPC by hand (it ships no types).
declare module 'bencode' {
  /** Strings, Buffers and Uint8Arrays become byte strings, integers integers, arrays lists, objects dictionaries (keys sorted). */
  export function encode(data: unknown): Uint8Array;
  export function decode(data: Uint8Array, encoding?: string): unknown;
  const bencode: { encode: typeof encode; decode: typeof decode };
  export default bencode;
}
