// The host written into Via and Contact (RFC 3261 18.1.1, 8.1.1.8): an address peers can send to.
import os from 'node:os';

/** The bind address, or this host's first LAN address when bound to every address. */
export function advertisedAddress(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
