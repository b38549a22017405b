// Nonces for SIP digest authentication (RFC 3261 22.4, RFC 7616 3.3 and 5.5) that expire and
// cannot be replayed, in fixed memory. A nonce carries its expiry, a sequence number and a MAC
// over both and the client's address, so it is useless from elsewhere and nothing is kept for a
// nonce until it is used. Use is kept in a ring indexed by the sequence number (the idea of
// Kamailio's nonce-id pool): the highest nonce count seen with qop=auth, or "used" without qop.
// A nonce whose slot has since gone to a newer one is treated as stale: the client asks again.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type NonceVerdict = 'fresh' | 'stale' | 'invalid' | 'replayed';

export interface DigestNoncesOptions {
  /** How long a nonce may be used (default 300 s). */
  lifetimeS?: number;
  /** Nonces in use at once before the oldest turn stale (default 2^20, 4 MiB). */
  slots?: number;
  now: () => number;
  secret?: Buffer;
}

const USED_WITHOUT_QOP = 0xffffffff;
const MAC_BYTES = 16;

export class DigestNonces {
  private readonly lifetimeS: number;
  private readonly slots: number;
  private readonly secret: Buffer;
  /** Per slot: 0 unused, else the highest nc seen (qop=auth) or USED_WITHOUT_QOP. */
  private readonly used: Uint32Array;
  private nextId = 1;
  readonly counters = { issued: 0, stale: 0, invalid: 0, replayed: 0 };

  constructor(private readonly options: DigestNoncesOptions) {
    this.lifetimeS = options.lifetimeS ?? 300;
    this.slots = options.slots ?? 1 << 20;
    this.secret = options.secret ?? randomBytes(32);
    this.used = new Uint32Array(this.slots);
  }

  /** A new nonce for a client at `source` (its IP address). */
  issue(source: string): string {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    this.used[id % this.slots] = 0;
    const head = Buffer.alloc(8);
    head.writeUInt32BE((Math.floor(this.options.now() / 1000) + this.lifetimeS) >>> 0, 0);
    head.writeUInt32BE(id, 4);
    this.counters.issued++;
    return Buffer.concat([head, this.mac(head, source)]).toString('base64url');
  }

  /**
   * Whether `nonce` may authenticate this request from `source`: `nc` is the request's nonce
   * count (qop=auth), which must grow; without it a nonce is good once.
   */
  check(nonce: string, source: string, nc?: string): NonceVerdict {
    const verdict = this.verdict(nonce, source, nc);
    if (verdict !== 'fresh') this.counters[verdict]++;
    return verdict;
  }

  private verdict(nonce: string, source: string, nc: string | undefined): NonceVerdict {
    if (!/^[A-Za-z0-9_-]{32}$/.test(nonce)) return 'invalid';
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== 8 + MAC_BYTES) return 'invalid';
    const head = bytes.subarray(0, 8);
    if (!timingSafeEqual(bytes.subarray(8), this.mac(head, source))) return 'invalid';
    if (head.readUInt32BE(0) * 1000 <= this.options.now()) return 'stale';
    const id = head.readUInt32BE(4);
    // Its slot has been given to a newer nonce (or the id is from the future: a restart).
    const age = (this.nextId - id) >>> 0;
    if (age === 0 || age > this.slots) return 'stale';
    const slot = id % this.slots;
    if (nc === undefined) {
      if (this.used[slot] !== 0) return 'replayed';
      this.used[slot] = USED_WITHOUT_QOP;
      return 'fresh';
    }
    const count = parseInt(nc, 16);
    if (!Number.isSafeInteger(count) || count < 1 || count >= USED_WITHOUT_QOP) return 'invalid';
    if (this.used[slot] === USED_WITHOUT_QOP || count <= this.used[slot]) return 'replayed';
    this.used[slot] = count;
    return 'fresh';
  }

  private mac(head: Buffer, source: string): Buffer {
    return createHmac('sha256', this.secret).update(head).update(source).digest().subarray(0, MAC_BYTES);
  }
}
