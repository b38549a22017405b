// `peerdial node`: the headless node, its flags and its ready lines.
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { DEFAULT_CHORD_CONFIG, Engine, isHostPort, MAX_DIFFICULTY, MIN_PASSPHRASE_LENGTH, OFFERED_CODECS, parseRequestLimits, parseTurnUrl, type RequestLimitsConfig, type AudioCodecName, type ChordConfig, type LocationMode, type TurnServerUrl } from '../roots/node-engine.js';
import { VERSION } from '../roots/defaults.js';
import { stopOnSignals } from '../process-signals.js';
import { dataDir, parseFlags, port, UsageError } from './flags.js';
import { readFile } from 'node:fs/promises';

/** `peerdial --help`: the commands, and the node's options (the command most people run). */
export const HELP = `Peerdial ${VERSION}: a peer-to-peer SIP softphone.

Usage:
  peerdial node [options]     run a headless node with its UI served on 127.0.0.1
  peerdial origin [options]   run in front of a web server and get help from rescue servers
                              in a flash crowd (see "peerdial origin --help")
  peerdial --help             show this help
  peerdial --version          show the version

Options for "node":
  --data-dir DIR       where the identity, messages and settings live
                       (default: ${defaultDataDir()})
  --sip-port N         SIP port for UDP and TCP, 0 for any free port (default: 5060 when
                       free, else any free port)
  --tls-port N         SIP over TLS port, 0 for any free port (default: 5061 with SIP on
                       5060, when free; else any free port)
  --bind ADDR          address the SIP sockets listen on (default: 0.0.0.0, all IPv4 addresses)
  --ui-port N          port of the browser UI on 127.0.0.1 (default: the last one used, else any)
  --user NAME          create the identity NAME on first run, skipping the first-run screen
  --display-name TEXT  the display name for --user (default: NAME)
  --overlay NAME       the overlay to be part of: the domain of addresses like sip:alice@NAME
                       (default: peerdial)
  --bootstrap H:P      join the overlay through the member at HOST:PORT (repeat for more;
                       without it, this node joins the nodes of its overlay it finds on the
                       LAN, or starts the overlay itself)
  --role ROLE          member: join the ring, route and store for others, carry clients;
                       client: be carried by the nearest member that accepts (it carries
                       this node's signalling through its NAT or firewall), another when it
                       stops answering; auto: decided before joining: a member when members'
                       probes from addresses it never sent to reach it (no NAT, or a router
                       that forwards its port), otherwise a client (default: auto)
  --client             the same as --role client
  --member-uptime S    with --role auto, a node that others can reach joins the ring as a
                       member once it has been up S seconds; a member carries it until then,
                       so nodes that come and go do not unsettle the ring (default: 60)
  --max-clients N      as a member, carry at most N clients' signalling; more are refused
                       so they attach elsewhere (default: 5000)
  --port-mapping       ask the router to open the SIP port (PCP, NAT-PMP or UPnP IGD) when
                       a NAT lies between this node and the members (kept for next time;
                       on at first; --no-port-mapping turns it off and deletes the mapping)
  --relay              relay calls for others (a TURN server) while this node is a member
                       with a public address, within the caps below (kept for next time;
                       on at first; --no-relay turns it off)
  --relay-mbit N       bandwidth to give relayed calls, Mbit/s (default: 10)
  --relay-gb-per-day N volume to relay per day, GB (default: 5)
  --relay-port N       the relay's TURN port, UDP and TCP (default: any free port; its
                       advertisement in the overlay says which)
  --sip-rate-limit N   requests a second one address may send this node's registrar and
                       proxy (phones registering, requests routed for the overlay); more get
                       503 with Retry-After (default: 100; 0 for no limit)
  --sip-method-limits LIST
                       per-source limits on every SIP request, CLASS=RATE[/BURST] a second
                       comma-separated, CLASS one of invite, message, subscribe, register,
                       overlay, dialog, other (RATE 0 turns a class off), or "off"; a source
                       over it gets 503 with Retry-After (default: invite=20/50,
                       message=150/300, subscribe=20/100, register=150/300,
                       overlay=200/1000, dialog=200/500, other=50/200, per address and port;
                       one address gets ten times that over all its ports)
  --tcp-per-address N  TCP and TLS connections one address may open to this node at once
                       (default: 64); when all 1,000 are taken, the one idle longest is closed
  --tcp-idle-seconds N close a TCP or TLS connection idle this long (default: 120)
  --message-sender-limit RATE[/BURST]
                       messages from one sender stored a second, after a burst (default:
                       2/30; 0 for no limit); more get 503 with Retry-After
  --farm               be a server of this LAN's server farm: join the farm a member
                       announces (while it admits servers), or found one; phones of the
                       farm's users register to any member (kept for next time; --no-farm
                       leaves the farm)
  --turn URL           also use your own TURN server for calls:
                       turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]
  --stun-other-address ADDR
                       a second address of this host (with --bind set to the first): the
                       STUN server on the SIP port then answers NAT behaviour tests
                       (RFC 5780) by itself, instead of with a partner member
  --refresh-seconds N  how often this user's registration is stored again (default: 60)
  --replicas N         copies of every overlay record this node stores: the responsible
                       node and its next N-1 successors (default: 3)
  --auto-answer        answer incoming calls after the first ring
  --play FILE.wav      use this WAV file as the microphone of every call (16-bit PCM mono,
                       any rate: it is converted to the call's)
  --record FILE.wav    write everything heard in calls to this WAV file (48 kHz mono)
  --key-passphrase-file FILE
                       keep the identity's private keys encrypted on disk under the
                       passphrase in FILE (its first line; 8 characters at least): an
                       identity kept in the clear is encrypted at this start, and from then
                       on the node starts only with this flag
  --rtp-ports LO-HI    the UDP ports calls' audio may use (default: 16384-32767)
  --codecs LIST        the codecs calls offer and take, most preferred first, from
                       opus, G722, PCMU, PCMA (default: all four in that order)
  --no-mdns            do not find LAN peers by DNS-SD over mDNS, nor announce this node there
  --dht on|off         find the overlay through the BitTorrent mainline DHT, and announce
                       this member there (kept for next time; default: off for the headless
                       node; it tells the DHT that this address runs Peerdial). Once ready
                       the node prints its DHT endpoint
  --dht-bootstrap HOST:PORT
                       start from this DHT node instead of the public routers (repeatable):
                       a private DHT; any node with --dht on can be another's
  --dht-port N         the DHT's UDP port (default: any free port)
  --location ring|dht|both
                       where users' bindings (which device is where) are kept and looked
                       for: the overlay's ring, the user's signed item in the BitTorrent DHT
                       (BEP 44; buddies whose key is pinned are found there from any ring),
                       or both, taking the freshest (default: both; the DHT only while it
                       is on). Names stay in the ring
  --no-multicast-register
                       do not send or answer the SIP multicast REGISTER (224.0.1.75:5060)
                       that finds LAN peers
  --rescue             help rescue sites: serve web sites drowning in a flash crowd as a
                       caching rescue server, within the donation below (kept for next time;
                       --no-rescue turns it off)
  --donate-mbit N      upload bandwidth to give rescues, Mbit/s (default: 5)
  --donate-gb-per-day N
                       bytes to serve rescues per day, GB (default: 10)
  --cache-mb N         disk for the rescue cache, MB (default: 500)
  --rescue-port N      port of the rescue server's HTTP (default: any free port)
  --rescue-https-port N
                       port of its HTTPS, for sites that trust this node (default: any free port)
  --rescue-url URL     the address origins send users to, when it is not
                       http://THIS-ADDRESS:PORT (behind a port forward)

Call sip:echo@THIS-NODE (or "echo" in the UI) to hear yourself: the echo test.

Once ready it prints the UI address (with its access token) and its SIP contact.
Stop it with Ctrl-C (SIGINT) or SIGTERM.
`;

