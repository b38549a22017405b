// The member's TURN server on real sockets: the sans-IO core (proto/nat/turn-server.ts) given a
// UDP listener and a TCP listener on one port (RFC 8656 3.1: clients may reach the server over
// TCP; what is relayed to peers is still UDP), and one UDP relay socket per allocation.
// Credentials are the member's time-limited relay credentials (proto/nat/relay-credentials.ts).
import { randomInt } from 'node:crypto';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from '../../log.js';
import { passwordFor } from '../../proto/nat/relay-credentials.js';
import {
  MAX_LIFETIME_S,
  TurnServer,
  type ClientPath,
  type RelayPortGrant,
  type RelayPortRequest,
  type TurnPolicy,
  type TurnServerHost,
  type TurnStats,
} from '../../proto/nat/turn-server.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { now as wallClock, realTimers } from '../../transport/clock.js';
import { listenTcp, type TcpConnection, type TcpListener } from '../../transport/tcp-stream.js';
import { UdpSocket, type UdpEndpoint } from '../../transport/udp-socket.js';
import { stunLengthOnStream } from '../../wire/stun/message.js';
import { channelDataLengthOnStream } from '../../wire/stun/turn.js';

export interface TurnRelayServerOptions {
  /** Where the UDP and TCP listeners bind, on one port. */
  address: string;
  /** 0 or absent: a free port that both UDP and TCP can bind. */
  port?: number;
  /** Where relay sockets bind; it is also the XOR-RELAYED-ADDRESS clients are given. Default: `address`. */
  relayAddress?: string;
  /** Relay ports come from this range (inclusive). Default 49152-65535. */
  relayPorts?: { min: number; max: number };
  realm: string;
  /** The member secret relay credentials are derived with. */
  secret?: string | Buffer;
  /** Another password lookup (tried first): a fixed test user, say. */
  password?(username: string, nowMs: number): string | undefined;
  policy?: Partial<TurnPolicy>;
  maxLifetimeSeconds?: number;
  nonceLifetimeSeconds?: number;
  software?: string;
  /** Accept TCP clients too (default true). */
  tcp?: boolean;
  log?: Logger;
  timers?: TimerHost;
  now?: () => number;
}

export interface TurnRelayStats extends TurnStats {
  address: string;
  port: number;
  relayPortsOpen: number;
  tcpConnections: number;
  /** Data for a TCP client dropped because its connection was not draining. */
  tcpBacklogDrops: number;
  /** TCP connections closed as they came: their address already held its share. */
  tcpRefused?: number;
  /** The kernel receive buffer the UDP listener got (bytes, as the kernel reports it). */
  listenerReceiveBufferBytes?: number;
}

/** A TCP client that stops reading gets no more than this queued; media past it is dropped. */
const MAX_TCP_BACKLOG_BYTES = 256 * 1024;
const LISTENER_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** A TCP client must complete a message this soon, and then never be silent longer than an allocation lives. */
const FIRST_MESSAGE_MS = 30_000;
/** TCP clients one address may hold at once (issue 21: 1,000 idle connections from one address filled a listener). */
const TCP_CONNECTIONS_PER_ADDRESS = 64;
const IDLE_GRACE_MS = 60_000;
/** How many ports a relay bind tries before the Allocate gets 508. */
const BIND_ATTEMPTS = 200;

interface RelaySocket {
  socket: UdpSocket;
  /** Whose datagrams these are: set when the port is claimed. */
  owner: { allocationId: string };
}

export class TurnRelayServer {
  private core?: TurnServer;
  private udp?: UdpSocket;
  private tcpServer?: TcpListener;
  private readonly connections = new Map<string, TcpConnection>();
  private readonly relays = new Map<string, RelaySocket>();
  /** Ports held for an EVEN-PORT R allocation, by port. */
  private readonly reserved = new Map<number, RelaySocket>();
  private readonly portsInUse = new Set<number>();
  private nextConnection = 1;
  private tcpBacklogDrops = 0;
  private tcpRefused = 0;
  private stopped = true;
  private options?: TurnRelayServerOptions;
  private listening: UdpEndpoint = { address: '', port: 0 };

  get address(): UdpEndpoint {
    return { ...this.listening };
  }

