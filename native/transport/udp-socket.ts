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
  static async open(options: { bind: string; port?: number; onMessage(bytes: Buffer, from: UdpEndpoint): void; onError?(error: Error): void }): Promise<UdpSocket> {
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

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
