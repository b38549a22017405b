// Regenerates test/fixtures/rtp/*.bin from the captures the Debian sip-tester package ships:
//   node --import tsx test/unit/rtp/extract-fixtures.ts [/usr/share/sip-tester]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { udpDatagramsFromPcap } from '../../support/pcap-udp.js';

const source = process.argv[2] ?? '/usr/share/sip-tester';
const target = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/rtp');
mkdirSync(target, { recursive: true });

const wanted: Array<{ pcap: string; prefix: string; count: number }> = [
  { pcap: 'g711a.pcap', prefix: 'g711a', count: 4 },
  { pcap: 'dtmf_2833_1.pcap', prefix: 'dtmf-1', count: Infinity },
  { pcap: 'dtmf_2833_pound.pcap', prefix: 'dtmf-pound', count: Infinity },
];

for (const { pcap, prefix, count } of wanted) {
  const datagrams = udpDatagramsFromPcap(readFileSync(path.join(source, pcap)));
  datagrams.slice(0, count).forEach((d, i) => {
    const name = `${prefix}-${String(i).padStart(2, '0')}.bin`;
    writeFileSync(path.join(target, name), d.payload);
    console.log(`${name}: ${d.payload.length} bytes from ${pcap} (UDP ${d.sourcePort} -> ${d.destinationPort})`);
  });
}