  async start(options: TurnRelayServerOptions): Promise<UdpEndpoint> {
    if (!this.stopped) throw new Error('the TURN server is already running');
    const relayAddress = options.relayAddress ?? options.address;
    if (!isIP(relayAddress) || relayAddress === '0.0.0.0' || relayAddress === '::') {
      throw new RangeError(`the relay address must be one clients can be given, not ${relayAddress}: set relayAddress`);
    }
    this.options = options;
    this.stopped = false;
    const timers = options.timers ?? realTimers;
    const now = options.now ?? wallClock;
    const log = options.log;
    const host: TurnServerHost = {
      sendToClient: (path, bytes) => this.sendToClient(path, bytes),
      sendToPeer: (id, peer, bytes) => this.relays.get(id)?.socket.send(bytes, peer),
      openRelay: (request) => this.openRelay(request),
      closeRelay: (id) => this.closeRelay(id),
      releaseReserved: (port) => this.releaseReserved(port.port),
      password: (username) => options.password?.(username, now()) ?? (options.secret === undefined ? undefined : passwordFor(options.secret, username, now())),
      timers,
      now,
      log,
    };
    this.core = new TurnServer(host, {
      realm: options.realm,
      software: options.software,
      policy: options.policy,
      maxLifetimeSeconds: options.maxLifetimeSeconds,
      nonceLifetimeSeconds: options.nonceLifetimeSeconds,
      relayFamily: isIPv6(relayAddress) ? 6 : 4,
    });
    try {
      await this.listen(options);
    } catch (error) {
      await this.stop();
      throw error;
    }
    log?.info('turn: listening', { ...this.listening, tcp: options.tcp !== false, relayAddress });
    return this.address;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.core?.stop();
    const closing: Promise<void>[] = [];
    for (const relay of [...this.relays.values(), ...this.reserved.values()]) closing.push(relay.socket.close());
    this.relays.clear();
    this.reserved.clear();
    this.portsInUse.clear();
    for (const connection of this.connections.values()) connection.destroy();
    this.connections.clear();
    if (this.udp) closing.push(this.udp.close());
    if (this.tcpServer) closing.push(this.tcpServer.close());
    this.udp = undefined;
    this.tcpServer = undefined;
    await Promise.all(closing);
  }

  /** Changes the donation limits while running. */
  configure(policy: Partial<TurnPolicy>): void {
    if (!this.core) throw new Error('the TURN server is not running');
    this.core.configure(policy);
  }

  stats(): TurnRelayStats {
    if (!this.core) throw new Error('the TURN server is not running');
    return {
      ...this.core.stats(),
      ...this.listening,
      relayPortsOpen: this.relays.size + this.reserved.size,
      tcpConnections: this.connections.size,
      tcpBacklogDrops: this.tcpBacklogDrops,
      tcpRefused: this.tcpRefused,
      listenerReceiveBufferBytes: this.udp?.receiveBufferBytes,
    };
  }

  // --- Listeners ---------------------------------------------------------------------------------

  /** UDP first (it picks the port when none is given), then TCP on the same number. */
  private async listen(options: TurnRelayServerOptions): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const udp = await UdpSocket.open({
        bind: options.address,
        port: options.port ?? 0,
        // Every client's packets queue on this one socket: 300 calls send 30,000 packets/s, so a 100 ms pause of
        // our thread is 3,000 packets, which overflow the default 208 KiB (a few hundred small datagrams) but not 4 MiB
        // (Linux caps the request at net.core.rmem_max; stats() shows what was granted).
        receiveBufferBytes: LISTENER_RECEIVE_BUFFER_BYTES,
        onMessage: (bytes, from) => this.core?.receive(bytes, { transport: 'udp', client: from, server: this.listening }),
        onError: (error) => options.log?.warn('turn: UDP listener error', { error: String(error) }),
      });
      if (options.tcp === false) {
        this.udp = udp;
        this.listening = { address: options.address, port: udp.port };
        return;
      }
      try {
        this.tcpServer = await listenTcp(
          options.address,
          udp.port,
          (connection) => this.accept(connection),
          (error) => options.log?.warn('turn: TCP listener error', { error: String(error) }),
          { maxPerAddress: TCP_CONNECTIONS_PER_ADDRESS, onRefused: () => this.tcpRefused++ },
        );
        this.udp = udp;
        this.listening = { address: options.address, port: udp.port };
        return;
      } catch (error) {
        await udp.close();
        // Someone holds the TCP side of a port UDP picked: try another, unless the port was asked for.
        if (options.port || attempt >= 10 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
  }

  /**
   * One TCP client: the stream carries STUN messages and ChannelData back to back, told apart
   * by their first byte (RFC 7983); ChannelData is padded to four bytes (RFC 8656 12.5).
   */
  private accept(connection: TcpConnection): void {
    if (this.stopped) {
      connection.destroy();
      return;
    }
    const key = `tcp-${this.nextConnection++}`;
    const path: ClientPath = { transport: 'tcp', client: connection.remote, server: this.listening, connection: key };
    this.connections.set(key, connection);
    // Half a message that never completes (or nothing at all) must not hold a connection for ever.
    connection.closeWhenIdle(FIRST_MESSAGE_MS);
    const idleMs = (this.options?.maxLifetimeSeconds ?? MAX_LIFETIME_S) * 1000 + IDLE_GRACE_MS;
    let heard = false;
    let pending: Buffer = Buffer.alloc(0);
    connection.onData((chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4) {
        const length = pending[0] < 4 ? stunLengthOnStream(pending) : this.core?.isChannelData(pending) ? channelDataLengthOnStream(pending) : undefined;
        if (length === undefined) {
          // Lost framing: nothing after this can be read. The core counts it; the connection goes.
          this.core?.receive(pending, path);
          connection.destroy();
          return;
        }
        if (pending.length < length) break;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        if (!heard) {
          heard = true;
          connection.closeWhenIdle(idleMs); // an inactivity timeout: traffic keeps re-arming it
        }
        this.core?.receive(message, path);
      }
    });
    connection.onClose(() => {
      if (this.connections.get(key) !== connection) return;
      this.connections.delete(key);
      this.core?.connectionClosed(key);
    });
  }

