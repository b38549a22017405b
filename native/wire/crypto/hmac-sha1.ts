// HMAC-SHA1 (RFC 2104, FIPS 180-4) for SRTP's per-packet tag (RFC 3711 4.2.1), written here
// because node:crypto makes an Hmac object per packet: each is a native handle the young
// generation must finalize, and at a couple hundred calls those scavenges (4-14 ms) made the
// media clock's sends late. This one keeps its state in typed arrays made once per key, starts
// each packet from the key's precomputed inner and outer states, and allocates nothing per packet.
// Checked against node:crypto and RFC 2202's vectors (test/unit/crypto/hmac-sha1.test.ts).

const BLOCK = 64;
const DIGEST = 20;
const INITIAL = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);

export class HmacSha1 {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);
  private readonly state = new Int32Array(5);
  private readonly w = new Int32Array(80);
  private readonly block = new Uint8Array(BLOCK);
  private readonly innerDigest = new Uint8Array(DIGEST);
  private filled = 0;
  private length = 0;

  constructor(key: Uint8Array) {
    if (key.length > BLOCK) throw new RangeError('HMAC-SHA1 keys longer than 64 bytes are not used by SRTP');
    const pad = new Uint8Array(BLOCK);
    for (const [target, byte] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      pad.fill(byte);
      for (let i = 0; i < key.length; i++) pad[i] ^= key[i];
      target.set(INITIAL);
      this.compress(target, pad, 0);
    }
  }

  /** The first `bytes` bytes of HMAC(key, a || b) into `out` at `at`. */
  digestInto(a: Uint8Array, b: Uint8Array, out: Uint8Array, at: number, bytes = DIGEST): void {
    this.state.set(this.inner);
    this.filled = 0;
    this.length = BLOCK;
    this.update(a);
    this.update(b);
    this.finish(this.innerDigest, 0, DIGEST);
    this.state.set(this.outer);
    this.filled = 0;
    this.length = BLOCK;
    this.update(this.innerDigest);
    this.finish(out, at, bytes);
  }

  /** Whether `tag` is the first tag.length bytes of HMAC(key, a || b), compared in constant time. */
  verifies(a: Uint8Array, b: Uint8Array, tag: Uint8Array, scratch: Uint8Array): boolean {
    this.digestInto(a, b, scratch, 0, tag.length);
    let difference = 0;
    for (let i = 0; i < tag.length; i++) difference |= scratch[i] ^ tag[i];
    return difference === 0;
  }

  private update(data: Uint8Array): void {
    this.length += data.length;
    let i = 0;
    if (this.filled > 0) {
      const take = Math.min(BLOCK - this.filled, data.length);
      this.block.set(data.subarray(0, take), this.filled);
      this.filled += take;
      i = take;
      if (this.filled < BLOCK) return;
      this.compress(this.state, this.block, 0);
      this.filled = 0;
    }
    for (; i + BLOCK <= data.length; i += BLOCK) this.compress(this.state, data, i);
    if (i < data.length) {
      this.block.set(data.subarray(i), 0);
      this.filled = data.length - i;
    }
  }

  /** FIPS 180-4 5.1.1: a 1 bit, zeros, and the length in bits in the last 8 bytes. */
  private finish(out: Uint8Array, at: number, bytes: number): void {
    const bits = this.length * 8;
    this.block[this.filled++] = 0x80;
    if (this.filled > BLOCK - 8) {
      this.block.fill(0, this.filled);
      this.compress(this.state, this.block, 0);
      this.filled = 0;
    }
    this.block.fill(0, this.filled, BLOCK - 8);
    const high = Math.floor(bits / 0x100000000);
    for (let i = 0; i < 4; i++) {
      this.block[BLOCK - 8 + i] = (high >>> (24 - 8 * i)) & 0xff;
      this.block[BLOCK - 4 + i] = (bits >>> (24 - 8 * i)) & 0xff;
    }
    this.compress(this.state, this.block, 0);
    for (let i = 0; i < bytes; i++) out[at + i] = (this.state[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff;
  }

  /** FIPS 180-4 6.1.2: one 64-byte block into `h`. */
  private compress(h: Int32Array, data: Uint8Array, at: number): void {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = at + 4 * i;
      w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h[0];
    let b = h[1];
    let c = h[2];
    let d = h[3];
    let e = h[4];
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
  }
}
