// The three ways to ask a home router for a port: PCP (RFC 6887, written here: no npm library
// speaks it), NAT-PMP (RFC 6886) and UPnP IGD, both through @silentbot1/nat-api's clients.
// Why that library: on miniupnpd in the NAT lab, it and @achingbrain/nat-port-mapper both map
// over UPnP and NAT-PMP (UPnP 140 ms against 170 ms, NAT-PMP about 20 ms each), but
// @achingbrain/nat-port-mapper speaks only IGD v2 (AddAnyPortMapping, which most home routers,
// IGD v1, lack) and deletes with an empty protocol, which left the mapping on miniupnpd. We use
// nat-api's protocol clients, not its NatAPI wrapper, which reports only true or false and
// renews by itself.
import { randomBytes } from 'node:crypto';
import NatPmpClient from '@silentbot1/nat-api/lib/pmp/index.js';
import UpnpClient from '@silentbot1/nat-api/lib/upnp/index.js';
import { encodeMapRequest, parseMapResponse, PCP_PORT } from '../../wire/pcp/message.js';
import { withDeadline } from '../../proto/sip/timers.js';
import { realTimers } from '../../transport/clock.js';
import { UdpSocket } from '../../transport/udp-socket.js';

export type MappingProtocol = 'pcp' | 'nat-pmp' | 'upnp';

export interface MapAsk {
  transport: 'udp' | 'tcp';
  internalHost: string;
  internalPort: number;
  /** The external port we ask for (routers may give another). */
  externalPort: number;
  lifetimeS: number;
}

export interface Granted {
  externalAddress: string;
  externalPort: number;
  /** What the router granted; 0 means until it is deleted (some UPnP routers). */
  lifetimeS: number;
}

export interface RouterMapper {
  readonly protocol: MappingProtocol;
  /** Where the requests go: the gateway's address (PCP, NAT-PMP) or the IGD's (UPnP). */
  readonly gateway: string;
  /** What it maps: UDP always, TCP where deleting it again works. */
  readonly transports: readonly ('udp' | 'tcp')[];
  map(ask: MapAsk): Promise<Granted>;
  unmap(ask: MapAsk): Promise<void>;
  close(): Promise<void>;
}

/** PCP MAP (RFC 6887 11): the same nonce renews and deletes (lifetime 0). */
export class PcpMapper implements RouterMapper {
  readonly protocol = 'pcp';
  readonly transports = ['udp', 'tcp'] as const;
  private readonly nonces = new Map<string, Buffer>();
  private socket?: UdpSocket;
  private pending?: (bytes: Buffer) => void;

  constructor(
    readonly gateway: string,
    private readonly timeoutMs = 1_750,
  ) {}

  async map(ask: MapAsk): Promise<Granted> {
    const answer = await this.send(ask, ask.lifetimeS);
    return { externalAddress: answer.externalAddress, externalPort: answer.externalPort, lifetimeS: answer.lifetime };
  }

  async unmap(ask: MapAsk): Promise<void> {
    if (!this.nonces.has(key(ask))) return;
    await this.send(ask, 0);
    this.nonces.delete(key(ask));
  }

  async close(): Promise<void> {
    await this.socket?.close();
    this.socket = undefined;
  }

  private async send(ask: MapAsk, lifetime: number) {
    const nonce = this.nonces.get(key(ask)) ?? randomBytes(12);
    this.nonces.set(key(ask), nonce);
    this.socket ??= await UdpSocket.open({ bind: ask.internalHost, onMessage: (bytes, from) => from.address === this.gateway && this.pending?.(bytes) });
    const request = encodeMapRequest({ nonce, protocol: ask.transport, internalPort: ask.internalPort, suggestedPort: ask.externalPort, lifetime, clientAddress: ask.internalHost });
    const socket = this.socket;
    // RFC 6887 8.1.1 starts at 3 s; we resend sooner (0, 250, 750 ms) so a router without PCP
    // costs under two seconds before NAT-PMP and UPnP are tried.
    return await new Promise<Extract<ReturnType<typeof parseMapResponse>, { ok: true }>>((resolve, reject) => {
      const timers = [0, 250, 750].map((at) => setTimeout(() => socket.send(request, { address: this.gateway, port: PCP_PORT }), at));
      const done = (error?: Error, value?: Extract<ReturnType<typeof parseMapResponse>, { ok: true }>) => {
        timers.forEach(clearTimeout);
        clearTimeout(deadline);
        this.pending = undefined;
        if (error) reject(error);
        else resolve(value!);
      };
      const deadline = setTimeout(() => done(new Error(`no PCP answer from ${this.gateway}`)), this.timeoutMs);
      this.pending = (bytes) => {
        const answer = parseMapResponse(bytes);
        if (answer.ok) {
          if (answer.nonce.equals(nonce)) done(undefined, answer);
        } else if ('natPmpOnly' in answer) done(new Error(`${this.gateway} speaks NAT-PMP, not PCP`));
        else if ('resultName' in answer) done(new Error(`${this.gateway} refused: ${answer.resultName}`));
      };
    });
  }
}

