// HTTP sockets for the rescue roles: a server that listens (the origin's front, the rescue
// server), and a client that fetches a whole response with a size bound over keep-alive
// connections (origin -> upstream, rescue server -> origin). The services see plain values.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import tls, { type SecureContext } from 'node:tls';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpListener {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/** Listens on host:port (port 0: any); a taken port fails with code PORT_IN_USE and `what` in the message. */
export function listenHttp(handler: HttpHandler, options: { host: string; port: number; what: string }): Promise<HttpListener> {
  return listen(http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 60_000 }, guarded(handler)), options);
}

/**
 * The HTTPS twin of listenHttp, for trusted rescue: the certificate is picked by the name the
 * client asked for (SNI); a name with no context fails the handshake, so nothing is served under
 * a name this server holds no certificate for.
 */
export function listenHttps(
  handler: HttpHandler,
  options: { host: string; port: number; what: string; context(serverName: string): SecureContext | undefined },
): Promise<HttpListener> {
  const server = https.createServer(
    {
      keepAliveTimeout: 30_000,
      requestTimeout: 60_000,
      SNICallback: (name, callback) => {
        const context = options.context(name.toLowerCase());
        if (context) callback(null, context);
        else callback(new Error(`no certificate for ${name}`));
      },
    },
    guarded(handler),
  );
  server.on('tlsClientError', (_e, socket) => socket.destroy());
  return listen(server, options);
}

/** A handler whose failure ends its response with 500 instead of leaving the client waiting. */
export function guarded(handler: HttpHandler): HttpHandler {
  return (req, res) => {
    Promise.resolve(handler(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  };
}

async function listen(server: http.Server, options: { host: string; port: number; what: string }): Promise<HttpListener> {
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? Object.assign(new Error(`${options.what} port ${options.port} is already in use`), { code: 'PORT_IN_USE' }) : e),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    host: options.host,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface FetchedResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie with "\n"). */
  headers: Record<string, string>;
  body: Buffer;
}

export class ResponseTooLarge extends Error {
  readonly code = 'TOO_LARGE';
}

/** A keep-alive client for one kind of traffic. */
export class HttpFetcher {
  private readonly agent: http.Agent;

  constructor(options: { maxSockets?: number } = {}) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, maxFreeSockets: 64 });
  }

  /** GET or HEAD `url` and read the whole body (at most maxBytes, else ResponseTooLarge). */
  fetch(url: string, options: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; maxBytes: number; timeoutMs: number }): Promise<FetchedResponse> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: this.agent, timeout: options.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > options.maxBytes) {
          res.destroy();
          reject(new ResponseTooLarge(`response of ${declared} bytes is over the limit`));
          return;
        }
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            res.destroy();
            reject(new ResponseTooLarge(`response is over ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: flatHeaders(res), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export function flatHeaders(message: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(name === 'set-cookie' ? '\n' : ', ') : value;
  }
  return out;
}

/**
 * Writes `body` in chunks, waiting `delayFor(bytes)` ms before each: how a donation cap paces
 * what is served. `headerBytes` are booked with the first chunk (they cross the link too).
 */
export async function writePaced(res: ServerResponse, body: Buffer, delayFor: (bytes: number) => number, headerBytes = 0, chunkBytes = 64 * 1024): Promise<void> {
  if (body.length <= chunkBytes) {
    // One chunk: one write with the end, unless the bucket says wait.
    const wait = delayFor(body.length + headerBytes);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    res.end(body);
    return;
  }
  for (let offset = 0; offset < body.length && !res.destroyed; offset += chunkBytes) {
    const chunk = body.subarray(offset, offset + chunkBytes);
    const wait = delayFor(chunk.length + (offset === 0 ? headerBytes : 0));
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  res.end();
}

/**
 * Resolves on 'drain' or 'close', whichever comes first, and leaves no listener behind: a
 * kept-alive connection waits many times, and a listener left each time piles up.
 */
export function drainedOrClosed(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done).off('close', done);
      resolve();
    };
    stream.once('drain', done).once('close', done);
  });
}

/** CPU this process used since the last call, as a fraction of one core. */
export function cpuMeter(): () => number {
  let last = process.cpuUsage();
  let at = process.hrtime.bigint();
  return () => {
    const now = process.hrtime.bigint();
    const usage = process.cpuUsage(last);
    const wallUs = Number(now - at) / 1000;
    last = process.cpuUsage();
    at = now;
    return wallUs > 0 ? (usage.user + usage.system) / wallUs : 0;
  };
}

export type TlsProbe = { ok: true; notAfter: number } | { ok: false; code: string; message: string };

/**
 * Connects to a TLS server as a browser would reach `serverName` there, with `caPem` as the only
 * root, and says whether the certificate it presents verifies (chain, name, dates). The handshake
 * is allowed to finish so the reason can be read (CERT_HAS_EXPIRED, ...); nothing is sent.
 */
export function probeTlsCertificate(options: { address: string; port: number; serverName: string; caPem: string; timeoutMs: number }): Promise<TlsProbe> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: options.address, port: options.port, servername: options.serverName, ca: [options.caPem], rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const done = (result: TlsProbe) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(options.timeoutMs, () => done({ ok: false, code: 'TIMEOUT', message: `no TLS handshake within ${options.timeoutMs} ms` }));
    socket.once('error', (error: NodeJS.ErrnoException) => done({ ok: false, code: error.code ?? 'TLS_ERROR', message: error.message }));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      if (!socket.authorized) {
        const code = String(socket.authorizationError ?? 'UNVERIFIED');
        return done({ ok: false, code, message: code === 'CERT_HAS_EXPIRED' ? `its certificate expired at ${peer?.valid_to ?? '?'}` : `its certificate does not verify (${code})` });
      }
      const nameProblem = tls.checkServerIdentity(options.serverName, peer);
      if (nameProblem) return done({ ok: false, code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: nameProblem.message });
      done({ ok: true, notAfter: Date.parse(peer.valid_to) });
    });
  });
}
