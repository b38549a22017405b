// Can others reach this node's SIP socket unasked? libp2p's AutoNAT idea, on RFC 5780 sockets:
// from the SIP socket itself, a node asks up to three members for a Binding answer sent from
// their *other* address and port (CHANGE-REQUEST change-IP and change-port). That answer comes
// from an address the node has never sent to, to the address the member observed (the member
// or its partner never sends anywhere else: no reflection). If it arrives, anyone can reach the
// SIP socket: no firewall in the way, or a router that forwards it (a port mapping, a full cone).
// An answer counts only from an address our socket never sent to, since a NAT or firewall lets
// in what comes from an address it has seen us send to: by address and port where it filters
// by both (most host firewalls, and what RFC 5780 found), by address alone where it filters so.
import type { StunClient } from '../../proto/nat/stun-client.js';
import type { TransportAddress } from '../../wire/stun/message.js';
import type { ReachabilityView } from './nat-view.js';

export interface ReachabilityOptions {
  /** The STUN client on the SIP socket. */
  stun: StunClient;
  /**
   * Whether the SIP socket has sent to this address and port: a NAT or firewall that filters by
   * address alone lets in any port of an address we sent to, so the caller then ignores `port`.
   */
  hasSentTo(address: string, port: number): boolean;
  now(): number;
}

/** At most this many probes that say something; more members are asked when one cannot probe. */
const WANTED = 3;
const ASKED_AT_MOST = 6;

export async function checkReachability(members: TransportAddress[], options: ReachabilityOptions): Promise<ReachabilityView> {
  const probes: ReachabilityView['probes'] = [];
  let address: string | undefined;
  for (const member of members.slice(0, ASKED_AT_MOST)) {
    if (probes.filter((p) => p.result === 'arrived' || p.result === 'silent').length >= WANTED) break;
    const name = `${member.address}:${member.port}`;
    const plain = await options.stun.binding(member);
    if (!plain.ok) {
      probes.push({ member: name, result: 'cannot-probe', note: 'no answer' });
      continue;
    }
    address ??= `${plain.answer.mapped.address}:${plain.answer.mapped.port}`;
    const other = plain.answer.other;
    if (!other) {
      probes.push({ member: name, result: 'cannot-probe', note: 'no second address (no partner yet)' });
      continue;
    }
    if (options.hasSentTo(other.address, other.port)) {
      probes.push({ member: name, from: other.address, result: 'inconclusive', note: 'this node has sent to that address, so its NAT may let it in' });
      continue;
    }
    const probe = await options.stun.binding(member, { change: { changeIp: true, changePort: true } });
    if (probe.ok && !options.hasSentTo(probe.answer.source.address, probe.answer.source.port) && probe.answer.source.address !== member.address) {
      probes.push({ member: name, from: `${probe.answer.source.address}:${probe.answer.source.port}`, result: 'arrived' });
    } else if (probe.ok) {
      probes.push({ member: name, from: `${probe.answer.source.address}:${probe.answer.source.port}`, result: 'inconclusive', note: 'the answer came from an address this node has sent to' });
    } else if (probe.reason === 'error-response') {
      probes.push({ member: name, result: 'cannot-probe', note: `it answered ${probe.code ?? ''} ${probe.text ?? ''}`.trim() });
    } else {
      probes.push({ member: name, from: `${other.address}:${other.port}`, result: 'silent' });
    }
  }
  const arrived = probes.filter((p) => p.result === 'arrived').length;
  const silent = probes.filter((p) => p.result === 'silent').length;
  // Ties go to "unreachable": a member that nobody can reach would leave its clients stranded.
  const state = arrived + silent === 0 ? 'unknown' : arrived > silent ? 'reachable' : 'unreachable';
  return { state, address, probes, checkedAt: options.now() };
}

/** The finding in words, for the Network screen and the role's reason. */
export function describeReachability(view: ReachabilityView): string {
  const arrived = view.probes.filter((p) => p.result === 'arrived').length;
  const asked = view.probes.filter((p) => p.result === 'arrived' || p.result === 'silent').length;
  switch (view.state) {
    case 'reachable':
      return `others can reach ${view.address ?? 'this node'} unasked: ${arrived} of ${asked} probes sent from addresses it never sent to arrived`;
    case 'unreachable':
      return `others cannot reach ${view.address ?? 'this node'} unasked: ${asked - arrived} of ${asked} probes sent from addresses it never sent to did not arrive`;
    case 'checking':
      return 'asking members to probe this node from addresses it never sent to…';
    default:
      return view.probes.length ? 'not known: no member could probe from an address this node never sent to' : 'not checked yet';
  }
}
