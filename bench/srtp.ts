// SRTP throughput on one core (issue 14): how many 20 ms G.711 packets (160-byte payload) the
// transforms of native/wire/srtp protect and unprotect a second, AES_CM_128_HMAC_SHA1_80 (the
// suite calls use) at the top level and AEAD_AES_128_GCM (RFC 7714) under `gcm`. A call needs 50
// a second each way, so 200 calls on a core need 10,000 of each.
import { performance } from 'node:perf_hooks';
import { SRTP_SUITES, SrtpReceiver, SrtpSender, type SrtpSuite } from '../native/wire/srtp/srtp.js';

const PACKETS = 100_000;
const PAYLOAD_BYTES = 160;

function rtp(seq: number): Buffer {
  const packet = Buffer.alloc(12 + PAYLOAD_BYTES, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(0x5eed, 8);
  return packet;
}

interface SuiteThroughput {
  protectPerSec: number;
  unprotectPerSec: number;
  transform: SrtpSuite;
}

function measureSuite(suite: SrtpSuite, plain: Buffer[]): SuiteThroughput {
  const key = Buffer.alloc(SRTP_SUITES[suite].masterKeyBytes, 7);
  const salt = Buffer.alloc(SRTP_SUITES[suite].masterSaltBytes, 9);
  const sender = new SrtpSender(key, salt, suite);
  let started = performance.now();
  const protectedPackets = plain.map((p) => sender.protect(p));
  const protectMs = performance.now() - started;
  const receiver = new SrtpReceiver(key, salt, suite);
  started = performance.now();
  for (const p of protectedPackets) if (!receiver.unprotect(p).ok) throw new Error(`an ${suite} packet did not unprotect`);
  const unprotectMs = performance.now() - started;
  return { protectPerSec: Math.round((PACKETS / protectMs) * 1000), unprotectPerSec: Math.round((PACKETS / unprotectMs) * 1000), transform: suite };
}

export function measureSrtp(): SuiteThroughput & { payloadBytes: number; gcm: SuiteThroughput } {
  const plain = Array.from({ length: PACKETS }, (_, i) => rtp(i));
  return { ...measureSuite('AES_CM_128_HMAC_SHA1_80', plain), payloadBytes: PAYLOAD_BYTES, gcm: measureSuite('AEAD_AES_128_GCM', plain) };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(measureSrtp()));
