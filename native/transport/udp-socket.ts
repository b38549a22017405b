// A plain UDP socket: the STUN server's alternate-port sockets (RFC 5780) and the fresh socket
// NAT behaviour discovery runs on.
import dgram from 'node:dgram';
import net from 'node:net';

export interface UdpEndpoint {
  address: string;
  port: number;
}

export class UdpSocket {
  readonly stats = { datagramsIn: 0, sendErrors: 0 };
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {}

  /** Binds `bind`:`port` (0 for any free port); rejects with the OS error (EADDRINUSE...). */
  static async open(options: {
    bind: string;
    port?: number;
    /** A larger kernel receive buffer (SO_RCVBUF, capped by net.core.rmem_max): a busy server's queue survives a pause of its thread. */
    receiveBufferBytes?: number;
    onMessage(bytes: Buffer, from: UdpEndpoint): void;
    onError?(error: Error): void;
  }): Promise<UdpSocket> {
    const socket = dgram.createSocket({ type: net.isIPv6(options.bind) ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, options.bind, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      socket.close();
      throw error;
    });
    if (options.receiveBufferBytes !== undefined) {
      try {
        socket.setRecvBufferSize(options.receiveBufferBytes);
      } catch {
        // Refused by the system: the default buffer still works, with less slack.
      }
    }
    const opened = new UdpSocket(socket, options.bind, socket.address().port);
    socket.on('message', (bytes, info) => {
      opened.stats.datagramsIn++;
      options.onMessage(bytes, { address: info.address, port: info.port });
    });
    socket.on('error', (error) => options.onError?.(error));
    return opened;
  }

  /** Sends and forgets; a failure is counted (an unreachable peer is not this socket's fault). */
  send(bytes: Buffer, to: UdpEndpoint): void {
    if (this.closed) return;
    this.socket.send(bytes, to.port, to.address, (error) => {
      if (error) this.stats.sendErrors++;
    });
  }

  /** The kernel's receive buffer for this socket, bytes (Linux reports twice what was asked, for its bookkeeping). */
  get receiveBufferBytes(): number {
    return this.socket.getRecvBufferSize();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
