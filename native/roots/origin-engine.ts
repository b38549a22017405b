// The composition root of `peerdial origin` (DESIGN.md's fourth face): a SIP stack for DSRP,
// this origin's key (kept in its data dir), an overlay client to find rescue servers'
// advertisements, mDNS to find them on the LAN, and the origin service in front of the web
// server. It is apart from node-engine.ts because an origin has no user, calls or messages.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../log.js';
import { IdentityService } from '../services/identity/index.js';
import { OriginService, type RescuerCandidate, type TrustOptions } from '../services/origin/index.js';
import { OverlayService } from '../services/overlay/index.js';
import { advertisedAddress, SipStack } from '../services/sip/index.js';
import { Database } from '../storage/db.js';
import { IdentityRepository } from '../storage/repositories/identity-repository.js';
import { OverlayRepository } from '../storage/repositories/overlay-repository.js';
import { SettingsRepository } from '../storage/repositories/settings-repository.js';
import { realTimers } from '../transport/clock.js';
import { DnsSd, type DnsSdFound } from '../transport/mdns.js';
import { originIdOf } from '../wire/rescue/dsrp.js';
import { DEFAULT_OVERLAY } from './defaults.js';
import type { TsigKey } from '../wire/dns/update.js';

// The command line checks the DNS round robin flags with these.
export { inZone, isHostName, parseTsigKey, parseTsigKeyFile, type TsigKey } from '../wire/dns/update.js';

/** DNS round robin, from `--dns-update` and its flags. */
export interface OriginDnsFlags {
  server: { host: string; port: number };
  key: TsigKey;
  name: string;
  zone: string;
  ttl: number;
}

export interface OriginRunOptions {
  dataDir: string;
  upstream: string;
  listen: { host: string; port: number };
  statusListen: { host: string; port: number };
  capacityBytesPerSecond: number;
  band: { low: number; high: number };
  site?: string;
  overlay?: string;
  bootstrap: string[];
  rescuers: string[];
  sipPort?: number;
  bind?: string;
  mdns: boolean;
  log?: Logger;
  dns?: OriginDnsFlags;
  /** Trusted rescue: pinned rescuers, the CA, marked API paths (services/origin/origin-trust.ts). */
  trust?: TrustOptions;
  /** HTTPS for the site's users. */
  tls?: { listen: { host: string; port: number }; certPem: string; keyPem: string };
}

export class Origin {
  private constructor(
    readonly service: OriginService,
    readonly sip: SipStack,
    private readonly stopAll: () => Promise<void>,
  ) {}

  static async start(options: OriginRunOptions): Promise<Origin> {
    const log = options.log ?? createLogger('origin');
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const db = await Database.open(path.join(options.dataDir, 'peerdial-origin.sqlite3'));
    const stops: Array<() => Promise<void>> = [() => db.close()];
    const stopAll = async () => {
      for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
    };
    try {
      const repository = new OverlayRepository(db);
      const { publicKey, privateKey } = await repository.nodeKey();
      const raw = publicKey.subarray(publicKey.length - 32);
      const bind = options.bind ?? '0.0.0.0';
      const sip = new SipStack({ bind, port: options.sipPort, advertisedHost: advertisedAddress(bind), timers: realTimers, log: log.child('sip') });
      await sip.start();
      stops.push(() => sip.stop());

      let overlay: OverlayService | undefined;
      if (options.bootstrap.length) {
        overlay = new OverlayService({
          stack: sip,
          identity: new IdentityService(new IdentityRepository(db)),
          repository,
          settings: new SettingsRepository(db),
          overlay: options.overlay ?? DEFAULT_OVERLAY,
          bootstrap: options.bootstrap,
          role: 'client',
          timers: realTimers,
          log: log.child('overlay'),
          onChange: () => undefined,
        });
        await overlay.start();
        const started = overlay;
        stops.push(() => started.stop());
      }

      // Rescue servers on this LAN say so in their _peerdial._udp TXT record (rescue=URL).
      const lan = new Map<string, RescuerCandidate>();
      if (options.mdns) {
        const dnssd = new DnsSd({
          onUp: (found) => {
            const candidate = lanCandidate(found);
            if (candidate) lan.set(found.name, candidate);
            else lan.delete(found.name);
          },
          onDown: (found) => lan.delete(found.name),
          onError: (error) => log.debug('mDNS error', { error: error.message }),
        });
        dnssd.browse([{ type: 'peerdial', protocol: 'udp' }]);
        stops.push(() => dnssd.close());
      }

      const service = new OriginService({
        upstream: options.upstream,
        listen: options.listen,
        statusListen: options.statusListen,
        site: options.site,
        advertisedHost: advertisedAddress(options.listen.host === '0.0.0.0' ? bind : options.listen.host),
        capacityBytesPerSecond: options.capacityBytesPerSecond,
        band: options.band,
        stack: sip,
        overlay,
        rescuers: options.rescuers,
        lanCandidates: () => [...lan.values()],
        key: { raw, privateKey },
        originId: originIdOf(raw),
        timers: realTimers,
        // Addresses this origin put in the zone are kept beside its key: a crash's leftovers go at the next start.
        ...(options.dns ? { dns: { ...options.dns, statePath: path.join(options.dataDir, 'dns-round-robin.json') } } : {}),
        ...(options.trust ? { trust: options.trust } : {}),
        ...(options.tls ? { tls: options.tls } : {}),
        // The site owner's log (state changes, rescuers, redirect probability) shows by default.
        log: options.log?.child('control') ?? createLogger('origin:control', process.env.PEERDIAL_LOG ? undefined : 'info'),
      });
      await service.start();
      stops.push(() => service.stop());
      return new Origin(service, sip, stopAll);
    } catch (error) {
      await stopAll();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.stopAll();
  }
}

function lanCandidate(found: DnsSdFound): RescuerCandidate | undefined {
  const url = found.txt.rescue;
  const address = found.source ?? found.addresses[0];
  if (!url || !address) return undefined;
  return { sip: `sip:rescue@${address.includes(':') ? `[${address}]` : address}:${found.port}`, url, via: 'mdns' };
}
