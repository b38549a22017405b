// Run inside a test LAN's namespace: one signed DNS UPDATE (native/transport/dns-update.ts) to a
// server, then the name's A records as that server answers them. Prints one JSON line:
// {"outcome", "addresses"}.
// Usage: dns-update-run.ts SERVER-IP KEY(NAME:ALG:SECRET) ZONE NAME ADD-CSV REMOVE-CSV
import { Resolver } from 'node:dns/promises';
import { sendDnsUpdate } from '../../native/transport/dns-update.js';
import { parseTsigKey } from '../../native/wire/dns/update.js';

const [server, key, zone, name, add, remove] = process.argv.slice(2);
const list = (csv: string) => csv.split(',').filter(Boolean).map((address) => ({ name, address, ttl: 5 }));
const outcome = await sendDnsUpdate({ host: server, port: 53 }, parseTsigKey(key), { zone, add: list(add), remove: list(remove) });
const resolver = new Resolver({ timeout: 1_000, tries: 2 });
resolver.setServers([server]);
const addresses = await resolver.resolve4(name).catch(() => []);
process.stdout.write(JSON.stringify({ outcome, addresses: addresses.sort() }) + '\n');
