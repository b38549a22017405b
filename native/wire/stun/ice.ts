// The STUN attributes ICE adds to its connectivity checks (RFC 8445 7.1.1 and 16.1).

/** PRIORITY: the priority the checked candidate would have as a peer-reflexive one. */
export function encodePriority(priority: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(priority >>> 0);
  return out;
}
export function decodePriority(value: Buffer | undefined): number | undefined {
  return value && value.length === 4 ? value.readUInt32BE(0) : undefined;
}

/** ICE-CONTROLLING / ICE-CONTROLLED carry the sender's 64-bit tie-breaker. */
export function encodeTieBreaker(tieBreaker: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(tieBreaker);
  return out;
}
export function decodeTieBreaker(value: Buffer | undefined): bigint | undefined {
  return value && value.length === 8 ? value.readBigUInt64BE(0) : undefined;
}
