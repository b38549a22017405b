// Reads the UDP payloads out of a classic libpcap capture (Ethernet, IPv4), enough to pull
// RTP packets out of the captures sipp ships. Test support only.

export interface CapturedDatagram {
  sourcePort: number;
  destinationPort: number;
  payload: Buffer;
}

const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const ETHERNET_HEADER_BYTES = 14;
const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const IP_PROTOCOL_UDP = 17;

export function udpDatagramsFromPcap(file: Buffer): CapturedDatagram[] {
  const magic = file.readUInt32LE(0);
  // The magic number tells the byte order of every header field that follows.
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!littleEndian && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (at: number) => (littleEndian ? file.readUInt32LE(at) : file.readUInt32BE(at));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`link type ${u32(20)} is not Ethernet`);

  const datagrams: CapturedDatagram[] = [];
  let at = GLOBAL_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= file.length) {
    const capturedLength = u32(at + 8);
    const frame = file.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + capturedLength);
    at += RECORD_HEADER_BYTES + capturedLength;
    if (frame.length < ETHERNET_HEADER_BYTES || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) continue;
    const ip = frame.subarray(ETHERNET_HEADER_BYTES);
    const ipHeaderBytes = 4 * (ip[0] & 0x0f);
    if (ip[9] !== IP_PROTOCOL_UDP) continue;
    const ipTotalLength = ip.readUInt16BE(2);
    const udp = ip.subarray(ipHeaderBytes, ipTotalLength);
    const udpLength = udp.readUInt16BE(4);
    datagrams.push({ sourcePort: udp.readUInt16BE(0), destinationPort: udp.readUInt16BE(2), payload: Buffer.from(udp.subarray(8, udpLength)) });
  }
  return datagrams;
}
