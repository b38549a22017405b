// `peerdial origin`: the site owner's face. Every bad flag gets one line that says what to change.
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { inZone, isHostName, Origin, parseTsigKey, parseTsigKeyFile, type OriginDnsFlags, type TsigKey } from '../roots/origin-engine.js';
import { stopOnSignals } from '../process-signals.js';
import { dataDir, listenAddress, parseFlags, port, UsageError } from './flags.js';
import { parseTrustFlags, TRUST_FLAGS, TRUST_HELP } from './origin-trust-flags.js';

const HELP = `Usage: peerdial origin --upstream URL --listen [HOST]:PORT --capacity RATE [options]

Runs in front of your web server. In normal times it passes every request through. When the
load climbs past the high mark (a flash crowd), it asks rescue servers (Peerdial nodes whose
users chose to "help rescue sites") for help and redirects a controlled share of requests for
cacheable resources to them; when the spike passes it releases them.

Options:
  --upstream URL        your web server, e.g. http://127.0.0.1:8080 (required)
  --listen [HOST]:PORT  where users reach the site, e.g. :80 or 192.0.2.10:80 (required)
  --capacity RATE       the site's egress capacity: a number with kbit, mbit or gbit,
                        e.g. 20mbit (required)
  --band LOW-HIGH       the load band to keep, as fractions of capacity (default: 0.6-0.8):
                        SOS above HIGH, rescuers released after staying below LOW
  --site URL            the site's public URL, shown to volunteers (default: from --listen)
  --bootstrap HOST:PORT an overlay member to find rescue servers through (repeatable)
  --overlay NAME        the overlay those members are in (default: peerdial)
  --rescuer HOST:PORT   a rescue server's SIP address to ask directly (repeatable)
  --no-mdns             do not look for rescue servers on the LAN by mDNS
  --status-listen H:P   the status page (default: 127.0.0.1, any free port)
  --data-dir DIR        where the origin's key is kept (default: ${defaultOriginDir()})
  --sip-port N          SIP port for the rescue protocol, 0 for any free one (default: 5060
                        when free, else any)
  --bind ADDR           address the SIP socket listens on (default: 0.0.0.0)

DNS round robin (optional; your zone must take dynamic updates signed with a TSIG key):
  --dns-update HOST[:PORT]  the zone's primary DNS server (port 53 by default): rescuers'
                        addresses are added to the site's name while they help (RFC 2136),
                        and removed when they stop; if an update fails, load moves by HTTP
                        redirects only and the status page says why
  --tsig-key-file FILE  the TSIG key, as tsig-keygen or keymgr writes it
                        (key "NAME" { algorithm hmac-sha256; secret "..."; };)
  --tsig-key NAME:ALG:SECRET  the same on the command line (other users may see it in ps)
  --dns-name NAME       the name to add them to (default: --site's host name)
  --dns-zone ZONE       the zone that holds it (default: NAME without its first label)
  --dns-ttl SECONDS     TTL of the added records, 1 to 3600 (default: 30): how long a resolver
                        keeps sending users to a rescuer after it is removed
${TRUST_HELP.trim()}

Once ready it prints the site, the status page and the origin ID. Stop it with Ctrl-C or SIGTERM:
it releases every rescue server first.
`;

function defaultOriginDir(): string {
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'Peerdial', 'origin');
}

/** `20mbit`, `500kbit`, `1gbit`, `1.5mbit` -> bytes per second. */
export function parseRate(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)bit$/i.exec(value.trim());
  if (!m) return undefined;
  const bits = Number(m[1]) * { k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase() as 'k' | 'm' | 'g'];
  return bits > 0 ? bits / 8 : undefined;
}

