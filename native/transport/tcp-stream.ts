// Plain TCP for the NAT services: the TURN server's listener and its clients' connections, the
// TURN client's connection to a relay where UDP is blocked (RFC 8656 3.1), and the relay finder's
// connect-time probe. Framing stays with the caller (STUN and ChannelData on one stream).
import net from 'node:net';

export interface TcpEndpoint {
  address: string;
  port: number;
}

/** One TCP connection, either way it was opened. */
export interface TcpConnection {
  readonly remote: TcpEndpoint;
  /** Bytes written but not yet taken by the kernel: a peer that stops reading makes this grow. */
  readonly queuedBytes: number;
  readonly closed: boolean;
  write(bytes: Buffer): void;
  onData(handler: (chunk: Buffer) => void): void;
  /** Once, however it ended (closed by either side, an error, destroy()). */
  onClose(handler: () => void): void;
  /** Closes it after `ms` without traffic either way (each byte re-arms it). */
  closeWhenIdle(ms: number): void;
  destroy(): void;
}

export interface TcpListener {
  readonly port: number;
  close(): Promise<void>;
}

function wrap(socket: net.Socket, remote: TcpEndpoint): TcpConnection {
  socket.setNoDelay(true);
  // Errors end in 'close'; the owner hears of the end there.
  socket.on('error', () => undefined);
  return {
    remote,
    get queuedBytes() {
      return socket.writableLength;
    },
    get closed() {
      return socket.destroyed;
    },
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    onData: (handler) => socket.on('data', handler),
    onClose: (handler) => socket.once('close', handler),
    closeWhenIdle: (ms) => socket.setTimeout(ms, () => socket.destroy()),
    destroy: () => socket.destroy(),
  };
}

/** Connects to `to`, or rejects with the reason (refused, unreachable, or no answer within `timeoutMs`). */
export function connectTcp(to: TcpEndpoint, timeoutMs: number): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: to.address, port: to.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(wrap(socket, { address: to.address, port: to.port }));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** How long a TCP connect to `to` takes, ms; undefined when it fails or takes longer than `timeoutMs`. */
export async function tcpConnectMs(to: TcpEndpoint, timeoutMs: number): Promise<number | undefined> {
  const started = performance.now();
  try {
    const connection = await connectTcp(to, timeoutMs);
    connection.destroy();
    return performance.now() - started;
  } catch {
    return undefined;
  }
}

export interface TcpListenLimits {
  /** Connections one remote address may hold at once; more are closed as they come (issue 21: idle connection floods). */
  maxPerAddress?: number;
  /** A connection was closed for its address holding its share. */
  onRefused?(address: string): void;
}

/** Listens on `address`:`port` (exclusively: EADDRINUSE when taken) and hands over each connection. */
export function listenTcp(address: string, port: number, onConnection: (connection: TcpConnection) => void, onError: (error: Error) => void, limits: TcpListenLimits = {}): Promise<TcpListener> {
  const perAddress = new Map<string, number>();
  const server = net.createServer((socket) => {
    const from = socket.remoteAddress;
    if (!from || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const held = perAddress.get(from) ?? 0;
    if (limits.maxPerAddress !== undefined && held >= limits.maxPerAddress) {
      socket.destroy();
      limits.onRefused?.(from);
      return;
    }
    perAddress.set(from, held + 1);
    socket.once('close', () => {
      const left = (perAddress.get(from) ?? 1) - 1;
      if (left > 0) perAddress.set(from, left);
      else perAddress.delete(from);
    });
    onConnection(wrap(socket, { address: from, port: socket.remotePort }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', onError);
      const bound = server.address();
      resolve({
        port: typeof bound === 'object' && bound ? bound.port : port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