/** NAT-PMP (RFC 6886) through nat-api's client. */
export class NatPmpMapper implements RouterMapper {
  readonly protocol = 'nat-pmp';
  readonly transports = ['udp', 'tcp'] as const;
  private client?: NatPmpClient;

  constructor(
    readonly gateway: string,
    private readonly timeoutMs = 2_000,
  ) {}

  async map(ask: MapAsk): Promise<Granted> {
    this.client ??= new NatPmpClient(this.gateway);
    const client = this.client;
    const granted = await withDeadline(client.portMapping({ type: ask.transport, private: ask.internalPort, public: ask.externalPort, ttl: ask.lifetimeS }), this.timeoutMs, realTimers, `no NAT-PMP answer from ${this.gateway}`);
    const external = await withDeadline(client.externalIp(), this.timeoutMs, realTimers, `no NAT-PMP external address from ${this.gateway}`);
    return { externalAddress: external, externalPort: granted.public, lifetimeS: granted.ttl };
  }

  async unmap(ask: MapAsk): Promise<void> {
    if (!this.client) return;
    await withDeadline(this.client.portUnmapping({ type: ask.transport, private: ask.internalPort, public: ask.externalPort }), this.timeoutMs, realTimers, `no NAT-PMP answer from ${this.gateway}`);
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
  }
}

/** UPnP IGD (WANIPConnection 1 or 2, WANPPPConnection) through nat-api's client. */
export class UpnpMapper implements RouterMapper {
  readonly protocol = 'upnp';
  readonly transports = ['udp', 'tcp'] as const;
  gateway = '';

  private constructor(
    private readonly client: UpnpClient,
    private readonly timeoutMs: number,
  ) {}

  /** Undefined when no Internet Gateway Device answers the SSDP search (nat-api waits 1.8 s). */
  static async find(timeoutMs = 3_000): Promise<UpnpMapper | undefined> {
    const client = new UpnpClient();
    try {
      const { gateway } = await withDeadline(client.findGateway(), timeoutMs, realTimers, 'no UPnP answer');
      const mapper = new UpnpMapper(client, timeoutMs);
      mapper.gateway = new URL(gateway.url).hostname;
      return mapper;
    } catch {
      await client.destroy().catch(() => undefined);
      return undefined;
    }
  }

  async map(ask: MapAsk): Promise<Granted> {
    await withDeadline(
      this.client.portMapping({ public: ask.externalPort, private: { host: ask.internalHost, port: ask.internalPort }, protocol: ask.transport, ttl: ask.lifetimeS, description: 'Peerdial SIP' }),
      this.timeoutMs,
      realTimers,
      `no UPnP answer from ${this.gateway}`,
    );
    const external = await withDeadline(this.client.externalIp(), this.timeoutMs, realTimers, `no UPnP external address from ${this.gateway}`);
    // AddPortMapping gives exactly the port asked for, or fails.
    return { externalAddress: external, externalPort: ask.externalPort, lifetimeS: ask.lifetimeS };
  }

  async unmap(ask: MapAsk): Promise<void> {
    await withDeadline(this.client.portUnmapping({ public: ask.externalPort, protocol: ask.transport }), this.timeoutMs, realTimers, `no UPnP answer from ${this.gateway}`);
  }

  async close(): Promise<void> {
    await this.client.destroy().catch(() => undefined);
  }
}


function key(ask: MapAsk): string {
  return `${ask.transport}/${ask.internalPort}`;
}
