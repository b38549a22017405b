// SRTP throughput on one core (issue 14): how many 20 ms G.711 packets (160-byte payload) the
// AES_CM_128_HMAC_SHA1_80 transform of native/wire/srtp protects and unprotects a second. A call
// needs 50 a second each way, so 200 calls on a core need 10,000 of each.
import { performance } from 'node:perf_hooks';
import { SrtpReceiver, SrtpSender } from '../native/wire/srtp/srtp.js';

const PACKETS = 100_000;

function rtp(seq: number): Buffer {
  const packet = Buffer.alloc(12 + 160, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(0x5eed, 8);
  return packet;
}

export function measureSrtp(): { protectPerSec: number; unprotectPerSec: number; transform: string; payloadBytes: number } {
  const key = Buffer.alloc(16, 7);
  const salt = Buffer.alloc(14, 9);
  const plain = Array.from({ length: PACKETS }, (_, i) => rtp(i));
  const sender = new SrtpSender(key, salt);
  let started = performance.now();
  const protectedPackets = plain.map((p) => sender.protect(p));
  const protectMs = performance.now() - started;
  const receiver = new SrtpReceiver(key, salt);
  started = performance.now();
  for (const p of protectedPackets) if (!receiver.unprotect(p).ok) throw new Error('an SRTP packet did not unprotect');
  const unprotectMs = performance.now() - started;
  return { protectPerSec: Math.round((PACKETS / protectMs) * 1000), unprotectPerSec: Math.round((PACKETS / unprotectMs) * 1000), transform: 'AES_CM_128_HMAC_SHA1_80', payloadBytes: 160 };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(measureSrtp()));
