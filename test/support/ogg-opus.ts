// The smallest Ogg Opus (RFC 7845) writer and reader the codec tests need to hand Opus packets to
// ffmpeg and take its packets back: one packet per page, mono, mapping family 0.

/** RFC 3533 6: Ogg's CRC-32, polynomial 0x04c11db7, not reflected, initial value 0. */
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let r = n << 24;
  for (let i = 0; i < 8; i++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  return crc;
}

const BOS = 0x02;
const EOS = 0x04;

function page(packet: Uint8Array, granule: bigint, serial: number, sequence: number, flags: number): Buffer {
  // RFC 3533 6: lacing values of 255 continue a packet; one below 255 (maybe 0) ends it.
  const lacing: number[] = [];
  let left = packet.length;
  while (left >= 255) {
    lacing.push(255);
    left -= 255;
  }
  lacing.push(left);
  if (lacing.length > 255) throw new Error('ogg-opus: packet too long for one page');
  const header = Buffer.alloc(27 + lacing.length);
  header.write('OggS', 0, 'latin1');
  header[4] = 0; // version
  header[5] = flags;
  header.writeBigInt64LE(granule, 6);
  header.writeUInt32LE(serial, 14);
  header.writeUInt32LE(sequence, 18);
  header[26] = lacing.length;
  Buffer.from(lacing).copy(header, 27);
  const out = Buffer.concat([header, packet]);
  out.writeUInt32LE(oggCrc(out), 22);
  return out;
}

/**
 * An Ogg Opus file holding `packets` of mono Opus, each `samplesPerPacket` long at 48 kHz.
 * Pre-skip is 0, so a decoder's output lines up sample for sample with ours.
 */
export function writeOggOpus(packets: Uint8Array[], samplesPerPacket: number, serial = 0x5eed): Buffer {
  // RFC 7845 5.1: OpusHead (version 1, 1 channel, pre-skip, original rate, gain 0, family 0).
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = 1;
  head.writeUInt16LE(0, 10);
  head.writeUInt32LE(48000, 12);
  head.writeInt16LE(0, 16);
  head[18] = 0;
  // RFC 7845 5.2: OpusTags with a vendor string and no comments.
  const vendor = Buffer.from('peerdial test', 'utf8');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  tags.writeUInt32LE(0, 12 + vendor.length);
  const pages = [page(head, 0n, serial, 0, BOS), page(tags, 0n, serial, 1, 0)];
  packets.forEach((packet, i) => {
    const granule = BigInt((i + 1) * samplesPerPacket);
    pages.push(page(packet, granule, serial, i + 2, i === packets.length - 1 ? EOS : 0));
  });
  return Buffer.concat(pages);
}

/** The audio packets of an Ogg Opus file (its first two packets, OpusHead and OpusTags, left out). */
export function readOggOpusPackets(file: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let pending: Buffer[] = [];
  let offset = 0;
  while (offset + 27 <= file.length) {
    if (file.toString('latin1', offset, offset + 4) !== 'OggS') throw new Error(`ogg-opus: no page at ${offset}`);
    const segments = file[offset + 26];
    let body = offset + 27 + segments;
    for (let s = 0; s < segments; s++) {
      const size = file[offset + 27 + s];
      pending.push(file.subarray(body, body + size));
      body += size;
      if (size < 255) {
        packets.push(Buffer.concat(pending));
        pending = [];
      }
    }
    offset = body;
  }
  return packets.slice(2);
}
