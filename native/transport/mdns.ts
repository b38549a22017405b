// DNS-SD over mDNS (RFC 6763, RFC 6762) through bonjour-service: services this node publishes
// and services of the types it browses, as plain values. The socket (224.0.0.251:5353, shared
// with any other responder on the host through SO_REUSEADDR) lives inside the package.
import { Bonjour, type Browser, type Service } from 'bonjour-service';

export interface DnsSdAdvert {
  /** Service type without underscore or protocol: `sip` for _sip._udp. */
  type: string;
  protocol: 'udp' | 'tcp';
  /** Instance name, unique on the LAN. */
  name: string;
  /** Host name the SRV record points to, NAME.local: given explicitly, since the package would publish os.hostname() (the same in every network namespace, and without .local). */
  host: string;
  port: number;
  txt: Record<string, string>;
}

export interface DnsSdFound {
  type: string;
  protocol: 'udp' | 'tcp';
  name: string;
  host: string;
  port: number;
  /** The A records of its host. */
  addresses: string[];
  /** Where the answer came from: an address that is surely reachable from here. */
  source?: string;
  txt: Record<string, string>;
}

export interface DnsSdOptions {
  onUp(found: DnsSdFound): void;
  onDown(found: DnsSdFound): void;
  onError?(error: Error): void;
  /** Another responder holds an instance name: it is advertised under `to` instead (RFC 6762 9). */
  onRenamed?(from: string, to: string): void;
}

/** The part of multicast-dns (inside bonjour-service) the probe uses. */
interface MdnsSocket {
  query(name: string, type: string, callback?: () => void): void;
  on(event: 'response', listener: (packet: { answers: Array<{ name: string }>; additionals: Array<{ name: string }> }) => void): void;
  removeListener(event: 'response', listener: (packet: { answers: Array<{ name: string }>; additionals: Array<{ name: string }> }) => void): void;
}

/** RFC 6762 8.1: three probes 250 ms apart; an answer for the name in that time is a conflict. */
const PROBES = 3;
const PROBE_INTERVAL_MS = 250;
const MAX_RENAMES = 15;

export class DnsSd {
  private readonly bonjour: Bonjour;
  private published: Service[] = [];
  private readonly browsers: Browser[] = [];
  private closed = false;

  constructor(private readonly options: DnsSdOptions) {
    this.bonjour = new Bonjour({}, (error: Error) => options.onError?.(error));
  }

  /**
   * Publishes these services, replacing what was published before. Their instance name (one
   * for all of them) is probed first; a name another responder answers for is changed to
   * "NAME (2)", "NAME (3)"... and probed again (RFC 6762 9). Resolves with the name used.
   */
  async publish(adverts: DnsSdAdvert[]): Promise<string | undefined> {
    await this.unpublish();
    if (this.closed || !adverts.length) return undefined;
    const wanted = adverts[0].name;
    let name = wanted;
    for (let n = 2; await this.taken(adverts.map((a) => fqdn({ ...a, name }))); n++) {
      if (this.closed) return undefined;
      if (n > MAX_RENAMES + 1) throw new Error(`every mDNS name from "${wanted}" to "${name}" is taken on this network`);
      name = `${wanted} (${n})`;
    }
    if (this.closed) return undefined;
    if (name !== wanted) this.options.onRenamed?.(wanted, name);
    // Probed here already: bonjour-service's own probe would only print a stack trace on a conflict.
    this.published = adverts.map((a) =>
      this.bonjour.publish({ name, type: a.type, protocol: a.protocol, host: a.host, port: a.port, txt: a.txt, disableIPv6: true, probe: false }),
    );
    return name;
  }

  /** True when another responder answers for any of these names while they are probed. */
  private taken(names: string[]): Promise<boolean> {
    const mdns = (this.bonjour as unknown as { server: { mdns: MdnsSocket } }).server.mdns;
    const wanted = new Set(names.map((n) => n.toLowerCase()));
    return new Promise<boolean>((resolve) => {
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const onResponse = (packet: { answers: Array<{ name: string }>; additionals: Array<{ name: string }> }) => {
        if ([...packet.answers, ...packet.additionals].some((rr) => wanted.has(String(rr.name).toLowerCase()))) done(true);
      };
      const done = (conflict: boolean) => {
        clearTimeout(timer);
        mdns.removeListener('response', onResponse);
        resolve(conflict);
      };
      const probe = () => {
        if (this.closed) return done(false);
        if (sent++ === PROBES) return done(false);
        for (const name of wanted) mdns.query(name, 'ANY');
        timer = setTimeout(probe, PROBE_INTERVAL_MS);
      };
      mdns.on('response', onResponse);
      probe();
    });
  }

  /** Browses these types (e.g. [{type: 'sip', protocol: 'udp'}]) for as long as this runs. */
  browse(types: Array<{ type: string; protocol: 'udp' | 'tcp' }>): void {
    for (const t of types) {
      const browser = this.bonjour.find({ type: t.type, protocol: t.protocol });
      browser.on('up', (s) => this.options.onUp(foundOf(s)));
      browser.on('txt-update', (s) => this.options.onUp(foundOf(s)));
      browser.on('srv-update', (s) => this.options.onUp(foundOf(s)));
      browser.on('down', (s) => this.options.onDown(foundOf(s)));
      this.browsers.push(browser);
    }
  }

  /** Asks the LAN again (RFC 6762 5.2: continuous querying, with growing intervals chosen by the caller), and drops answers whose TTL ran out. */
  query(): void {
    for (const b of this.browsers) {
      b.expire();
      b.update();
    }
  }

  /** The services browsed now. */
  get found(): DnsSdFound[] {
    return this.browsers.flatMap((b) => b.services.map(foundOf));
  }

  /** Withdraws what was published: RFC 6762 10.1 goodbye packets (TTL 0). */
  private unpublish(): Promise<void> {
    const services = this.published;
    this.published = [];
    if (!services.length) return Promise.resolve();
    return Promise.all(services.map((s) => new Promise<void>((resolve) => s.stop(() => resolve())))).then(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const b of this.browsers) b.stop();
    await withDeadline(this.unpublish(), 1_000);
    this.closed = true;
    await withDeadline(new Promise<void>((resolve) => this.bonjour.destroy(() => resolve())), 1_000);
  }
}

function fqdn(a: DnsSdAdvert): string {
  return `${a.name}._${a.type}._${a.protocol}.local`;
}

function foundOf(s: Service): DnsSdFound {
  const txt: Record<string, string> = {};
  for (const [k, v] of Object.entries((s.txt ?? {}) as Record<string, unknown>)) if (typeof v === 'string') txt[k.toLowerCase()] = v;
  return {
    type: s.type,
    protocol: s.protocol,
    name: s.name,
    host: s.host,
    port: s.port,
    addresses: [...(s.addresses ?? [])],
    source: s.referer?.address,
    txt,
  };
}

function withDeadline(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
