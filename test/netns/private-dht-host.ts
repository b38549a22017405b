// Run inside a network namespace (`ip netns exec NS node --import tsx private-dht-host.ts ADDRESS COUNT`):
// a private BitTorrent mainline DHT of COUNT bittorrent-dht nodes on ADDRESS (test/support/private-dht.ts),
// printing `bootstrap: HOST:PORT HOST:PORT ...` once every node is ready; it stops when stdin closes
// or on SIGTERM. test/netns/lab-dht.ts starts it.
import { startPrivateDht } from '../support/private-dht.js';

const [address, count] = [process.argv[2], Number(process.argv[3] ?? 60)];
if (!address || !(count >= 4)) {
  process.stderr.write('usage: private-dht-host.ts ADDRESS [COUNT >= 4]\n');
  process.exit(2);
}
const dht = await startPrivateDht(count, 4, address);
process.stdout.write(`bootstrap: ${dht.bootstrap.join(' ')}\n`);
const stop = () => void dht.close().finally(() => process.exit(0));
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