function parseOriginFlags(args: string[]) {
  const v = parseFlags('peerdial origin', args, {
    upstream: { type: 'string' },
    listen: { type: 'string' },
    capacity: { type: 'string' },
    band: { type: 'string' },
    site: { type: 'string' },
    rescuer: { type: 'string', multiple: true },
    'status-listen': { type: 'string' },
    'dns-update': { type: 'string' },
    'tsig-key': { type: 'string' },
    'tsig-key-file': { type: 'string' },
    'dns-name': { type: 'string' },
    'dns-zone': { type: 'string' },
    'dns-ttl': { type: 'string' },
    ...TRUST_FLAGS,
  });
  if (v.help) return { help: true as const };
  if (!v.upstream) throw new UsageError('--upstream URL is needed: the web server to stand in front of, such as http://127.0.0.1:8080.');
  let upstream: URL;
  try {
    upstream = new URL(v.upstream);
  } catch {
    throw new UsageError(`--upstream must be a URL such as http://127.0.0.1:8080 (got "${v.upstream}").`);
  }
  if (upstream.protocol !== 'http:') throw new UsageError(`--upstream must be an http:// URL (got "${v.upstream}"): the origin talks plain HTTP to the server beside it.`);
  if (!v.listen) throw new UsageError('--listen [HOST]:PORT is needed: where users reach the site, such as :80.');
  if (!v.capacity) throw new UsageError('--capacity RATE is needed: the egress the site has, such as 20mbit.');
  const capacity = parseRate(v.capacity);
  if (capacity === undefined) throw new UsageError(`--capacity must be a rate such as 20mbit, 500kbit or 1gbit (got "${v.capacity}").`);
  let band = { low: 0.6, high: 0.8 };
  if (v.band !== undefined) {
    const m = /^(\d*\.?\d+)-(\d*\.?\d+)$/.exec(v.band);
    const low = m ? Number(m[1]) : NaN;
    const high = m ? Number(m[2]) : NaN;
    if (!m || !(low > 0 && low < high && high <= 2)) throw new UsageError(`--band must be LOW-HIGH with 0 < LOW < HIGH <= 2, such as 0.6-0.8 (got "${v.band}").`);
    band = { low, high };
  }
  if (v.site !== undefined && !/^https?:\/\/[^\s]+$/.test(v.site)) throw new UsageError(`--site must be the site's URL, such as http://example.org/ (got "${v.site}").`);
  for (const item of v.rescuer ?? []) listenAddress(item, '--rescuer', '');
  const dns = parseDnsFlags(v);
  const trust = parseTrustFlags(v, v.site);
  if (dns && (/^https:/i.test(v.site ?? '') || trust.tls)) {
    throw new UsageError(
      "--dns-update is for plain-HTTP sites: no rescuer holds a certificate for an HTTPS site's own name, so its users would get a certificate error (trusted rescuers take an HTTPS site's users by redirect to their own names: --trusted-rescuer).",
    );
  }
  return {
    help: false as const,
    upstream: upstream.toString(),
    listen: listenAddress(v.listen, '--listen', '0.0.0.0'),
    statusListen: v['status-listen'] ? listenAddress(v['status-listen'], '--status-listen', '127.0.0.1') : { host: '127.0.0.1', port: 0 },
    capacityBytesPerSecond: capacity,
    band,
    site: v.site,
    bootstrap: v.bootstrap ?? [],
    rescuers: v.rescuer ?? [],
    overlay: v.overlay,
    mdns: !v['no-mdns'],
    dataDir: dataDir(v['data-dir'], defaultOriginDir()),
    sipPort: port(v['sip-port'], '--sip-port', { anyFree: true }),
    bind: v.bind,
    dns,
    ...trust,
  };
}

function dnsLine(dns: NonNullable<ReturnType<Origin['service']['view']>['dns']>): string {
  return dns.state === 'failed'
    ? `dns: ${dns.name} cannot be updated at ${dns.server}: ${dns.lastError}; moving load by HTTP redirects only`
    : `dns: rescuers go into ${dns.name} (zone ${dns.zone}, TTL ${dns.ttl} s) at ${dns.server}`;
}

