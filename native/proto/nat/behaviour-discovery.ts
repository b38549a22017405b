// NAT behaviour discovery (RFC 5780 4.3 mapping, 4.4 filtering) against a server that offers
// OTHER-ADDRESS. Run on a socket of its own that has sent nothing before: the filtering tests
// come first, while the NAT has seen packets only to the server's primary address, then the
// mapping tests, which open the NAT towards the alternate address.
import type { BindingOutcome } from './stun-client.js';
import type { ChangeRequest, TransportAddress } from '../../wire/stun/message.js';

export type MappingBehaviour = 'no-nat' | 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
export type FilteringBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatBehaviour {
  /** False when no Binding request over UDP got an answer: UDP is blocked (or the server is down). */
  udp: boolean;
  /** Our address and port as the server saw them (on the discovery socket). */
  mapped?: TransportAddress;
  /** Undefined when the server offers no alternate address, so it could not be told. */
  mapping?: MappingBehaviour;
  filtering?: FilteringBehaviour;
  /** Round-trip time of the first test, ms. */
  rttMs?: number;
  server: TransportAddress;
  /** Why a test could not be run, in words. */
  notes: string[];
}

export type Probe = (to: TransportAddress, change?: ChangeRequest) => Promise<BindingOutcome>;

/**
 * `local` are this host's own addresses (with the discovery socket's port): a mapped address
 * among them means no NAT on the path.
 */
export async function discoverBehaviour(probe: Probe, server: TransportAddress, local: TransportAddress[]): Promise<NatBehaviour> {
  const result: NatBehaviour = { udp: false, server, notes: [] };
  const first = await probe(server);
  if (!first.ok) {
    if (first.reason === 'error-response') result.notes.push(`the server answered ${first.code ?? '?'} ${first.text ?? ''}`.trim());
    return result;
  }
  result.udp = true;
  result.mapped = first.answer.mapped;
  result.rttMs = first.answer.rttMs;
  const other = first.answer.other;
  const noNat = local.some((l) => l.address === first.answer.mapped.address && l.port === first.answer.mapped.port);

  // Filtering (RFC 5780 4.4): test II asks for an answer from the other address and port,
  // test III from the other port only.
  if (!other) result.notes.push('the member checked with has neither a partner nor a second address to answer from (no OTHER-ADDRESS)');
  else {
    const fromElsewhere = await probe(server, { changeIp: true, changePort: true });
    if (fromElsewhere.ok) result.filtering = 'endpoint-independent';
    else {
      const fromOtherPort = await probe(server, { changeIp: false, changePort: true });
      result.filtering = fromOtherPort.ok ? 'address-dependent' : 'address-and-port-dependent';
    }
  }

  if (noNat) {
    result.mapping = 'no-nat';
    return result;
  }
  if (!other) return result;
  // Mapping (RFC 5780 4.3): test II to the alternate address at the primary port, test III to
  // the alternate address and port.
  const second = await probe({ address: other.address, port: server.port });
  if (!second.ok) {
    result.notes.push(`no answer from the alternate address ${other.address}:${server.port}`);
    return result;
  }
  if (sameAddress(second.answer.mapped, first.answer.mapped)) {
    result.mapping = 'endpoint-independent';
    return result;
  }
  const third = await probe(other);
  if (!third.ok) {
    result.notes.push(`no answer from the alternate address and port ${other.address}:${other.port}`);
    return result;
  }
  result.mapping = sameAddress(third.answer.mapped, second.answer.mapped) ? 'address-dependent' : 'address-and-port-dependent';
  return result;
}

export function sameAddress(a: TransportAddress, b: TransportAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

/** The Network screen's sentence for a behaviour. */
export function describeBehaviour(b: NatBehaviour): string {
  if (!b.udp) return 'No answer over UDP from any member: UDP looks blocked here (a firewall), so only TCP can be used.';
  const mapping: Record<MappingBehaviour, string> = {
    'no-nat': 'There is no NAT between you and the internet: your address is public',
    'endpoint-independent': 'Your router keeps the same public port for every destination (endpoint-independent mapping)',
    'address-dependent': 'Your router gives a new public port for every destination address (address-dependent mapping)',
    'address-and-port-dependent': 'Your router gives a new public port for every destination address and port (address-and-port-dependent mapping, a "symmetric" NAT)',
  };
  const filtering: Record<FilteringBehaviour, string> = {
    'endpoint-independent': 'lets in packets from anyone once you have sent out (endpoint-independent filtering)',
    'address-dependent': 'lets in replies only from addresses you have sent to (address-dependent filtering)',
    'address-and-port-dependent': 'lets in replies only from the exact address and port you have sent to (address-and-port-dependent filtering)',
  };
  if (!b.mapping && !b.filtering) return `Members answer over UDP, but how your router maps and filters could not be measured.`;
  if (!b.filtering) return `${mapping[b.mapping!]}. What it lets in could not be measured.`;
  if (!b.mapping) return `How your router maps ports could not be measured; it ${filtering[b.filtering]}.`;
  return b.mapping === 'no-nat' ? `${mapping['no-nat']}; a firewall, if any, ${filtering[b.filtering]}.` : `${mapping[b.mapping]} and ${filtering[b.filtering]}.`;
}
