// Every SIP socket: one UDP socket and one TCP listener on the same port (RFC 3261 18), a TLS
// listener beside them (RFC 3261 26.2), and the stream connections opened to or from peers.
// Framing of stream messages by Content-Length (RFC 3261 18.3) lives here too; parsing does not.
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { certificateFingerprint, type TlsCredentials } from '../wire/crypto/certificate.js';
import { looksLikeStun, MAGIC_COOKIE, stunLengthOnStream } from '../wire/stun/message.js';

export type SipProtocol = 'udp' | 'tcp' | 'tls';
export interface Remote {
  protocol: SipProtocol;
  address: string;
  port: number;
  /**
   * TLS only. Sending: the certificate (certificateFingerprint) the peer must present, pinned
   * through the overlay; without it a peer named by an IP address is not authenticated, one
   * named by a domain must hold a certificate the system trusts for it (RFC 5922). Received:
   * the certificate the peer presented, if any.
   */
  certificate?: string;
}

/** The peer at a pinned address presented another certificate than its owner published. */
export class TlsCertificateError extends Error {
  readonly code = 'TLS_CERTIFICATE_MISMATCH';
  constructor(readonly remote: Remote, readonly presented: string | undefined) {
    super(`the peer at ${remote.address}:${remote.port} presented ${presented ? 'another certificate' : 'no certificate'} than the one its owner published`);
  }
}

export interface SipSocketsOptions {
  bind: string;
  /** A fixed port; 0 for any free port; undefined for "5060 if free, else any". */
  port?: number;
  onMessage(bytes: Buffer, remote: Remote): void;
  /** A STUN message (RFC 7983 demultiplexing: first bits 00 and the magic cookie), UDP or TCP. */
  onStun?(bytes: Buffer, remote: Remote): void;
  /** Something unreadable arrived on a stream; the connection was closed. */
  onFramingError?(remote: Remote, reason: string): void;
  /** A socket broke in a way that needs the transport to be reopened. */
  onFailure?(error: Error): void;
  /** Stream connections at once, both ways (default 1,000): when all are taken, the one idle longest makes room. */
  maxConnections?: number;
  /** Connections one address may open to us at once (default 64); more are refused. */
  maxConnectionsPerAddress?: number;
  /** A connection without a message either way for this long is closed (default 120 s). */
  idleMs?: number;
  /** A connection a peer opened and sent no whole message on within this long is closed (default 10 s). */
  firstMessageMs?: number;
  /** A connection from `address` was refused (its address had too many) or closed for want of a first message. */
  onLimited?(address: string, reason: 'tcp-per-address' | 'tcp-silent'): void;
  maxMessageBytes?: number;
  /** Listen for SIP over TLS too, presenting these (and present them when connecting). */
  tls?: TlsCredentials;
  /** The TLS port: undefined for 5061 beside SIP on 5060 (if free), else any free port. */
  tlsPort?: number;
}

export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  constructor(readonly port: number, readonly address: string, what = 'SIP') {
    super(`${what} port ${port} on ${address} is already in use`);
  }
}

const DEFAULT_SIP_PORT = 5060;
const CONNECT_TIMEOUT_MS = 5_000;
/** How long a TLS handshake may take once the TCP connection stands. */
const HANDSHAKE_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 120_000;
/** Connections one address may hold open to us: a few phones behind one NAT, or a loopback test ring of nodes. */
export const DEFAULT_CONNECTIONS_PER_ADDRESS = 64;
/** A peer opens a connection to send on it: one that says nothing this long is a held slot (slowloris). */
const FIRST_MESSAGE_MS = 10_000;

/** What the slot accounting knows of one stream connection. */
interface ConnectionSlot {
  inbound: boolean;
  address: string;
  /** The last whole message either way, or when it opened (ms, performance.now()). */
  lastActive: number;
  messages: number;
  /** A phone's registration keeps it (holdOpen): evicted only after every other. */
  held: boolean;
}