/** The DNS round robin flags: all or nothing, each checked with a sentence saying what to change. */
function parseDnsFlags(v: Record<string, string | string[] | boolean | undefined>): OriginDnsFlags | undefined {
  const given = ['tsig-key', 'tsig-key-file', 'dns-name', 'dns-zone', 'dns-ttl'].filter((f) => v[f] !== undefined);
  const server = v['dns-update'] as string | undefined;
  if (server === undefined) {
    if (given.length) throw new UsageError(`--${given[0]} is for DNS round robin: give --dns-update HOST[:PORT] too (the server that takes the zone's updates).`);
    return undefined;
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(server);
  const host = m ? (m[1] ?? m[2]) : '';
  if (!m || !isIP(host) || Number(m[3] ?? 53) < 1 || Number(m[3] ?? 53) > 65535) {
    throw new UsageError(`--dns-update must be the DNS server's IP address, with :PORT if not 53, such as 192.0.2.53 or 192.0.2.53:5353 (got "${server}").`);
  }
  if ((v['tsig-key'] === undefined) === (v['tsig-key-file'] === undefined)) {
    throw new UsageError('--dns-update needs the TSIG key the zone accepts updates with: --tsig-key-file FILE or --tsig-key NAME:ALGORITHM:SECRET (one of them).');
  }
  let key: TsigKey;
  try {
    if (v['tsig-key-file'] !== undefined) {
      let text: string;
      try {
        text = readFileSync(v['tsig-key-file'] as string, 'utf8');
      } catch (error) {
        throw new RangeError(`cannot read ${String(v['tsig-key-file'])}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      key = parseTsigKeyFile(text);
    } else {
      key = parseTsigKey(v['tsig-key'] as string);
    }
  } catch (error) {
    throw new UsageError(`${v['tsig-key-file'] !== undefined ? '--tsig-key-file' : '--tsig-key'}: ${(error as Error).message}.`);
  }
  let name = (v['dns-name'] as string | undefined)?.toLowerCase().replace(/\.$/, '');
  if (name === undefined) {
    const site = v.site as string | undefined;
    const siteHost = site ? new URL(site).hostname : '';
    if (!siteHost || isIP(siteHost.replace(/^\[|\]$/g, ''))) throw new UsageError('--dns-update needs the site\'s name: give --dns-name NAME, or --site http://NAME/.');
    name = siteHost.toLowerCase();
  }
  if (!isHostName(name) || !name.includes('.')) throw new UsageError(`--dns-name must be a host name such as www.example.org (got "${name}").`);
  const zone = ((v['dns-zone'] as string | undefined) ?? name.slice(name.indexOf('.') + 1)).toLowerCase().replace(/\.$/, '');
  if (!isHostName(zone)) throw new UsageError(`--dns-zone must be a zone name such as example.org (got "${zone}").`);
  if (!inZone(name, zone)) throw new UsageError(`--dns-name ${name} is not in zone ${zone}: give the zone that holds it with --dns-zone.`);
  const ttlText = (v['dns-ttl'] as string | undefined) ?? '30';
  if (!/^\d+$/.test(ttlText) || Number(ttlText) < 1 || Number(ttlText) > 3600) throw new UsageError(`--dns-ttl must be seconds from 1 to 3600 (got "${ttlText}").`);
  return { server: { host, port: Number(m[3] ?? 53) }, key, name, zone, ttl: Number(ttlText) };
}

export async function originMain(args: string[]): Promise<number> {
  const flags = parseOriginFlags(args);
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let origin: Origin;
  try {
    origin = await Origin.start(flags);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const fix =
      e.code === 'PORT_IN_USE'
        ? `${e.message}: pick another (${/^Status/.test(e.message) ? '--status-listen' : /^Listen/.test(e.message) ? '--listen' : '--sip-port'}).`
        : e.code === 'EACCES'
          ? `cannot use a port below 1024 or ${flags.dataDir} (${e.message}): run with the right to, or pick another.`
          : e.code === 'EADDRNOTAVAIL'
            ? `an address given is not one of this machine's (${e.message}).`
            : `could not start: ${e.message ?? String(error)}`;
    process.stderr.write(`peerdial origin: ${fix}\n`);
    return 1;
  }
  // Releasing rescuers needs a moment; never more than 4 s.
  const stopped = stopOnSignals(() => origin.stop(), 4_000);
  const s = origin.service;
  process.stdout.write(
    [
      'peerdial origin is ready',
      `site: ${s.site}`,
      ...(s.tlsUrl ? [`site over https: ${s.tlsUrl}`] : []),
      `status: ${s.statusUrl}`,
      `sip: ${s.sipContact}`,
      `origin: ${s.view().originId}`,
      ...(s.dns ? [dnsLine(s.view().dns!)] : []),
      '',
    ].join('\n'),
  );
  await stopped;
  return 0;
}
