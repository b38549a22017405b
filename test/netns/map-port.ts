// Run inside a lab host (ip netns exec NS node --import tsx test/netns/map-port.ts PROTOCOL GATEWAY HOST PORT):
// maps PORT over one router protocol with Peerdial's PortMapper, echoes every UDP datagram that
// reaches the port, prints the mapping view as one JSON line, and deletes the mapping when its
// stdin closes, printing the view again. The first line also carries mapMs: how long the mapping took.
import { UdpSocket } from '../../native/transport/udp-socket.js';
import { createLogger } from '../../native/log.js';
import { PortMapper } from '../../native/services/nat/port-mapper.js';
import { NatPmpMapper, PcpMapper, UpnpMapper, type RouterMapper } from '../../native/services/nat/router-mappers.js';
import { realTimers } from '../../native/transport/clock.js';

const [protocol, gateway, host, portText] = process.argv.slice(2);
const port = Number(portText);
const echo = await UdpSocket.open({ bind: host, port, onMessage: (bytes, from) => echo.send(bytes, from) });
async function* only(): AsyncIterable<RouterMapper> {
  if (protocol === 'pcp') yield new PcpMapper(gateway);
  else if (protocol === 'nat-pmp') yield new NatPmpMapper(gateway);
  else {
    const found = await UpnpMapper.find();
    if (found) yield found;
  }
}
const mapper = new PortMapper({ timers: realTimers, log: createLogger('map-port', 'warn'), gateway: async () => gateway, mappers: only, onChange: () => undefined });
const began = performance.now();
await mapper.map(host, port);
const mapMs = Math.round((performance.now() - began) * 10) / 10;
console.log(JSON.stringify({ ...mapper.view(true), mapMs }));
process.stdin.resume();
process.stdin.on('end', async () => {
  await mapper.stop();
  console.log(JSON.stringify(mapper.view(true)));
  await echo.close();
  process.exit(0);
});
