// "Ask my router to open a port": maps the SIP port (UDP and TCP) on the home router, by PCP,
// then NAT-PMP, then UPnP IGD, with a lease that is renewed at half its life and deleted on quit.
// What the router says is checked: an external address that is not an address, a port out of
// range, or an address other than the one members see (another NAT beyond the router) is
// reported, and such a mapping is not taken to make this node reachable.
import { isIPv4 } from 'node:net';
import type { Logger } from '../../log.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { CallPortMapping } from '../calls/index.js';
import type { PortMappingView } from './nat-view.js';
import { NatPmpMapper, PcpMapper, UpnpMapper, type MapAsk, type MappingProtocol, type RouterMapper } from './router-mappers.js';

export const DEFAULT_LEASE_S = 3600;
/** A call's media port is leased for 20 minutes and renewed at half that while the call lasts. */
export const CALL_PORT_LEASE_S = 1200;

export interface PortMapperOptions {
  timers: TimerHost;
  log: Logger;
  now?: () => number;
  /** The LAN's default gateway, where PCP and NAT-PMP requests go (undefined: none found). */
  gateway(): Promise<string | undefined>;
  /** The mappers to try, in order (tests give their own order). */
  mappers?: (gateway: string | undefined) => AsyncIterable<RouterMapper>;
  leaseS?: number;
  /** The setting is off from the start. */
  off?: boolean;
  onChange(): void;
}

interface Held {
  mapper: RouterMapper;
  asks: MapAsk[];
  externalAddress: string;
  externalPort: number;
  lifetimeS: number;
  since: number;
}

export class PortMapper {
  private readonly now: () => number;
  private held?: Held;
  private state: PortMappingView['state'] = 'waiting';
  private note?: string;
  private tried: string[] = [];
  private renewTimer?: TimerHandle;
  private running?: Promise<void>;
  /** One request to the router at a time: PCP and NAT-PMP mappers wait for one answer on one socket. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Calls' media ports mapped now, deleted with the SIP port's mapping at the latest. */
  private readonly callPorts = new Set<MapAsk>();
  readonly counters = { mapped: 0, renewed: 0, refused: 0, lies: 0, deleted: 0, callPortsMapped: 0, callPortsRefused: 0 };

  constructor(private readonly options: PortMapperOptions) {
    this.now = options.now ?? Date.now;
    if (options.off) this.state = 'off';
  }

  /** Maps `port` on the router for `internalHost` (once at a time; a second call waits for the first). */
  map(internalHost: string, port: number): Promise<void> {
    const run = async () => {
      await this.release();
      if (!isIPv4(internalHost)) {
        this.settle('unavailable', `a port mapping needs the IPv4 address the SIP socket is bound to (bound to ${internalHost})`);
        return;
      }
      this.settle('trying');
      this.tried = [];
      const lease = this.options.leaseS ?? DEFAULT_LEASE_S;
      const gateway = await this.options.gateway().catch(() => undefined);
      for await (const mapper of (this.options.mappers ?? defaultMappers)(gateway)) {
        const asks: MapAsk[] = (['udp', 'tcp'] as const).map((transport) => ({ transport, internalHost, internalPort: port, externalPort: port, lifetimeS: lease }));
        try {
          const granted = await mapper.map(asks[0]);
          const lie = checkGrant(granted.externalAddress, granted.externalPort);
          if (lie) {
            this.counters.lies++;
            this.options.log.warn('router answered a port mapping with nonsense', { protocol: mapper.protocol, gateway: mapper.gateway, lie });
            this.tried.push(`${name(mapper.protocol)}: ${lie}`);
            await mapper.unmap(asks[0]).catch(() => undefined);
            await mapper.close();
            continue;
          }
          // TCP on the same external port, as SIP over TCP uses the same number; best effort.
          asks[1].externalPort = granted.externalPort;
          const tcp = mapper.transports.includes('tcp') && (await mapper.map(asks[1]).then((g) => g.externalPort === granted.externalPort, () => false));
          this.held = { mapper, asks: tcp ? asks : [asks[0]], externalAddress: granted.externalAddress, externalPort: granted.externalPort, lifetimeS: granted.lifetimeS || lease, since: this.now() };
          this.counters.mapped++;
          this.options.log.info('port mapped on the router', { protocol: mapper.protocol, gateway: mapper.gateway, external: `${granted.externalAddress}:${granted.externalPort}`, lifetimeS: this.held.lifetimeS, tcp });
          this.armRenewal();
          this.settle('mapped');
          return;
        } catch (error) {
          this.counters.refused++;
          this.tried.push(`${name(mapper.protocol)}: ${(error as Error).message}`);
          await mapper.close();
        }
      }
      if (!this.tried.some((t) => t.startsWith('UPnP'))) this.tried.push('UPnP IGD: no router answered the search');
      if (!gateway) this.tried.unshift('PCP and NAT-PMP: no default gateway');
      this.settle('unavailable', `the router made no mapping (${this.tried.join('; ')})`);
    };
    const previous = this.running ?? Promise.resolve();
    const next = previous.then(run, run);
    this.running = next.finally(() => {
      if (this.running === next) this.running = undefined;
    });
    return next;
  }

