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
}

export class DnsSd {
  private readonly bonjour: Bonjour;
  private published: Service[] = [];
  private readonly browsers: Browser[] = [];
  private closed = false;

  constructor(private readonly options: DnsSdOptions) {
    this.bonjour = new Bonjour({}, (error: Error) => options.onError?.(error));
  }

  /** Publishes these services (probing, then announcing them), replacing what was published before. */
  async publish(adverts: DnsSdAdvert[]): Promise<void> {
    await this.unpublish();
    if (this.closed) return;
    this.published = adverts.map((a) =>
      this.bonjour.publish({ name: a.name, type: a.type, protocol: a.protocol, host: a.host, port: a.port, txt: a.txt, disableIPv6: true }),
    );
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