/** `--codecs opus,PCMU`: names we speak, each once, in the order of preference given. */
function parseCodecList(list: string): AudioCodecName[] {
  const known = new Map(OFFERED_CODECS.map((name) => [name.toLowerCase(), name]));
  const names = list.split(',').map((name) => name.trim());
  const codecs: AudioCodecName[] = [];
  for (const name of names) {
    const codec = known.get(name.toLowerCase());
    if (!codec) throw new UsageError(`--codecs takes a comma-separated list of ${OFFERED_CODECS.join(', ')} (got "${name || list}").`);
    if (codecs.includes(codec)) throw new UsageError(`--codecs names ${codec} twice: give each codec once.`);
    codecs.push(codec);
  }
  return codecs;
}

export function defaultDataDir(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Peerdial');
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Peerdial');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'Peerdial');
}

function parseNodeFlags(args: string[]) {
  const v = parseFlags('peerdial', args, {
    'ui-port': { type: 'string' },
    user: { type: 'string' },
    'display-name': { type: 'string' },
    client: { type: 'boolean' },
    role: { type: 'string' },
    'stun-other-address': { type: 'string' },
    'max-clients': { type: 'string' },
    'port-mapping': { type: 'boolean' },
    'member-uptime': { type: 'string' },
    'no-port-mapping': { type: 'boolean' },
    'refresh-seconds': { type: 'string' },
    replicas: { type: 'string' },
    'auto-answer': { type: 'boolean' },
    play: { type: 'string' },
    record: { type: 'string' },
    codecs: { type: 'string' },
    'key-passphrase-file': { type: 'string' },
    'tls-port': { type: 'string' },
    'rtp-ports': { type: 'string' },
    'no-multicast-register': { type: 'boolean' },
    dht: { type: 'string' },
    'dht-bootstrap': { type: 'string', multiple: true },
    'dht-port': { type: 'string' },
    location: { type: 'string' },
    rescue: { type: 'boolean' },
    'no-rescue': { type: 'boolean' },
    'donate-mbit': { type: 'string' },
    'donate-gb-per-day': { type: 'string' },
    'cache-mb': { type: 'string' },
    'rescue-port': { type: 'string' },
    'rescue-https-port': { type: 'string' },
    'rescue-url': { type: 'string' },
    relay: { type: 'boolean' },
    'no-relay': { type: 'boolean' },
    'relay-mbit': { type: 'string' },
    'relay-gb-per-day': { type: 'string' },
    'relay-port': { type: 'string' },
    turn: { type: 'string' },
    'sip-rate-limit': { type: 'string' },
    'sip-method-limits': { type: 'string' },
    'tcp-per-address': { type: 'string' },
    'tcp-idle-seconds': { type: 'string' },
    'message-sender-limit': { type: 'string' },
    farm: { type: 'boolean' },
    'no-farm': { type: 'boolean' },
  });
  if (v.farm && v['no-farm']) throw new UsageError('--farm and --no-farm say opposite things: give one.');
  if (v['display-name'] !== undefined && v.user === undefined) throw new UsageError('--display-name goes with --user NAME.');
  if (v.role !== undefined && !['member', 'client', 'auto'].includes(v.role)) throw new UsageError(`--role must be member, client or auto (got "${v.role}").`);
  if (v.client && v.role !== undefined && v.role !== 'client') throw new UsageError(`--client and --role ${v.role} say different things: give one.`);
  const role = v.client ? 'client' : ((v.role as 'member' | 'client' | 'auto' | undefined) ?? 'auto');
  if (role === 'client' && !v.bootstrap?.length) throw new UsageError(`${v.client ? '--client' : '--role client'} needs --bootstrap HOST:PORT: the member to attach to.`);
  const other = v['stun-other-address'];
  if (other !== undefined) {
    if (!isIP(other)) throw new UsageError(`--stun-other-address must be an IP address of this host, such as 192.0.2.11 (got "${other}").`);
    if (!v.bind || v.bind === '0.0.0.0' || v.bind === '::') throw new UsageError('--stun-other-address needs --bind ADDR (the first address): bound to every address, answers could not come from a chosen one.');
    if (other === v.bind) throw new UsageError('--stun-other-address must differ from --bind: RFC 5780 tests need two addresses.');
  }
  const sipRateLimit = v['sip-rate-limit'];
  if (sipRateLimit !== undefined && (!/^\d+$/.test(sipRateLimit) || Number(sipRateLimit) > 1_000_000)) {
    throw new UsageError(`--sip-rate-limit must be a whole number of requests a second from 0 (no limit) to 1000000, such as 200 (got "${sipRateLimit}").`);
  }
  let requestLimits: RequestLimitsConfig | undefined;
  if (v['sip-method-limits'] !== undefined) {
    try {
      requestLimits = parseRequestLimits(v['sip-method-limits']);
    } catch (error) {
      throw new UsageError(`--sip-method-limits: ${(error as Error).message}, such as invite=20/50,message=150 or off.`);
    }
  }
  const perAddress = v['tcp-per-address'];
  if (perAddress !== undefined && (!/^\d+$/.test(perAddress) || Number(perAddress) < 1 || Number(perAddress) > 100_000)) {
    throw new UsageError(`--tcp-per-address must be a whole number from 1 to 100000, such as 64 (got "${perAddress}").`);
  }
  const idleSeconds = v['tcp-idle-seconds'];
  if (idleSeconds !== undefined && (!/^\d+$/.test(idleSeconds) || Number(idleSeconds) < 1 || Number(idleSeconds) > 86_400)) {
    throw new UsageError(`--tcp-idle-seconds must be a whole number from 1 to 86400, such as 120 (got "${idleSeconds}").`);
  }
  const senderLimitText = v['message-sender-limit'];
  const senderMatch = senderLimitText === undefined ? undefined : /^(\d{1,6})(?:\/(\d{1,6}))?$/.exec(senderLimitText);
  if (senderLimitText !== undefined && (!senderMatch || (Number(senderMatch[1]) > 0 && senderMatch[2] !== undefined && Number(senderMatch[2]) < 1))) {
    throw new UsageError(`--message-sender-limit must be RATE or RATE/BURST in whole messages, such as 2/30, or 0 for no limit (got "${senderLimitText}").`);
  }
  const messageSenderLimit = !senderMatch ? undefined : Number(senderMatch[1]) === 0 ? null : { perSecond: Number(senderMatch[1]), burst: Number(senderMatch[2] ?? Math.max(1, 15 * Number(senderMatch[1]))) };
  const maxClients = v['max-clients'];
  if (maxClients !== undefined && (!/^\d+$/.test(maxClients) || Number(maxClients) > 1_000_000)) {
    throw new UsageError(`--max-clients must be a whole number from 0 to 1000000, such as 2000 (got "${maxClients}").`);
  }
  const refresh = v['refresh-seconds'];
  if (refresh !== undefined && (!/^\d+$/.test(refresh) || Number(refresh) < 5 || Number(refresh) > 86_400)) {
    throw new UsageError(`--refresh-seconds must be a whole number from 5 to 86400 (got "${refresh}").`);
  }
  const replicas = v.replicas;
  if (replicas !== undefined && (!/^\d+$/.test(replicas) || Number(replicas) < 1 || Number(replicas) > 16)) {
    throw new UsageError(`--replicas must be a whole number from 1 to 16 (got "${replicas}").`);
  }
  if (v.dht !== undefined && v.dht !== 'on' && v.dht !== 'off') throw new UsageError(`--dht must be on or off (got "${v.dht}").`);
  for (const b of v['dht-bootstrap'] ?? []) if (!isHostPort(b)) throw new UsageError(`--dht-bootstrap must be HOST:PORT, such as 192.0.2.10:6881 (got "${b}").`);
  if (v['dht-bootstrap']?.length && v.dht !== 'on') throw new UsageError('--dht-bootstrap goes with --dht on.');
  if (v.location !== undefined && !['ring', 'dht', 'both'].includes(v.location)) throw new UsageError(`--location must be ring, dht or both (got "${v.location}").`);
  if (v.location === 'dht' && v.dht !== 'on') throw new UsageError('--location dht keeps bindings in the BitTorrent DHT: add --dht on.');
  if (v.play === '') throw new UsageError('--play needs a WAV file.');
  if (v.record === '') throw new UsageError('--record needs a WAV file to write.');
  const codecs = v.codecs === undefined ? undefined : parseCodecList(v.codecs);
  if (v['key-passphrase-file'] === '') throw new UsageError('--key-passphrase-file needs the file that holds the passphrase.');
  let rtpPorts: [number, number] | undefined;
  if (v['rtp-ports'] !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(v['rtp-ports']);
    const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (!m || lo < 1024 || hi > 65535 || hi - lo < 3) {
      throw new UsageError(`--rtp-ports must be a range LOW-HIGH within 1024-65535 with room for two calls, such as 20000-20999 (got "${v['rtp-ports']}").`);
    }
    rtpPorts = [lo, hi];
  }
  const memberUptime = v['member-uptime'];
  if (memberUptime !== undefined && (!/^\d+$/.test(memberUptime) || Number(memberUptime) > 86_400)) {
    throw new UsageError(`--member-uptime must be a whole number of seconds from 0 to 86400, such as 60 (got "${memberUptime}").`);
  }
  if (v['port-mapping'] && v['no-port-mapping']) throw new UsageError('--port-mapping and --no-port-mapping say opposite things: give one.');
  if (v.rescue && v['no-rescue']) throw new UsageError('--rescue and --no-rescue say opposite things: give one.');
  const rescue: { enabled?: boolean; donateMbit?: number; donateGbPerDay?: number; cacheMb?: number } = {};
  if (v.rescue) rescue.enabled = true;
  if (v['no-rescue']) rescue.enabled = false;
  const donation = [
    ['donate-mbit', 'donateMbit', 0.1, 10_000, '--donate-mbit 10'],
    ['donate-gb-per-day', 'donateGbPerDay', 0.1, 100_000, '--donate-gb-per-day 20'],
    ['cache-mb', 'cacheMb', 10, 1_000_000, '--cache-mb 500'],
  ] as const;
  for (const [flag, field, lo, hi, example] of donation) {
    const raw = v[flag];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || n < lo || n > hi) throw new UsageError(`--${flag} must be a number from ${lo} to ${hi}, such as ${example} (got "${raw}").`);
    rescue[field] = n;
  }
  if (v.relay && v['no-relay']) throw new UsageError('--relay and --no-relay say opposite things: give one.');
  const relay: { enabled?: boolean; maxMbit?: number; maxGbPerDay?: number } = {};
  if (v.relay) relay.enabled = true;
  if (v['no-relay']) relay.enabled = false;
  for (const [flag, field, example] of [['relay-mbit', 'maxMbit', '--relay-mbit 20'], ['relay-gb-per-day', 'maxGbPerDay', '--relay-gb-per-day 10']] as const) {
    const raw = v[flag];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || n < 0.1 || n > (field === 'maxMbit' ? 10_000 : 100_000)) throw new UsageError(`--${flag} must be a number from 0.1 to ${field === 'maxMbit' ? 10_000 : 100_000}, such as ${example} (got "${raw}").`);
    relay[field] = n;
  }
  let turn: TurnServerUrl | undefined;
  if (v.turn !== undefined) {
    const parsed = parseTurnUrl(v.turn);
    if ('error' in parsed) throw new UsageError(`--turn: ${parsed.error}.`);
    turn = parsed;
  }
  if (v['rescue-url'] !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(v['rescue-url'])) {
    throw new UsageError(`--rescue-url must be http://HOST:PORT, the address users can reach this node's rescue server at (got "${v['rescue-url']}").`);
  }
  return {
    rescue: Object.keys(rescue).length ? rescue : undefined,
    rescuePort: port(v['rescue-port'], '--rescue-port'),
    rescueHttpsPort: port(v['rescue-https-port'], '--rescue-https-port'),
    rescueUrl: v['rescue-url'],
    relay: Object.keys(relay).length ? relay : undefined,
    relayPort: port(v['relay-port'], '--relay-port'),
    turn,
    autoAnswer: v['auto-answer'] ?? false,
    mdns: !v['no-mdns'],
    multicastRegister: !v['no-multicast-register'],
    dht: v.dht === undefined ? undefined : v.dht === 'on',
    dhtBootstrap: v['dht-bootstrap'],
    dhtPort: port(v['dht-port'], '--dht-port'),
    location: v.location as LocationMode | undefined,
    playFile: v.play === undefined ? undefined : path.resolve(v.play),
    recordFile: v.record === undefined ? undefined : path.resolve(v.record),
    codecs,
    keyPassphraseFile: v['key-passphrase-file'] === undefined ? undefined : path.resolve(v['key-passphrase-file']),
    rtpPorts,
    replicas: replicas === undefined ? undefined : Number(replicas),
    help: v.help ?? false,
    dataDir: dataDir(v['data-dir'], defaultDataDir()),
    sipPort: port(v['sip-port'], '--sip-port', { anyFree: true }),
    tlsPort: port(v['tls-port'], '--tls-port', { anyFree: true }),
    uiPort: port(v['ui-port'], '--ui-port'),
    bind: v.bind,
    user: v.user === undefined ? undefined : { userName: v.user, displayName: v['display-name'] },
    overlay: v.overlay,
    bootstrap: v.bootstrap ?? [],
    role,
    portMapping: v['port-mapping'] ? true : v['no-port-mapping'] ? false : undefined,
    memberUptimeSeconds: memberUptime === undefined ? undefined : Number(memberUptime),
    stunOtherAddress: other,
    maxClients: maxClients === undefined ? undefined : Number(maxClients),
    sipRateLimit: sipRateLimit === undefined ? undefined : Number(sipRateLimit),
    requestLimits,
    maxConnectionsPerAddress: perAddress === undefined ? undefined : Number(perAddress),
    connectionIdleMs: idleSeconds === undefined ? undefined : Number(idleSeconds) * 1000,
    messageSenderLimit,
    farm: v.farm ? true : v['no-farm'] ? false : undefined,
    refreshMs: refresh === undefined ? undefined : Number(refresh) * 1000,
  };
}

