// DNS round robin, DotSlash's first way to move load: while rescue servers help, the origin adds
// their addresses to the site's own name in its zone by RFC 2136 dynamic updates signed with
// TSIG (RFC 8945), with a short TTL, so resolvers spread new users over the origin and its
// rescuers before any request reaches the origin; it deletes them when they stop helping. The
// records of the name it did not add (the site's own address) are never touched: each add and
// delete names one address.
//
// Only a rescuer whose HTTP address is an IP address, on the site's own port, can be named:
// a user who looks the name up connects to ADDRESS:SITE-PORT. Any update that fails (a refused
// key, no answer) leaves the load to HTTP redirects, which run all along, and says so on the
// status page; it is tried again every `retryMs`.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { TsigKey } from '../../wire/dns/update.js';
import { sendDnsUpdate, type DnsServer, type UpdateOutcome } from '../../transport/dns-update.js';
import type { DnsRoundRobinView } from '../rescue/index.js';

export interface DnsRoundRobinOptions {
  server: DnsServer;
  key: TsigKey;
  zone: string;
  /** The site's host name the rescuers' addresses are added to. */
  name: string;
  ttl: number;
  /** The port users reach the site on: a rescuer serving on another cannot be named. */
  sitePort(): number;
  /** Where the addresses in the zone are kept, so a crash's leftovers are deleted at the next start. */
  statePath?: string;
  timers: TimerHost;
  log: Logger;
  onEvent(text: string): void;
  now(): number;
  retryMs?: number;
  /** The update's transport (a test may give its own). */
  send?(server: DnsServer, key: TsigKey, request: { zone: string; add: Array<{ name: string; address: string; ttl: number }>; remove: Array<{ name: string; address: string; ttl: number }> }): Promise<UpdateOutcome>;
}

export class DnsRoundRobin {
  /** Addresses this origin has in the zone now. */
  private readonly published = new Set<string>();
  /** Addresses that should be there: the eligible active rescuers'. */
  private wanted = new Set<string>();
  /** Rescuer URL -> why it cannot be named (told once). */
  private readonly ineligible = new Map<string, string>();
  private state: DnsRoundRobinView['state'] = 'checking';
  private lastError?: string;
  private lastSuccess?: number;
  private readonly counters = { updates: 0, failures: 0 };
  private running?: Promise<void>;
  private again = false;
  private retryTimer?: TimerHandle;
  private stopped = false;

  constructor(private readonly options: DnsRoundRobinOptions) {}

  get name(): string {
    return this.options.name;
  }
  /** Whether the zone takes our updates: false after a failure, until one succeeds. */
  get working(): boolean {
    return this.state === 'ready';
  }

  /** Checks the key with an empty update (zone section only), and deletes what a crash left in the zone. */
  async start(): Promise<void> {
    let leftover: string[] = [];
    if (this.options.statePath) {
      try {
        const kept = JSON.parse(await readFile(this.options.statePath, 'utf8')) as { name?: string; addresses?: unknown };
        if (kept.name === this.options.name && Array.isArray(kept.addresses)) leftover = kept.addresses.filter((a): a is string => typeof a === 'string' && isIP(a) !== 0);
      } catch {
        // none kept
      }
    }
    for (const address of leftover) this.published.add(address);
    await this.sync();
    if (this.state === 'ready') this.options.onEvent(`DNS round robin ready: rescuers will be added to ${this.options.name} (TTL ${this.options.ttl} s) at ${this.serverText}`);
  }

  /** Deletes every address this origin added (bounded by the transport's own timeouts). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) this.options.timers.clear(this.retryTimer);
    this.wanted = new Set();
    await this.running?.catch(() => undefined);
    if (this.published.size) await this.runSync();
  }

  /** The rescuers serving now (their http://HOST:PORT); the zone follows at once (resolves when this update is done). */
  setRescuers(httpUrls: string[]): Promise<void> {
    const wanted = new Set<string>();
    for (const url of httpUrls) {
      const address = this.addressOf(url);
      if (address) wanted.add(address);
    }
    if (sameSet(wanted, this.wanted) || this.stopped) return Promise.resolve();
    this.wanted = wanted;
    return this.sync();
  }

