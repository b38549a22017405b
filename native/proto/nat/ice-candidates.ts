// ICE candidates and pairs (RFC 8445 5.1 and 6.1.2): priorities, foundations and the order of
// the checklist. One component only: Peerdial multiplexes RTCP onto the RTP port (RFC 5761).
import { createHash } from 'node:crypto';
import type { CandidateType, IceCandidate } from '../../wire/sdp/ice-attributes.js';
import type { TransportAddress } from '../../wire/stun/message.js';

export type { CandidateType, IceCandidate };

/**
 * Which way datagrams of a local candidate leave: `socket` is the call's own UDP socket
 * (host, server- and peer-reflexive candidates); anything else names a TURN allocation.
 */
export type Via = 'socket' | string;

export interface LocalCandidate extends IceCandidate {
  via: Via;
  /** The address checks are sent from (RFC 8445 5.1.1.3): the host socket, or the relayed address. */
  base: TransportAddress;
}

/** RFC 8445 5.1.2.2: recommended type preferences. */
const TYPE_PREFERENCE: Record<CandidateType, number> = { host: 126, prflx: 110, srflx: 100, relay: 0 };
const COMPONENT = 1;

/** RFC 8445 5.1.2.1: priority = 2^24 type preference + 2^8 local preference + (256 - component). */
export function candidatePriority(type: CandidateType, localPreference = 65535): number {
  return TYPE_PREFERENCE[type] * 2 ** 24 + localPreference * 2 ** 8 + (256 - COMPONENT);
}

/**
 * RFC 8445 5.1.1.3: candidates share a foundation when they have the same type, base IP,
 * server (for reflexive and relayed ones) and transport. The text is opaque to the peer.
 */
export function foundationOf(type: CandidateType, baseAddress: string, server = ''): string {
  return createHash('sha1').update(`${type}|${baseAddress}|${server}|udp`).digest('hex').slice(0, 8);
}

/** RFC 8445 6.1.2.3: 2^32 MIN(G,D) + 2 MAX(G,D) + (G>D ? 1 : 0), G the controlling side's priority. */
export function pairPriority(controlling: number, controlled: number): bigint {
  const low = Math.min(controlling, controlled);
  const high = Math.max(controlling, controlled);
  // Up to 2^63: a float would lose the low bits that break ties.
  return (BigInt(low) << 32n) + 2n * BigInt(high) + (controlling > controlled ? 1n : 0n);
}

export function sameAddress(a: TransportAddress, b: TransportAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

export function addressKey(a: TransportAddress): string {
  return `${a.address}:${a.port}`;
}
