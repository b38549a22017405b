// Stateless TURN nonces (RFC 8489 9.2 lets the server choose their form): an expiry and a MAC
// over it, the transport and the client's IP, so a nonce handed to one address is no use from
// another, and nothing is stored per client before it authenticates.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NonceClient {
  transport: 'udp' | 'tcp';
  client: { address: string };
}

export class TurnNonces {
  constructor(
    private readonly lifetimeS: number,
    private readonly now: () => number,
    private readonly secret: Buffer = randomBytes(32),
  ) {}

  issue(path: NonceClient): string {
    const expiry = (Math.floor(this.now() / 1000) + this.lifetimeS).toString(16).padStart(10, '0');
    return expiry + this.mac(expiry, path);
  }

  /** Ours, for this client, and not expired. */
  isValid(nonce: string, path: NonceClient): boolean {
    if (!/^[0-9a-f]{34}$/.test(nonce)) return false;
    const expiry = nonce.slice(0, 10);
    const mac = Buffer.from(nonce.slice(10), 'utf8');
    if (!timingSafeEqual(mac, Buffer.from(this.mac(expiry, path), 'utf8'))) return false;
    return parseInt(expiry, 16) * 1000 > this.now();
  }

  private mac(expiry: string, path: NonceClient): string {
    return createHmac('sha256', this.secret).update(`${expiry}|${path.transport}|${path.client.address}`).digest('hex').slice(0, 24);
  }
}