  view(): DnsRoundRobinView {
    return {
      name: this.options.name,
      zone: this.options.zone,
      server: this.serverText,
      ttl: this.options.ttl,
      state: this.state,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.lastSuccess !== undefined ? { lastSuccess: this.lastSuccess } : {}),
      addresses: [...this.published].sort(),
      updates: this.counters.updates,
      failures: this.counters.failures,
    };
  }

  private get serverText(): string {
    const h = this.options.server.host;
    return `${h.includes(':') ? `[${h}]` : h}:${this.options.server.port}`;
  }

  private addressOf(httpUrl: string): string | undefined {
    let why: string | undefined;
    let address: string | undefined;
    try {
      const u = new URL(httpUrl);
      const host = u.hostname.replace(/^\[|\]$/g, '');
      const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      if (!isIP(host)) why = 'its address is a name, not an IP address';
      else if (port !== this.options.sitePort()) why = `it serves on port ${port}, the site on ${this.options.sitePort()}`;
      else address = host;
    } catch {
      why = 'its URL cannot be read';
    }
    if (why && !this.ineligible.has(httpUrl)) {
      this.ineligible.set(httpUrl, why);
      this.options.onEvent(`rescuer ${httpUrl} is not added to ${this.options.name}: ${why} (redirects only)`);
    }
    return address;
  }

  /** One update at a time; a change while one runs is applied right after it. */
  private sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running);
    }
    this.running = this.runSync().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.sync();
      }
    });
    return this.running;
  }

  private async runSync(): Promise<void> {
    if (this.retryTimer) {
      this.options.timers.clear(this.retryTimer);
      this.retryTimer = undefined;
    }
    const add = [...this.wanted].filter((a) => !this.published.has(a));
    const remove = [...this.published].filter((a) => !this.wanted.has(a));
    const record = (address: string) => ({ name: this.options.name, address, ttl: this.options.ttl });
    const send = this.options.send ?? ((server, key, request) => sendDnsUpdate(server, key, request, { now: this.options.now }));
    // With nothing to change this is the key check: an update with an empty update section.
    const outcome = await send(this.options.server, this.options.key, { zone: this.options.zone, add: add.map(record), remove: remove.map(record) });
    this.counters.updates++;
    if (!outcome.ok) {
      this.counters.failures++;
      const was = this.state;
      this.state = 'failed';
      if (was !== 'failed' || outcome.reason !== this.lastError) {
        this.options.onEvent(`DNS update to ${this.serverText} failed: ${outcome.reason}; moving load by HTTP redirects only`);
      }
      this.lastError = outcome.reason;
      this.options.log.warn('DNS update failed', { server: this.serverText, zone: this.options.zone, reason: outcome.reason });
      if (!this.stopped) this.retryTimer = this.options.timers.set(this.options.retryMs ?? 10_000, () => void this.sync());
      return;
    }
    const recovered = this.state === 'failed';
    this.state = 'ready';
    this.lastError = undefined;
    this.lastSuccess = this.options.now();
    for (const a of add) this.published.add(a);
    for (const a of remove) this.published.delete(a);
    if (recovered) this.options.onEvent(`DNS updates to ${this.serverText} work again`);
    if (add.length) this.options.onEvent(`DNS: added ${add.join(', ')} to ${this.options.name} (TTL ${this.options.ttl} s)`);
    if (remove.length) this.options.onEvent(`DNS: removed ${remove.join(', ')} from ${this.options.name}`);
    await this.save();
  }

  private async save(): Promise<void> {
    const path = this.options.statePath;
    if (!path) return;
    try {
      await writeFile(`${path}.tmp`, JSON.stringify({ name: this.options.name, addresses: [...this.published] }) + '\n', { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    } catch (error) {
      this.options.log.warn('could not keep the DNS round robin state', { path, error: String(error) });
    }
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
