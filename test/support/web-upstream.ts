// A small web server standing in for a site's own server behind `peerdial origin`: files of
// known content with validators and freshness, a page that may not be cached, and a count of
// what it served. Real HTTP on 127.0.0.1.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

export interface WebUpstream {
  url: string;
  /** Path -> body. */
  files: Map<string, Buffer>;
  served: number;
  /** How many times /dynamic was made. */
  dynamic: number;
  digest(path: string): string;
  close(): Promise<void>;
}

/** `count` files /f/0.bin ... of sizes spread from minBytes to maxBytes, cacheable for maxAge seconds; /private is never cacheable; /dynamic is new each time, cacheable for 1 s. */
export async function startWebUpstream(options: { count: number; minBytes: number; maxBytes: number; maxAge?: number }): Promise<WebUpstream> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < options.count; i++) {
    const size = Math.round(options.minBytes + ((options.maxBytes - options.minBytes) * i) / Math.max(1, options.count - 1));
    files.set(`/f/${i}.bin`, randomBytes(size));
  }
  const started = new Date().toUTCString();
  const state = { served: 0, dynamic: 0 };
  const server = http.createServer((req, res) => {
    state.served++;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/dynamic') {
      // A page made anew for every request, which the site lets shared caches keep for 1 s
      // (micro-caching), sent chunked as dynamic pages usually are.
      state.dynamic++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=1', date: new Date().toUTCString() });
      res.write(JSON.stringify({ generation: state.dynamic, at: Date.now() }));
      res.end();
      return;
    }
    if (path === '/private') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'private, no-store', 'set-cookie': 'session=1' });
      res.end('for you only\n');
      return;
    }
    const body = files.get(path);
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const etag = `"${createHash('sha1').update(body).digest('hex').slice(0, 16)}"`;
    const headers = { 'content-type': 'application/octet-stream', 'cache-control': `public, max-age=${options.maxAge ?? 60}`, etag, 'last-modified': started, date: new Date().toUTCString() };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    get served() {
      return state.served;
    },
    get dynamic() {
      return state.dynamic;
    },
    digest: (path) => createHash('sha256').update(files.get(path)!).digest('hex'),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
