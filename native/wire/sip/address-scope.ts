// Which IP addresses only mean something inside one network: a Contact or SDP address in these
// ranges, seen from elsewhere, was written by a host behind a NAT and cannot be reached as it is.
import { BlockList, isIP } from 'node:net';

const LOCAL_ONLY = new BlockList();
// RFC 1918 private networks, RFC 6598 carrier-grade NAT, loopback, link-local (RFC 3927).
for (const [network, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16]] as const) {
  LOCAL_ONLY.addSubnet(network, bits, 'ipv4');
}
// RFC 4193 unique local, link-local, loopback.
LOCAL_ONLY.addSubnet('fc00::', 7, 'ipv6');
LOCAL_ONLY.addSubnet('fe80::', 10, 'ipv6');
LOCAL_ONLY.addAddress('::1', 'ipv6');

/** True for an IP literal in a private, carrier-grade-NAT, loopback or link-local range; false for names and public addresses. */
export function isLocalOnlyAddress(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  if (family === 0) return false;
  return LOCAL_ONLY.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}