  /** No mapping wanted (the setting is off, or no NAT): deletes any, says why. */
  async off(reason: 'off' | 'not-needed', note?: string): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.release();
    this.settle(reason, note);
  }

  /** Deletes the mapping from the router (on quit). */
  async stop(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.release();
  }

  /** True when a mapping for this internal address and port is held now. */
  holds(internalHost: string, port: number): boolean {
    const ask = this.held?.asks[0];
    return this.state === 'mapped' && ask?.internalHost === internalHost && ask.internalPort === port;
  }

  /**
   * Maps a call's media port (UDP, same internal host as the SIP port) on the router that maps
   * our SIP port, so a peer's packets reach the call unasked; undefined when there is no such
   * router or it refuses. The lease is renewed until release().
   */
  async mapCallPort(port: number): Promise<CallPortMapping | undefined> {
    const held = this.held;
    if (this.state !== 'mapped' || !held) return undefined;
    const ask: MapAsk = { transport: 'udp', internalHost: held.asks[0].internalHost, internalPort: port, externalPort: port, lifetimeS: CALL_PORT_LEASE_S };
    const granted = await this.exclusive(() => held.mapper.map(ask)).catch((error: Error) => {
      this.options.log.debug('the router refused a call port', { port, error: error.message });
      return undefined;
    });
    if (!granted || checkGrant(granted.externalAddress, granted.externalPort) || this.held !== held) {
      this.counters.callPortsRefused++;
      return undefined;
    }
    this.counters.callPortsMapped++;
    this.callPorts.add(ask);
    let renewal: TimerHandle | undefined;
    const renew = () => {
      renewal = this.options.timers.set((CALL_PORT_LEASE_S * 1000) / 2, () => {
        if (!this.callPorts.has(ask) || this.held !== held) return;
        void this.exclusive(() => held.mapper.map(ask)).then(renew, (error: Error) => this.options.log.debug('call port renewal failed', { port, error: error.message }));
      });
    };
    renew();
    return {
      address: granted.externalAddress,
      port: granted.externalPort,
      release: async () => {
        if (renewal) this.options.timers.clear(renewal);
        if (!this.callPorts.delete(ask) || this.held !== held) return;
        await this.exclusive(() => held.mapper.unmap(ask)).catch((error: Error) => this.options.log.debug('call port unmap failed', { port, error: error.message }));
      },
    };
  }

  private exclusive<T>(request: () => Promise<T>): Promise<T> {
    const next = this.queue.then(request, request);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The public address:port the router says reaches our SIP socket. */
  reaches(): { address: string; port: number } | undefined {
    return this.state === 'mapped' && this.held ? { address: this.held.externalAddress, port: this.held.externalPort } : undefined;
  }

  view(enabled: boolean): PortMappingView {
    const held = this.held;
    return {
      enabled,
      state: this.state,
      protocol: held?.mapper.protocol,
      gateway: held?.mapper.gateway,
      external: held && `${held.externalAddress}:${held.externalPort}`,
      transports: held?.asks.map((a) => a.transport),
      lifetimeS: held?.lifetimeS,
      expiresAt: held && held.since + held.lifetimeS * 1000,
      note: this.note,
      counters: { ...this.counters },
    };
  }

  private armRenewal(): void {
    const held = this.held!;
    this.renewTimer = this.options.timers.set((held.lifetimeS * 1000) / 2, () => {
      this.renewTimer = undefined;
      void this.renew(held);
    });
  }

  private async renew(held: Held): Promise<void> {
    if (this.held !== held) return;
    try {
      for (const ask of held.asks) {
        const granted = await this.exclusive(() => held.mapper.map(ask));
        if (ask.transport === 'udp' && (granted.externalPort !== held.externalPort || granted.externalAddress !== held.externalAddress)) {
          this.options.log.info('the router moved our mapping', { before: `${held.externalAddress}:${held.externalPort}`, now: `${granted.externalAddress}:${granted.externalPort}` });
          held.externalAddress = granted.externalAddress;
          held.externalPort = granted.externalPort;
        }
      }
      held.since = this.now();
      this.counters.renewed++;
      this.armRenewal();
      this.settle('mapped');
    } catch (error) {
      this.options.log.warn('port mapping renewal failed; mapping again', { error: (error as Error).message });
      await this.map(held.asks[0].internalHost, held.asks[0].internalPort);
    }
  }

  private async release(): Promise<void> {
    if (this.renewTimer) this.options.timers.clear(this.renewTimer);
    this.renewTimer = undefined;
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    const asks = [...held.asks, ...this.callPorts];
    this.callPorts.clear();
    for (const ask of asks) await this.exclusive(() => held.mapper.unmap(ask)).catch((error) => this.options.log.debug('unmap failed', { error: String(error) }));
    this.counters.deleted++;
    this.options.log.info('port mapping deleted', { protocol: held.mapper.protocol, external: `${held.externalAddress}:${held.externalPort}` });
    await held.mapper.close();
  }

  private settle(state: PortMappingView['state'], note?: string): void {
    this.state = state;
    this.note = note;
    this.options.onChange();
  }
}

/** PCP first (the newest, and what carrier-grade NATs speak), then NAT-PMP, then UPnP IGD. */
async function* defaultMappers(gateway: string | undefined): AsyncIterable<RouterMapper> {
  if (gateway) {
    yield new PcpMapper(gateway);
    yield new NatPmpMapper(gateway);
  }
  const upnp = await UpnpMapper.find().catch(() => undefined);
  if (upnp) yield upnp;
}

/** What makes a granted mapping nonsense (a router that lies), or undefined. */
function checkGrant(address: string, port: number): string | undefined {
  if (!isIPv4(address) || address === '0.0.0.0') return `external address "${address}" is not an IPv4 address`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `external port ${port} is out of range`;
  return undefined;
}

function name(protocol: MappingProtocol): string {
  return protocol === 'pcp' ? 'PCP' : protocol === 'nat-pmp' ? 'NAT-PMP' : 'UPnP IGD';
}
