// The DNS the SIP stack asks (RFC 3263): the system's resolvers through Node's c-ares binding,
// with a short timeout so a dead server fails over quickly. A name without the records asked
// for answers [] (NODATA, NXDOMAIN); any other failure (a timeout, a refusal) throws.
import { lookup, Resolver } from 'node:dns/promises';
import type { NaptrAnswer, SipDns, SrvAnswer } from '../proto/sip/rfc3263.js';

const EMPTY = new Set(['ENODATA', 'ENOTFOUND', 'ENONAME', 'NOTFOUND', 'NODATA']);

export function systemSipDns(options: { timeoutMs?: number; tries?: number; servers?: string[] } = {}): SipDns {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2_000, tries: options.tries ?? 2 });
  if (options.servers?.length) resolver.setServers(options.servers);
  const orEmpty = async <T>(work: Promise<T[]>): Promise<T[]> => {
    try {
      return await work;
    } catch (error) {
      if (EMPTY.has((error as NodeJS.ErrnoException).code ?? '')) return [];
      throw error;
    }
  };
  return {
    naptr: (name) => orEmpty(resolver.resolveNaptr(name)) as Promise<NaptrAnswer[]>,
    srv: (name) => orEmpty(resolver.resolveSrv(name)) as Promise<SrvAnswer[]>,
    async addresses(name) {
      const [v4, v6] = await Promise.all([orEmpty(resolver.resolve4(name)), orEmpty(resolver.resolve6(name))]);
      if (v4.length || v6.length) return [...v4, ...v6];
      // Names DNS does not hold (localhost, /etc/hosts): the system's own lookup.
      return orEmpty(lookup(name, { all: true }).then((found) => found.map((a) => a.address)));
    },
  };
}
