// Locating SIP servers (RFC 3263 4): from a SIP URI to the ordered transport addresses a request
// is tried at, one after another (4.3: a timeout, a transport error or a 503 moves to the next).
// An IP address or an explicit port is used as it is; otherwise NAPTR (SIP+D2U, SIP+D2T,
// SIPS+D2T) picks the transports and SRV names, SRV (RFC 2782: by priority, then weighted at
// random) the hosts and ports, and A/AAAA the addresses; with no NAPTR, _sip._udp and _sip._tcp
// SRV are asked (_sips._tcp for a sips: URI or transport=tls), and with no SRV the host itself
// on 5060 (5061 for TLS). DNS goes through the given resolver; hostile answers are
// bounded: at most MAX_TARGETS addresses, SRV target "." means no service.
import { isIP } from 'node:net';

export type SipTransport = 'udp' | 'tcp' | 'tls';

export interface SipTarget {
  protocol: SipTransport;
  address: string;
  port: number;
}

export interface NaptrAnswer {
  order: number;
  preference: number;
  flags: string;
  service: string;
  replacement: string;
}

export interface SrvAnswer {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

/** The DNS a lookup uses; each method resolves [] when the name has no such records. */
export interface SipDns {
  naptr(name: string): Promise<NaptrAnswer[]>;
  srv(name: string): Promise<SrvAnswer[]>;
  addresses(name: string): Promise<string[]>;
}

export const MAX_TARGETS = 16;
const SERVICES: Record<string, SipTransport> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };

export interface LocateInput {
  host: string;
  port?: number;
  /** The URI's transport parameter, if any. */
  transport?: string;
  /** A sips: URI: TLS only (RFC 3263 4.1). */
  secure?: boolean;
}

function forcedTransport(input: LocateInput): SipTransport | undefined {
  const named = input.transport?.toLowerCase();
  if (input.secure || named === 'tls') return 'tls';
  return named ? (named === 'tcp' ? 'tcp' : 'udp') : undefined;
}

function defaultPort(protocol: SipTransport | undefined): number {
  return protocol === 'tls' ? 5061 : 5060;
}

export async function locateSipServers(input: LocateInput, dns: SipDns, random: () => number = Math.random): Promise<SipTarget[]> {
  const host = input.host.replace(/^\[(.*)\]$/, '$1');
  const forced = forcedTransport(input);
  // 4.1/4.2: a numeric address, or a name with a port, is used as it is (A/AAAA only).
  if (isIP(host)) return [{ protocol: forced ?? 'udp', address: host, port: input.port ?? defaultPort(forced) }];
  if (input.port !== undefined) return (await dns.addresses(host)).slice(0, MAX_TARGETS).map((address) => ({ protocol: forced ?? 'udp', address, port: input.port! }));

  const srvNames: Array<{ name: string; protocol: SipTransport }> = [];
  if (!forced) {
    const naptr = (await dns.naptr(host))
      .filter((r) => r.flags.toLowerCase() === 's' && SERVICES[r.service.toUpperCase()] && r.replacement && r.replacement !== '.')
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    for (const r of naptr) srvNames.push({ name: r.replacement.replace(/\.$/, ''), protocol: SERVICES[r.service.toUpperCase()] });
  }
  if (!srvNames.length) {
    for (const protocol of forced ? [forced] : (['udp', 'tcp'] as const)) srvNames.push({ name: protocol === 'tls' ? `_sips._tcp.${host}` : `_sip._${protocol}.${host}`, protocol });
  }
  const targets: SipTarget[] = [];
  let anySrv = false;
  for (const { name, protocol } of srvNames) {
    const records = await dns.srv(name);
    if (!records.length) continue;
    anySrv = true;
    for (const r of orderSrv(records, random)) {
      if (r.name === '.' || r.name === '') continue;
      for (const address of await dns.addresses(r.name.replace(/\.$/, ''))) {
        targets.push({ protocol, address, port: r.port });
        if (targets.length >= MAX_TARGETS) return targets;
      }
    }
  }
  if (anySrv) return targets;
  // 4.2: no SRV at all: the host itself, on 5060 (5061 for TLS).
  return (await dns.addresses(host)).slice(0, MAX_TARGETS).map((address) => ({ protocol: forced ?? 'udp', address, port: defaultPort(forced) }));
}

/** RFC 2782: lowest priority first; within one, a weighted random order (weight 0 last, rarely first). */
export function orderSrv(records: readonly SrvAnswer[], random: () => number): SrvAnswer[] {
  const byPriority = new Map<number, SrvAnswer[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const ordered: SrvAnswer[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const left = [...byPriority.get(priority)!].sort((a, b) => a.weight - b.weight);
    while (left.length) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      let pick = random() * (total + 1);
      let index = left.findIndex((r) => (pick -= r.weight) < 1);
      if (index < 0) index = left.length - 1;
      ordered.push(...left.splice(index, 1));
    }
  }
  return ordered;
}
