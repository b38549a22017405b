// An HTTP/1.1 listener with a fast lane for a cache's hot path. node:http spends most of a small
// cached response's time in its own JavaScript (a bare node:http server answers a 10 KB body at
// about 39,000 requests/s on one core of the bench machine, a socket that writes the prebuilt
// bytes at about 84,000, nginx at 65,000). So each connection starts here: while its requests are
// simple (wire/http/simple-request.ts) and `fast` has an answer ready in bytes, this writes it;
// at the first request that is not, the connection (with the bytes not yet read) goes to the full
// node:http server for good, which parses it from its first byte.
import http from 'node:http';
import net from 'node:net';
import { parseSimpleRequestHead, type SimpleRequestHead } from '../wire/http/simple-request.js';
import { drainedOrClosed, guarded, type HttpHandler, type HttpListener } from './http.js';

/** A ready answer: its bytes in pieces, each paced (`wait` says how long before it may go). */
export interface FastAnswer {
  /** The pieces to write in order (the first holds the head); each is booked with `book` before it goes. */
  pieces: Buffer[];
  /** Books `bytes` on the sender's pacing: ms to wait before sending them. */
  book(bytes: number): number;
  /** Told once every piece was handed to the socket. */
  sent(): void;
}

export type FastHandler = (request: Extract<SimpleRequestHead, { kind: 'simple' }>) => FastAnswer | undefined;

/** What node:http is given too: the same timeouts, so either lane treats an idle client alike. */
const KEEP_ALIVE_MS = 30_000;

export async function listenHttpWithFastLane(handler: HttpHandler, fast: FastHandler, options: { host: string; port: number; what: string }): Promise<HttpListener> {
  const full = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS, requestTimeout: 60_000 }, guarded(handler));
  full.on('clientError', (_e, socket) => socket.destroy());
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new FastConnection(socket, fast, (rest) => {
      sockets.delete(socket);
      // The full server reads what this lane had not: put it back in front of the stream.
      if (rest.length) socket.unshift(rest);
      full.emit('connection', socket);
      socket.resume();
    }).start();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? Object.assign(new Error(`${options.what} port ${options.port} is already in use`), { code: 'PORT_IN_USE' }) : e),
    );
    server.listen({ port: options.port, host: options.host, backlog: 4096 }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    host: options.host,
    close: async () => {
      for (const s of sockets) s.destroy();
      full.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class FastConnection {
  private buffered: Buffer = Buffer.alloc(0);
  /** An answer is being written (paced): later requests wait in `buffered`, in order. */
  private busy = false;
  private done = false;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.next();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly fast: FastHandler,
    private readonly handOver: (rest: Buffer) => void,
  ) {}

  start(): void {
    this.socket.setNoDelay(true);
    this.socket.setTimeout(KEEP_ALIVE_MS, () => this.socket.destroy());
    this.socket.on('data', this.onData);
    this.socket.on('error', () => this.socket.destroy());
  }

  private next(): void {
    while (!this.busy && !this.done && this.buffered.length) {
      const head = parseSimpleRequestHead(this.buffered);
      if (head.kind === 'incomplete') return;
      const answer = head.kind === 'simple' ? this.fast(head) : undefined;
      if (!answer || head.kind !== 'simple') return this.leave();
      this.buffered = this.buffered.subarray(head.headBytes);
      this.busy = true;
      this.write(answer, 0);
    }
  }

  /**
   * Writes the pieces from `from` on (`booked`: the first of them is paced already). The usual
   * answer (no pacing wait, the socket taking it all) is written here and now; a wait or a full
   * socket goes on asynchronously in resume(), and next() follows it.
   */
  private write(answer: FastAnswer, from: number, booked = false): void {
    for (let i = from; i < answer.pieces.length; i++) {
      const piece = answer.pieces[i];
      const wait = booked && i === from ? 0 : answer.book(piece.length);
      if (wait > 0) {
        setTimeout(() => this.resume(answer, i, true), wait);
        return;
      }
      if (this.socket.destroyed) return;
      if (!this.socket.write(piece)) {
        void drainedOrClosed(this.socket).then(() => this.resume(answer, i + 1));
        return;
      }
    }
    answer.sent();
    this.busy = false;
  }

  private resume(answer: FastAnswer, from: number, booked = false): void {
    this.write(answer, from, booked);
    if (!this.busy) this.next();
  }

  /** The rest of this connection is the full server's. */
  private leave(): void {
    this.done = true;
    this.socket.removeListener('data', this.onData);
    this.socket.setTimeout(0);
    this.socket.pause();
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    this.handOver(rest);
  }
}
