// The part of bencode 4 (BEP 3 encoding) Peerdial uses (it ships no types).
declare module 'bencode' {
  const bencode: {
    /** Byte strings decode as Uint8Array, integers as numbers, lists as arrays, dictionaries as objects. */
    decode(data: Uint8Array, start?: number, end?: number, encoding?: string): unknown;
    /** Dictionary keys are written sorted (BEP 3); strings as UTF-8. */
    encode(data: unknown): Uint8Array;
  };
  export default bencode;
}