  private sendToClient(path: ClientPath, bytes: Buffer): void {
    if (path.transport === 'udp') {
      this.udp?.send(bytes, path.client);
      return;
    }
    const connection = path.connection === undefined ? undefined : this.connections.get(path.connection);
    if (!connection || connection.closed) return;
    if (connection.queuedBytes > MAX_TCP_BACKLOG_BYTES) {
      this.tcpBacklogDrops++;
      return;
    }
    connection.write(bytes);
  }

  // --- Relay ports -------------------------------------------------------------------------------

  private async openRelay(request: RelayPortRequest): Promise<RelayPortGrant> {
    const address = this.relayAddress();
    if (request.reserved) {
      // RFC 8656 7.2: the port an EVEN-PORT R allocation held is given to the one with its token.
      const held = this.reserved.get(request.reserved.port);
      if (!held) throw new Error(`reserved port ${request.reserved.port} is gone`);
      this.reserved.delete(request.reserved.port);
      held.owner.allocationId = request.allocationId;
      this.relays.set(request.allocationId, held);
      return { relay: { address, port: held.socket.port } };
    }
    const { first, second } = await this.bindPorts(address, request.even || request.reserveNext, request.reserveNext);
    if (this.stopped) {
      await Promise.all([first.socket.close(), second?.socket.close()]);
      throw new Error('the TURN server stopped');
    }
    first.owner.allocationId = request.allocationId;
    this.relays.set(request.allocationId, first);
    if (second) this.reserved.set(second.socket.port, second);
    return { relay: { address, port: first.socket.port }, reserved: second && { address, port: second.socket.port } };
  }

  /**
   * Binds a port of the range (even when asked, and then with the next one up held too), from
   * a random place in it so that relay ports are not guessable one from the next.
   */
  private async bindPorts(address: string, even: boolean, pair: boolean): Promise<{ first: RelaySocket; second?: RelaySocket }> {
    const { min, max } = this.options?.relayPorts ?? { min: 49152, max: 65535 };
    const low = even ? min + (min % 2) : min;
    const step = even ? 2 : 1;
    const count = Math.floor((max - (pair ? 1 : 0) - low) / step) + 1;
    if (count <= 0) throw new Error(`no ${even ? 'even ' : ''}port in ${min}-${max}`);
    const start = randomInt(count);
    for (let i = 0; i < Math.min(count, BIND_ATTEMPTS); i++) {
      const port = low + ((start + i) % count) * step;
      if (this.portsInUse.has(port) || (pair && this.portsInUse.has(port + 1))) continue;
      const first = await this.bindRelay(address, port);
      if (!first) continue;
      if (!pair) return { first };
      const second = await this.bindRelay(address, port + 1);
      if (second) return { first, second };
      await this.closeSocket(first);
    }
    throw new Error(`no free relay port in ${min}-${max}`);
  }

  /** A relay socket on `port`, or undefined when something else has it. */
  private async bindRelay(address: string, port: number): Promise<RelaySocket | undefined> {
    const owner = { allocationId: '' };
    try {
      const socket = await UdpSocket.open({
        bind: address,
        port,
        onMessage: (bytes, from) => {
          if (owner.allocationId) this.core?.relayReceived(owner.allocationId, bytes, from);
        },
        onError: (error) => this.options?.log?.debug('turn: relay socket error', { error: String(error), port }),
      });
      this.portsInUse.add(port);
      return { socket, owner };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
      throw error;
    }
  }

  private closeRelay(allocationId: string): void {
    const relay = this.relays.get(allocationId);
    if (!relay) return;
    this.relays.delete(allocationId);
    void this.closeSocket(relay);
  }

  private releaseReserved(port: number): void {
    const held = this.reserved.get(port);
    if (!held) return;
    this.reserved.delete(port);
    void this.closeSocket(held);
  }

  private closeSocket(relay: RelaySocket): Promise<void> {
    relay.owner.allocationId = '';
    this.portsInUse.delete(relay.socket.port);
    return relay.socket.close();
  }

  private relayAddress(): string {
    return this.options?.relayAddress ?? this.options?.address ?? '127.0.0.1';
  }
}
