// What a call sounds like in a recording and on the wire, for the tests that show encryption
// works: each side hears the other's tone, and the captured RTP payloads sound like neither.
import { decodeG711 } from '../../native/wire/audio/g711.js';
import { readPackets } from '../peers/tshark.js';
import { readWav } from './audio-analysis.js';
import { framesAt, framesOf } from './calls.js';

/** The share of loud 20 ms frames in a recording that sound like `hz`. */
export function heardTone(file: string, hz: number): number {
  const audio = readWav(file);
  const loud = framesOf(audio.samples, audio.sampleRate / 50).filter((f) => f.some((x) => Math.abs(x) > 4000));
  return framesAt(loud, hz, audio.sampleRate);
}

/**
 * RTP payloads captured on the way to `dst`, past the 12-byte header and without the last
 * `tagBytes` (SRTP's authentication tag: 10 for AES-CM, 16 for GCM), decoded as if they were
 * G.711 mu-law: encrypted audio decodes to noise.
 */
export function rtpPayloadsTo(pcap: string, dst: string, tagBytes: number): Int16Array[] {
  const packets = readPackets(pcap, ['udp.payload'], `rtp && ip.dst == ${dst}`, ['-o', 'rtp.heuristic_rtp:TRUE']);
  return packets.map((p) => decodeG711('mu', Buffer.from((p['udp.payload'][0] ?? '').replace(/[^0-9a-f]/gi, ''), 'hex').subarray(12, -tagBytes)));
}
