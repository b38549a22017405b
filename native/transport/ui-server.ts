// The browser face: serves the built renderer on 127.0.0.1 behind the access token, and
// hands WebSocket upgrades to the control adapter.
import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import path from 'node:path';

export interface UiServerOptions {
  host: string;
  port: number;
  token: string;
  /** The built renderer (index.html and assets/). */
  rendererDir: string;
  onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.wav': 'audio/wav',
};

const COOKIE = 'peerdial_token';

export class UiServer {
  private server?: http.Server;
  port = 0;
  refused = 0;

  constructor(private readonly options: UiServerOptions) {}

  get origin(): string {
    return `http://${this.options.host}:${this.port}`;
  }
  get url(): string {
    return `${this.origin}/?token=${this.options.token}`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.serve(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.on('upgrade', (req, socket, head) => {
      if (!this.options.onUpgrade(req, socket, head)) socket.destroy();
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'EADDRINUSE' ? Object.assign(new Error(`UI port ${this.options.port} is already in use`), { code: 'PORT_IN_USE' }) : e),
      );
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const fromQuery = url.searchParams.get('token');
    const fromCookie = parseCookie(req.headers.cookie ?? '')[COOKIE];
    const authorised = [fromQuery, fromCookie].some((t) => t !== undefined && t !== null && same(t, this.options.token));
    const common = {
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...common, allow: 'GET, HEAD' }).end();
      return;
    }
    if (!authorised) {
      this.refused++;
      res
        .writeHead(401, { ...common, 'content-type': 'text/plain; charset=utf-8' })
        .end('Peerdial: this page needs its access token. Open the URL that `peerdial node` printed (it ends in ?token=...).\n');
      return;
    }
    const file = await this.resolveFile(url.pathname);
    if (!file) {
      res.writeHead(404, { ...common, 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return;
    }
    const headers: Record<string, string> = {
      ...common,
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-security-policy': [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        `connect-src 'self' ws://${this.options.host}:${this.port}`,
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
    };
    if (fromQuery) headers['set-cookie'] = `${COOKIE}=${this.options.token}; HttpOnly; SameSite=Strict; Path=/`;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  }

  private async resolveFile(pathname: string): Promise<string | undefined> {
    const root = path.resolve(this.options.rendererDir);
    const wanted = pathname === '/' ? '/index.html' : decodeURIComponent(pathname);
    const file = path.resolve(root, '.' + wanted);
    if (!file.startsWith(root + path.sep)) return undefined;
    try {
      if ((await stat(file)).isFile()) return file;
    } catch {
      // fall through to the app shell
    }
    // Client-side routes get the app shell; missing assets get a 404.
    return path.extname(wanted) ? undefined : path.join(root, 'index.html');
  }
}

function parseCookie(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
