// The peers a relay will not send to or take from: its own host and link, multicast and the
// reserved ranges (RFC 8656 21), with operator-given exceptions (loopback for tests on one host).
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Relaying to these would let anyone reach the member's own host or link through it. */
export const DEFAULT_DENIED_PEERS: readonly string[] = [
  '0.0.0.0/8',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fe80::/10',
  'ff00::/8',
];

export class PeerFilter {
  private denied = new BlockList();
  private allowed = new BlockList();

  /** Replaces both lists; a bad prefix throws (it is the operator's input, not a packet's). */
  set(deniedPrefixes: readonly string[], allowedPrefixes: readonly string[]): void {
    const denied = blockListOf(deniedPrefixes);
    const allowed = blockListOf(allowedPrefixes);
    this.denied = denied;
    this.allowed = allowed;
  }

  forbids(ip: string): boolean {
    const type = isIPv6(ip) ? 'ipv6' : 'ipv4';
    return !this.allowed.check(ip, type) && this.denied.check(ip, type);
  }
}

function blockListOf(prefixes: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of prefixes) {
    const [ip, bits] = text.split('/');
    const type = isIPv6(ip) ? 'ipv6' : isIPv4(ip) ? 'ipv4' : undefined;
    const max = type === 'ipv6' ? 128 : 32;
    const prefix = bits === undefined ? max : Number(bits);
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new RangeError(`not an address or CIDR prefix: ${text}`);
    }
    list.addSubnet(ip, prefix, type);
  }
  return list;
}