const SIP_UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export class SipSockets {
  private readonly connections = new Map<string, net.Socket>();
  /** Every stream connection counted against the limits, oldest first. */
  private readonly slots = new Map<net.Socket, ConnectionSlot>();
  private readonly inboundPerAddress = new Map<string, number>();
  private readonly pending = new Map<string, Promise<net.Socket>>();
  /**
   * RFC 5923: TLS connections a peer opened to us and named (Via `alias`) as the way to reach
   * its own listener, by that listener's address. One is reused only for a request whose pinned
   * certificate is the one the peer presented on it (the check 5923 5 asks for, done our way).
   */
  private readonly aliases = new Map<string, tls.TLSSocket>();
  private tlsServer?: tls.Server;
  private tlsListenPort?: number;
  private closed = false;
  /**
   * Every address, and address and port, this UDP socket has sent to (up to 8,192 entries, oldest forgotten first): a dial-back
   * probe counts only from an address our NAT holds no state for (services/nat/reachability.ts).
   */
  private readonly sentTo = new Set<string>();
  readonly stats = {
    datagramsIn: 0,
    streamMessagesIn: 0,
    stunIn: 0,
    framingErrors: 0,
    sendErrors: 0,
    /** Connections we opened whose peer presented another certificate than the pinned one. */
    tlsCertificateMismatches: 0,
    /** TLS handshakes (either way) that failed before any SIP. */
    tlsHandshakeFailures: 0,
    /** Requests sent on a connection the peer opened (RFC 5923 reuse). */
    tlsReused: 0,
    /** Connections refused: their address held its share, or every slot was busy and none idle. */
    tcpRefused: 0,
    /** Connections closed to make room for a new one (the one idle longest). */
    tcpEvicted: 0,
    /** Connections closed for silence: no first message in time, or idle too long. */
    tcpIdleClosed: 0,
  };

  private constructor(
    private readonly options: SipSocketsOptions,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    readonly address: string,
    readonly port: number,
  ) {
    udp.on('message', (bytes, rinfo) => {
      this.stats.datagramsIn++;
      const remote: Remote = { protocol: 'udp', address: rinfo.address, port: rinfo.port };
      if (options.onStun && looksLikeStun(bytes)) {
        this.stats.stunIn++;
        options.onStun(bytes, remote);
      } else options.onMessage(bytes, remote);
    });
    // Send errors arrive through send callbacks; an 'error' event means the socket itself broke.
    udp.on('error', (e) => options.onFailure?.(e));
    tcp.on('connection', (socket) => this.adopt(socket, 'tcp'));
    tcp.on('error', (e) => options.onFailure?.(e));
  }

  static async open(options: SipSocketsOptions): Promise<SipSockets> {
    const sockets = await SipSockets.openPlain(options);
    if (!options.tls) return sockets;
    try {
      await sockets.listenTls(options.tls, options.tlsPort);
    } catch (error) {
      await sockets.close();
      throw error;
    }
    return sockets;
  }

  /** The port SIP over TLS listens on; undefined without TLS. */
  get tlsPort(): number | undefined {
    return this.tlsListenPort;
  }

  private async listenTls(credentials: TlsCredentials, port: number | undefined): Promise<void> {
    // Peers may present a certificate (Peerdial nodes do; most phones do not): asked, never required.
    const server = tls.createServer({ key: credentials.keyPem, cert: credentials.certPem, requestCert: true, rejectUnauthorized: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    server.on('secureConnection', (socket) => {
      // Nagle would hold a response back until the peer's delayed ACK: 40 ms a request on Linux.
      socket.setNoDelay(true);
      this.adopt(socket, 'tls');
    });
    server.on('tlsClientError', () => this.stats.tlsHandshakeFailures++);
    // A connection still in its handshake holds no slot yet: its address's share bounds those too.
    const handshaking = new Map<string, number>();
    server.on('connection', (raw: net.Socket) => {
      const address = raw.remoteAddress ?? '';
      const held = handshaking.get(address) ?? 0;
      if (held >= (this.options.maxConnectionsPerAddress ?? DEFAULT_CONNECTIONS_PER_ADDRESS)) {
        this.stats.tcpRefused++;
        this.options.onLimited?.(address, 'tcp-per-address');
        raw.destroy();
        return;
      }
      handshaking.set(address, held + 1);
      raw.once('close', () => {
        const left = (handshaking.get(address) ?? 1) - 1;
        if (left > 0) handshaking.set(address, left);
        else handshaking.delete(address);
      });
    });
    // 5061 beside the standard 5060; beside any other port, any free one (the next port up may
    // be another node's SIP port on this host).
    const tryPorts = port !== undefined ? [port] : this.port === DEFAULT_SIP_PORT ? [DEFAULT_SIP_PORT + 1, 0] : [0];
    for (const candidate of tryPorts) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new PortInUseError(candidate, this.address, 'SIP over TLS') : e));
          server.listen(candidate, this.address, () => resolve());
        });
        server.removeAllListeners('error');
        server.on('error', (e) => this.options.onFailure?.(e));
        this.tlsServer = server;
        this.tlsListenPort = (server.address() as net.AddressInfo).port;
        return;
      } catch (error) {
        server.removeAllListeners('error');
        if (!(error instanceof PortInUseError) || candidate === tryPorts.at(-1)) throw error;
      }
    }
  }

  private static async openPlain(options: SipSocketsOptions): Promise<SipSockets> {
    if (options.port) return SipSockets.bindBoth(options, options.port);
    if (options.port === undefined) {
      try {
        return await SipSockets.bindBoth(options, DEFAULT_SIP_PORT);
      } catch (error) {
        if (!(error instanceof PortInUseError)) throw error;
      }
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await SipSockets.bindBoth(options, 0);
      } catch (error) {
        if (!(error instanceof PortInUseError)) throw error; // TCP lost the race for UDP's port: try another
      }
    }
    throw new Error('could not find a free port for SIP over both UDP and TCP');
  }

  private static async bindBoth(options: SipSocketsOptions, port: number): Promise<SipSockets> {
    const family = net.isIPv6(options.bind) ? 'udp6' : 'udp4';
    const udp = dgram.createSocket({ type: family, reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new PortInUseError(port, options.bind) : e));
      udp.bind(port, options.bind, () => resolve());
    }).catch((e) => {
      udp.close();
      throw e;
    });
    const actual = udp.address().port;
    // A burst of requests (a flash of registrations, a member routing for many) must wait in the
    // kernel rather than be dropped: as large a buffer as the system allows (Linux caps it at
    // net.core.rmem_max; 4 MiB is Kamailio's habit too).
    for (const size of [SIP_UDP_BUFFER_BYTES, SIP_UDP_BUFFER_BYTES / 4]) {
      try {
        udp.setRecvBufferSize(size);
        udp.setSendBufferSize(size);
        break;
      } catch {
        // A smaller one, or the system's default.
      }
    }
    const tcp = net.createServer({ noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new PortInUseError(actual, options.bind) : e));
        tcp.listen(actual, options.bind, () => resolve());
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    udp.removeAllListeners('error');
    tcp.removeAllListeners('error');
    return new SipSockets(options, udp, tcp, options.bind, actual);
  }

  async send(bytes: Buffer, remote: Remote): Promise<void> {
    if (this.closed) throw new Error('SIP transport is closed');
    if (remote.protocol === 'udp') {
      for (const key of [remote.address, `${remote.address}|${remote.port}`]) {
        if (this.sentTo.has(key)) continue;
        if (this.sentTo.size >= 8192) this.sentTo.delete(this.sentTo.values().next().value!);
        this.sentTo.add(key);
      }
      await new Promise<void>((resolve, reject) =>
        this.udp.send(bytes, remote.port, remote.address, (e) => (e ? reject(e) : resolve())),
      );
      return;
    }
    const socket = await this.connection(remote);
    const slot = this.slots.get(socket);
    if (slot) slot.lastActive = performance.now();
    await new Promise<void>((resolve, reject) => socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** True when this UDP socket has sent anything to `address` (at `port`, if given), as far as it remembers. */
  hasSentTo(address: string, port?: number): boolean {
    return this.sentTo.has(port === undefined ? address : `${address}|${port}`);
  }

  /** Sends without waiting, counting failures: for responses and retransmissions. */
  sendQuietly(bytes: Buffer, remote: Remote): void {
    this.send(bytes, remote).catch(() => this.stats.sendErrors++);
  }

  /** Closes every TCP connection (the network changed: their paths are gone, and no RST will say so). */
  dropConnections(): void {
    // A new network: no NAT or firewall on the way holds state for anyone we sent to before.
    this.sentTo.clear();
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    this.aliases.clear();
  }

  /** Stream connections now, and how many addresses opened them. */
  get connectionSlots(): { connections: number; addresses: number } {
    return { connections: this.slots.size, addresses: this.inboundPerAddress.size };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    this.aliases.clear();
    await Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
      new Promise<void>((resolve) => (this.tlsServer ? this.tlsServer.close(() => resolve()) : resolve())),
    ]);
  }

  /**
   * Keeps a stream connection open for `ms` without traffic (at least the usual idle time): a
   * phone registered over TCP or TLS is reached on its connection until its registration ends.
   */
  holdOpen(remote: Remote, ms: number): void {
    const socket = this.connections.get(connectionKey(remote));
    if (!socket || socket.destroyed) return;
    socket.setTimeout(Math.max(this.options.idleMs ?? IDLE_TIMEOUT_MS, ms));
    const slot = this.slots.get(socket);
    if (slot) slot.held = true;
  }

  /**
   * RFC 5923 4: the peer on this inbound TLS connection says (Via `alias`) its listener is
   * `host`:`port`; requests for that listener may go on this connection, if they pin the
   * certificate the peer presented here.
   */
  alias(remote: Remote, host: string, port: number): void {
    if (remote.protocol !== 'tls' || !remote.certificate) return;
    const socket = this.connections.get(connectionKey(remote));
    if (!(socket instanceof tls.TLSSocket)) return;
    const key = connectionKey({ protocol: 'tls', address: host, port });
    if (this.aliases.get(key) === socket) return;
    this.aliases.set(key, socket);
    socket.once('close', () => {
      if (this.aliases.get(key) === socket) this.aliases.delete(key);
    });
  }

  private connection(remote: Remote): Promise<net.Socket> {
    const key = connectionKey(remote);
    const open = this.connections.get(key);
    if (open && !open.destroyed && presentsPinned(open, remote)) return Promise.resolve(open);
    const aliased = remote.certificate ? this.aliases.get(key) : undefined;
    if (aliased && !aliased.destroyed && presentsPinned(aliased, remote)) {
      this.stats.tlsReused++;
      return Promise.resolve(aliased);
    }
    const pendingKey = `${key}|${remote.certificate ?? ''}`;
    const inFlight = this.pending.get(pendingKey);
    if (inFlight) return inFlight;
    const connecting = (remote.protocol === 'tls' ? this.connectTls(remote) : this.connectTcp(remote))
      .then((socket) => {
        this.adopt(socket, remote.protocol === 'tls' ? 'tls' : 'tcp', key);
        return socket;
      })
      .finally(() => this.pending.delete(pendingKey));
    this.pending.set(pendingKey, connecting);
    return connecting;
  }

  private connectTcp(remote: Remote): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: remote.address, port: remote.port, noDelay: true, ...this.localAddress() });
      const timer = setTimeout(() => socket.destroy(new Error(`TCP connect to ${remote.address}:${remote.port} timed out`)), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private connectTls(remote: Remote): Promise<net.Socket> {
    const credentials = this.options.tls;
    // A domain without a pinned certificate is checked the usual way, against the system's CAs (RFC 5922 7.3).
    const byName = !remote.certificate && net.isIP(remote.address) === 0;
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = tls.connect({
        host: remote.address,
        port: remote.port,
        ...this.localAddress(),
        ...(credentials ? { key: credentials.keyPem, cert: credentials.certPem } : {}),
        rejectUnauthorized: byName,
        ...(byName ? { servername: remote.address } : {}),
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error(`TLS connect to ${remote.address}:${remote.port} timed out`)), CONNECT_TIMEOUT_MS + HANDSHAKE_TIMEOUT_MS);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const presented = peerCertificateOf(socket);
        if (remote.certificate && presented !== remote.certificate) {
          this.stats.tlsCertificateMismatches++;
          socket.destroy();
          reject(new TlsCertificateError(remote, presented));
          return;
        }
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED') this.stats.tlsHandshakeFailures++;
        reject(e);
      });
    });
  }

  /** Connections leave from the bound address when there is one (what our Via names), not the system's pick. */
  private localAddress(): { localAddress?: string } {
    return this.address === '0.0.0.0' || this.address === '::' ? {} : { localAddress: this.address };
  }

  /**
   * Takes a stream connection into the slots, or refuses it (issue 21: 1,000 idle connections from
   * one address took every slot, and a real request was then reset). A peer's address holds at
   * most maxConnectionsPerAddress of the connections it opened; when every slot is busy, the
   * connection idle longest makes room (one that never carried a message first, a phone's held
   * flow last), so a newcomer with a real request still gets in.
   */
  private admit(socket: net.Socket, inbound: boolean): boolean {
    if (this.closed) return false;
    const address = socket.remoteAddress ?? '';
    if (inbound && (this.inboundPerAddress.get(address) ?? 0) >= (this.options.maxConnectionsPerAddress ?? DEFAULT_CONNECTIONS_PER_ADDRESS)) {
      this.stats.tcpRefused++;
      this.options.onLimited?.(address, 'tcp-per-address');
      return false;
    }
    if (this.slots.size >= (this.options.maxConnections ?? 1_000)) {
      const victim = this.longestIdle();
      if (!victim) {
        this.stats.tcpRefused++;
        return false;
      }
      this.stats.tcpEvicted++;
      this.release(victim);
      victim.destroy();
    }
    const slot: ConnectionSlot = { inbound, address, lastActive: performance.now(), messages: 0, held: false };
    this.slots.set(socket, slot);
    if (inbound) this.inboundPerAddress.set(address, (this.inboundPerAddress.get(address) ?? 0) + 1);
    return true;
  }

  /** The connection to close for a newcomer: never used first, then idle longest; held flows last. */
  private longestIdle(): net.Socket | undefined {
    let best: net.Socket | undefined;
    let bestRank: [number, number, number] | undefined;
    for (const [socket, slot] of this.slots) {
      const rank: [number, number, number] = [slot.held ? 1 : 0, slot.messages > 0 ? 1 : 0, slot.lastActive];
      if (!bestRank || rank[0] < bestRank[0] || (rank[0] === bestRank[0] && (rank[1] < bestRank[1] || (rank[1] === bestRank[1] && rank[2] < bestRank[2])))) {
        best = socket;
        bestRank = rank;
      }
    }
    return best;
  }

  private release(socket: net.Socket): void {
    const slot = this.slots.get(socket);
    if (!slot) return;
    this.slots.delete(socket);
    if (!slot.inbound) return;
    const left = (this.inboundPerAddress.get(slot.address) ?? 1) - 1;
    if (left > 0) this.inboundPerAddress.set(slot.address, left);
    else this.inboundPerAddress.delete(slot.address);
  }

  private adopt(socket: net.Socket, protocol: 'tcp' | 'tls', key?: string): void {
    const inbound = key === undefined;
    if (!this.admit(socket, inbound)) {
      socket.destroy();
      return;
    }
    const slot = this.slots.get(socket)!;
    const certificate = socket instanceof tls.TLSSocket ? peerCertificateOf(socket) : undefined;
    const remote: Remote = { protocol, address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, ...(certificate ? { certificate } : {}) };
    key ??= connectionKey(remote);
    this.connections.set(key, socket);
    socket.setTimeout(this.options.idleMs ?? IDLE_TIMEOUT_MS, () => {
      this.stats.tcpIdleClosed++;
      socket.destroy();
    });
    if (inbound) {
      const silent = setTimeout(() => {
        if (slot.messages > 0 || socket.destroyed) return;
        this.stats.tcpIdleClosed++;
        this.options.onLimited?.(slot.address, 'tcp-silent');
        socket.destroy();
      }, this.options.firstMessageMs ?? FIRST_MESSAGE_MS);
      silent.unref();
      socket.once('close', () => clearTimeout(silent));
    }
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.release(socket);
      if (this.connections.get(key) === socket) this.connections.delete(key);
    });
    const framer = new StreamFramer(this.options.maxMessageBytes ?? 65_535);
    let unframeable = false;
    socket.on('data', (chunk: Buffer) => {
      if (unframeable) return;
      const result = framer.push(chunk);
      if (result.messages.length) {
        slot.messages += result.messages.length;
        slot.lastActive = performance.now();
      }
      for (const message of result.messages) {
        if (looksLikeStun(message)) {
          this.stats.stunIn++;
          this.options.onStun?.(message, remote);
          continue;
        }
        this.stats.streamMessagesIn++;
        this.options.onMessage(message, remote);
      }
      if (result.error) {
        unframeable = true;
        this.stats.framingErrors++;
        this.options.onFramingError?.(remote, result.error);
        // Let an answer to the last readable message go out first (it is written after a
        // microtask), then close; a peer that does not read gets cut off a second later.
        setImmediate(() => socket.end());
        setTimeout(() => socket.destroy(), 1_000).unref();
      }
    });
  }
}

