// Port Control Protocol (RFC 6887), the MAP opcode only: a client asks its router to forward an
// external port to an internal one. Everything here is IPv4, written in the IPv4-mapped IPv6 form
// the protocol carries (RFC 6887 5: ::ffff:a.b.c.d).
import { isIPv4 } from 'node:net';

export const PCP_PORT = 5351;
export const PCP_VERSION = 2;
const OPCODE_MAP = 1;
const HEADER_BYTES = 24;
const MAP_BYTES = 36;

export const PROTOCOL_NUMBER = { udp: 17, tcp: 6 } as const;

/** RFC 6887 7.4. */
export const RESULT_NAMES: Record<number, string> = {
  0: 'SUCCESS',
  1: 'UNSUPP_VERSION',
  2: 'NOT_AUTHORIZED',
  3: 'MALFORMED_REQUEST',
  4: 'UNSUPP_OPCODE',
  5: 'UNSUPP_OPTION',
  6: 'MALFORMED_OPTION',
  7: 'NETWORK_FAILURE',
  8: 'NO_RESOURCES',
  9: 'UNSUPP_PROTOCOL',
  10: 'USER_EX_QUOTA',
  11: 'CANNOT_PROVIDE_EXTERNAL',
  12: 'ADDRESS_MISMATCH',
  13: 'EXCESSIVE_REMOTE_PEERS',
};

export interface MapRequest {
  /** 12 random bytes; the same nonce renews or deletes the mapping (RFC 6887 11.1). */
  nonce: Buffer;
  protocol: 'udp' | 'tcp';
  internalPort: number;
  /** The external port we would like (0: any). */
  suggestedPort: number;
  /** Seconds; 0 deletes. */
  lifetime: number;
  /** Our own address as we send from it: the server compares it with the packet's source. */
  clientAddress: string;
}

export type MapResponse =
  | { ok: true; nonce: Buffer; protocol: number; internalPort: number; externalPort: number; externalAddress: string; lifetime: number; epoch: number }
  | { ok: false; result: number; resultName: string; lifetime: number; epoch: number };

export function encodeMapRequest(request: MapRequest): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + MAP_BYTES);
  out[0] = PCP_VERSION;
  out[1] = OPCODE_MAP; // R bit 0: a request
  out.writeUInt32BE(request.lifetime, 4);
  writeAddress(out, 8, request.clientAddress);
  request.nonce.copy(out, HEADER_BYTES, 0, 12);
  out[HEADER_BYTES + 12] = PROTOCOL_NUMBER[request.protocol];
  out.writeUInt16BE(request.internalPort, HEADER_BYTES + 16);
  out.writeUInt16BE(request.suggestedPort, HEADER_BYTES + 18);
  writeAddress(out, HEADER_BYTES + 20, '0.0.0.0');
  return out;
}

/**
 * A router's answer, or why it is not one. A NAT-PMP-only router answers a PCP request with
 * version 0 (RFC 6887 9): that is reported as 'nat-pmp-only' so the caller can fall back.
 */
export function parseMapResponse(bytes: Buffer): MapResponse | { ok: false; malformed: string } | { ok: false; natPmpOnly: true } {
  if (bytes.length >= 2 && bytes[0] === 0) return { ok: false, natPmpOnly: true };
  if (bytes.length < HEADER_BYTES) return { ok: false, malformed: `${bytes.length} bytes, shorter than a PCP header` };
  if (bytes[0] !== PCP_VERSION) return { ok: false, malformed: `version ${bytes[0]}` };
  if ((bytes[1] & 0x80) === 0) return { ok: false, malformed: 'a request, not a response' };
  if ((bytes[1] & 0x7f) !== OPCODE_MAP) return { ok: false, malformed: `opcode ${bytes[1] & 0x7f}, not MAP` };
  const result = bytes[3];
  const lifetime = bytes.readUInt32BE(4);
  const epoch = bytes.readUInt32BE(8);
  if (result !== 0) return { ok: false, result, resultName: RESULT_NAMES[result] ?? `result ${result}`, lifetime, epoch };
  if (bytes.length < HEADER_BYTES + MAP_BYTES) return { ok: false, malformed: 'a MAP response without its MAP data' };
  const externalAddress = readAddress(bytes, HEADER_BYTES + 20);
  if (!externalAddress) return { ok: false, malformed: 'an external address that is not IPv4' };
  return {
    ok: true,
    nonce: Buffer.from(bytes.subarray(HEADER_BYTES, HEADER_BYTES + 12)),
    protocol: bytes[HEADER_BYTES + 12],
    internalPort: bytes.readUInt16BE(HEADER_BYTES + 16),
    externalPort: bytes.readUInt16BE(HEADER_BYTES + 18),
    externalAddress,
    lifetime,
    epoch,
  };
}

function writeAddress(out: Buffer, at: number, address: string): void {
  if (!isIPv4(address)) throw new Error(`PCP here carries IPv4 addresses only (got "${address}")`);
  out.fill(0, at, at + 10);
  out.writeUInt16BE(0xffff, at + 10);
  address.split('.').forEach((part, i) => (out[at + 12 + i] = Number(part)));
}

function readAddress(bytes: Buffer, at: number): string | undefined {
  if (!bytes.subarray(at, at + 10).every((b) => b === 0) || bytes.readUInt16BE(at + 10) !== 0xffff) return undefined;
  return [...bytes.subarray(at + 12, at + 16)].join('.');
}