export async function nodeMain(args: string[]): Promise<number> {
  const flags = parseNodeFlags(args);
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let keyPassphrase: string | undefined;
  if (flags.keyPassphraseFile) {
    try {
      keyPassphrase = readPassphrase(await readFile(flags.keyPassphraseFile, 'utf8'));
    } catch (error) {
      process.stderr.write(`peerdial: ${(error as Error).message.startsWith('--key') ? (error as Error).message : `cannot read --key-passphrase-file ${flags.keyPassphraseFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`}\n`);
      return 2;
    }
  }
  let engine: Engine;
  try {
    engine = await Engine.start({
      keyProtector: keyPassphrase === undefined ? undefined : { kind: 'passphrase', secret: keyPassphrase },
      dataDir: flags.dataDir,
      sipPort: flags.sipPort,
      tlsPort: flags.tlsPort,
      uiPort: flags.uiPort,
      bind: flags.bind,
      user: flags.user,
      overlay: flags.overlay,
      bootstrap: flags.bootstrap,
      role: flags.role,
      portMapping: flags.portMapping,
      memberUptimeSeconds: flags.memberUptimeSeconds,
      stunOtherAddress: flags.stunOtherAddress,
      maxClients: flags.maxClients,
      sipRateLimit: flags.sipRateLimit,
      requestLimits: flags.requestLimits,
      maxConnectionsPerAddress: flags.maxConnectionsPerAddress,
      connectionIdleMs: flags.connectionIdleMs,
      messageSenderLimit: flags.messageSenderLimit,
      farm: flags.farm,
      registrationRefreshMs: flags.refreshMs,
      overlayConfig: { ...chordTuningFromEnv(), ...(flags.replicas ? { replicas: flags.replicas } : {}) },
      serveUi: true,
      autoAnswer: flags.autoAnswer,
      playFile: flags.playFile,
      recordFile: flags.recordFile,
      codecs: flags.codecs,
      rtpPorts: flags.rtpPorts,
      mdns: flags.mdns,
      dht: flags.dht,
      dhtBootstrap: flags.dhtBootstrap,
      dhtPort: flags.dhtPort,
      location: flags.location,
      multicastRegister: flags.multicastRegister,
      rescue: flags.rescue,
      rescuePort: flags.rescuePort,
      rescueHttpsPort: flags.rescueHttpsPort,
      rescueUrl: flags.rescueUrl,
      relay: flags.relay,
      relayPort: flags.relayPort,
      turn: flags.turn,
    });
  } catch (error) {
    process.stderr.write(`peerdial: ${startFailure(error, flags)}\n`);
    return 1;
  }
  // Handlers go in before the ready lines, so a signal right after them still stops cleanly;
  // services stop in reverse order within 2 s, whatever one of them does.
  const stopped = stopOnSignals(() => engine.stop(), 2_000);
  const status = engine.status();
  process.stdout.write(
    [
      'peerdial node is ready',
      `ui: ${engine.uiUrl}`,
      engine.sipContact
        ? `sip: ${engine.sipContact}`
        : `sip: listening on ${status.sipAddress}:${status.sipPort} (no identity yet: open the UI to create one, or pass --user NAME)`,
      `sip over tls: ${status.sipAddress}:${status.sipTlsPort}, certificate sha-256 ${status.tls.certificate}`,
      `overlay: ${engine.overlay.overlay} as ${engine.overlay.role}, node ${engine.overlay.self?.id}`,
      ...(engine.overlay.ownAor() ? [`aor: ${engine.overlay.ownAor()}`] : []),
      ...(engine.rescue.httpUrl && engine.rescue.view().settings.enabled ? [`rescue: ${engine.rescue.httpUrl}`] : []),
      ...(engine.rescue.view().settings.enabled && engine.rescue.view().nodeKey ? [`rescue key: ${engine.rescue.view().nodeKey}`] : []),
      '',
    ].join('\n'),
  );
  // The DHT boots in the background (its lookups take seconds): its line comes when it is ready.
  const printDht = () => {
    const view = engine.dht.view();
    if (view.state === 'ready' && view.endpoint) {
      process.stdout.write(`dht: ${view.endpoint}\n`);
      return true;
    }
    return view.state === 'failed' || !view.enabled;
  };
  if (!printDht()) {
    const unsubscribe = engine.api.subscribe(undefined, (item) => {
      if ('type' in item && item.type === 'dht.changed' && printDht()) unsubscribe();
    });
  }
  await stopped;
  return 0;
}

/**
 * PEERDIAL_CHORD='{"stabilizeMs":300,...}' overrides the Chord timings (ChordConfig): for tests
 * and benchmarks that cannot wait for the defaults. A bad value is ignored with a warning.
 */
function chordTuningFromEnv(): Partial<ChordConfig> | undefined {
  const raw = process.env.PEERDIAL_CHORD;
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as Record<string, unknown>;
    // ringCheckMs has no fixed default (30 stabilize periods) but is tuned like the rest. A
    // difficulty may be 0 (no work: tests of many nodes); every timing must be positive.
    const known = (k: string) => k in DEFAULT_CHORD_CONFIG || k === 'ringCheckMs';
    const valid = (k: string, v: unknown) => known(k) && typeof v === 'number' && (/Difficulty$/.test(k) ? Number.isInteger(v) && v >= 0 && v <= MAX_DIFFICULTY : v > 0);
    const ignored = Object.entries(parsed).filter(([k, v]) => !valid(k, v));
    if (ignored.length) process.stderr.write(`peerdial: PEERDIAL_CHORD: ignored ${ignored.map(([k]) => k).join(', ')} (not an overlay setting, or out of its range).\n`);
    return Object.fromEntries(Object.entries(parsed).filter(([k, v]) => valid(k, v))) as Partial<ChordConfig>;
  } catch {
    process.stderr.write('peerdial: PEERDIAL_CHORD is not JSON; using the default overlay timings.\n');
    return undefined;
  }
}

