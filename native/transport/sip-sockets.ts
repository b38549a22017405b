// Every SIP socket: one UDP socket and one TCP listener on the same port (RFC 3261 18), and
// the TCP connections opened to or from peers. Framing of stream messages by Content-Length
// (RFC 3261 18.3) lives here too; parsing does not.
import dgram from 'node:dgram';
import net from 'node:net';
import { looksLikeStun, MAGIC_COOKIE, stunLengthOnStream } from '../wire/stun/message.js';

export type SipProtocol = 'udp' | 'tcp';
export interface Remote {
  protocol: SipProtocol;
  address: string;
  port: number;
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
  maxConnections?: number;
  maxMessageBytes?: number;
}

export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  constructor(readonly port: number, readonly address: string) {
    super(`SIP port ${port} on ${address} is already in use`);
  }
}

const DEFAULT_SIP_PORT = 5060;
const CONNECT_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 120_000;

const SIP_UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export class SipSockets {
  private readonly connections = new Map<string, net.Socket>();
  private readonly pending = new Map<string, Promise<net.Socket>>();
  private closed = false;
  /**
   * Every address, and address and port, this UDP socket has sent to (up to 8,192 entries, oldest forgotten first): a dial-back
   * probe counts only from an address our NAT holds no state for (services/nat/reachability.ts).
   */
  private readonly sentTo = new Set<string>();
  readonly stats = { datagramsIn: 0, streamMessagesIn: 0, stunIn: 0, framingErrors: 0, sendErrors: 0 };

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
    tcp.on('connection', (socket) => this.adopt(socket));
    tcp.on('error', (e) => options.onFailure?.(e));
  }

  static async open(options: SipSocketsOptions): Promise<SipSockets> {
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
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]);
  }

  private connection(remote: Remote): Promise<net.Socket> {
    const key = `${remote.address}:${remote.port}`;
    const open = this.connections.get(key);
    if (open && !open.destroyed) return Promise.resolve(open);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const connecting = new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: remote.address, port: remote.port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`TCP connect to ${key} timed out`)), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.adopt(socket, key);
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    }).finally(() => this.pending.delete(key));
    this.pending.set(key, connecting);
    return connecting;
  }

  private adopt(socket: net.Socket, key = `${socket.remoteAddress}:${socket.remotePort}`): void {
    const max = this.options.maxConnections ?? 1_000;
    if (this.closed || this.connections.size >= max) {
      socket.destroy();
      return;
    }
    const remote: Remote = { protocol: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.connections.set(key, socket);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.connections.get(key) === socket) this.connections.delete(key);
    });
    const framer = new StreamFramer(this.options.maxMessageBytes ?? 65_535);
    let unframeable = false;
    socket.on('data', (chunk: Buffer) => {
      if (unframeable) return;
      const result = framer.push(chunk);
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