function connectionKey(remote: Remote): string {
  return `${remote.protocol === 'udp' ? 'tcp' : remote.protocol}|${remote.address}|${remote.port}`;
}

const presentedCertificates = new WeakMap<tls.TLSSocket, string | undefined>();

/** The fingerprint of the certificate the peer presented (worked out once a connection). */
function peerCertificateOf(socket: tls.TLSSocket): string | undefined {
  if (presentedCertificates.has(socket)) return presentedCertificates.get(socket);
  const der = socket.getPeerX509Certificate()?.raw;
  const fingerprint = der ? certificateFingerprint(der) : undefined;
  presentedCertificates.set(socket, fingerprint);
  return fingerprint;
}

/** A connection may carry a request that pins a certificate only if its peer presented that one. */
function presentsPinned(socket: net.Socket, remote: Remote): boolean {
  if (remote.protocol !== 'tls' || !remote.certificate) return true;
  return socket instanceof tls.TLSSocket && peerCertificateOf(socket) === remote.certificate;
}

/**
 * RFC 3261 18.3: on a stream, Content-Length delimits the message; CRLFs between messages are
 * keep-alives. A STUN message (RFC 5626 8.1 keep-alives, RFC 8489 over TCP) starts with a zero
 * byte where SIP starts with a letter; its header says its length.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): { messages: Buffer[]; error?: string } {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const messages: Buffer[] = [];
    for (;;) {
      let start = 0;
      while (start + 1 < this.buffer.length && this.buffer[start] === 13 && this.buffer[start + 1] === 10) start += 2;
      if (start) this.buffer = this.buffer.subarray(start);
      if (this.buffer.length && this.buffer[0] < 2) {
        const total = stunLengthOnStream(this.buffer);
        if (total === undefined || this.buffer.length < 8) return { messages };
        if (this.buffer.readUInt32BE(4) !== MAGIC_COOKIE) return { messages, error: 'neither SIP nor STUN' };
        if (total > this.maxBytes) return { messages, error: 'message too large' };
        if (this.buffer.length < total) return { messages };
        messages.push(Buffer.from(this.buffer.subarray(0, total)));
        this.buffer = this.buffer.subarray(total);
        continue;
      }
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buffer.length > this.maxBytes) return { messages, error: 'header section too long' };
        return { messages };
      }
      const head = this.buffer.subarray(0, end).toString('latin1');
      const values = [...head.matchAll(/^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$/gim)].map((m) => m[1]);
      if (values.length > 1 || (values.length === 1 && !/^\d{1,10}$/.test(values[0]))) {
        // Without one readable length the stream cannot be framed any further (RFC 4475 3.1.2.3,
        // 3.3.9): the headers go on to be answered with a 400, then the connection closes.
        messages.push(Buffer.from(this.buffer.subarray(0, end + 4)));
        return { messages, error: 'unreadable Content-Length' };
      }
      const length = values.length ? Number(values[0]) : 0;
      const total = end + 4 + length;
      if (total > this.maxBytes) return { messages, error: 'message too large' };
      if (this.buffer.length < total) return { messages };
      messages.push(Buffer.from(this.buffer.subarray(0, total)));
      this.buffer = this.buffer.subarray(total);
    }
  }
}