/** The passphrase is the file's first line; a file of one short line says what is wrong. */
function readPassphrase(content: string): string {
  const passphrase = content.split(/\r?\n/)[0];
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) throw new Error(`--key-passphrase-file: the passphrase (the file's first line) must be at least ${MIN_PASSPHRASE_LENGTH} characters.`);
  return passphrase;
}

function startFailure(error: unknown, flags: { sipPort?: number; uiPort?: number; bind?: string; dataDir: string }): string {
  const e = error as NodeJS.ErrnoException & { code?: string };
  if (e.code === 'PORT_IN_USE' && /^Rescue HTTPS/.test(e.message)) return `${e.message}: pick another with --rescue-https-port N, or leave it out to use any free port.`;
  if (e.code === 'PORT_IN_USE' && /^Rescue/.test(e.message)) return `${e.message}: pick another with --rescue-port N, or leave it out to use any free port.`;
  if (e.code === 'PORT_IN_USE' && /^UI/.test(e.message)) return `${e.message}: pick another with --ui-port N, or leave it out to use any free port.`;
  if (e.code === 'PORT_IN_USE' && /^SIP over TLS/.test(e.message)) return `${e.message}: pick another with --tls-port N, or leave it out to use any free port.`;
  if (e.code === 'PORT_IN_USE') return `${e.message}: pick another with --sip-port N, or leave it out to use any free port.`;
  if (e.code === 'EADDRNOTAVAIL') return `--bind ${flags.bind} is not an address of this machine: use one it has, or 0.0.0.0.`;
  if (e.code === 'EACCES' || e.code === 'EPERM') return `cannot use ${flags.dataDir} or a port below 1024 (${e.message}): pick another --data-dir or port.`;
  if (e.code === 'IDENTITY_LOCKED') return e.message;
  if (e.code === 'DATA_DIR_LOCKED') return e.message.charAt(0).toUpperCase() + e.message.slice(1);
  if ((e as { name?: string }).name === 'UserError') return `${e.message} (check --user)`;
  if (e.message?.includes('WAV') || e.message?.startsWith('cannot read the WAV')) return `${e.message} (check --play)`;
  if (e.code === 'ENOENT' || e.code === 'EISDIR') return `cannot write ${e.path ?? 'the file'} (${e.code}): check --record.`;
  if (e.code === 'SQLITE_CANTOPEN' || e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') return `cannot open the database in ${flags.dataDir} (${e.message}): is --data-dir right?`;
  return `could not start: ${e.message ?? String(error)}`;
}
