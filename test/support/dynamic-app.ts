// A small read-heavy dynamic web app for trusted rescue (the integration test and bench:rescue):
// every page is one "database query" that holds the app's single connection for `queryMs`
// (queries wait their turn, as on a small database server), and answers with `max-age=0`, so no
// ordinary cache may reuse it. A write (POST /api/items/N with the new value as its body) changes
// one item and names what it changed in a `Peerdial-Purge` header: the item and the list pages.
//   GET  /api/items/N          one item (JSON)
//   GET  /api/items?page=P     ten items
//   POST /api/items/N          sets item N's value
// Run directly (`node --import tsx test/support/dynamic-app.ts PORT [QUERY-MS] [ITEMS]`) it
// listens on 127.0.0.1:PORT and prints "dynamic app ready".
import http from 'node:http';

export interface DynamicApp {
  url: string;
  port: number;
  /** Queries run (reads and writes). */
  readonly queries: number;
  /** Item N's current value. */
  value(n: number): string;
  close(): Promise<void>;
}

const PAD = 'x'.repeat(3_000);

export async function startDynamicApp(options: { port?: number; host?: string; queryMs: number; items: number }): Promise<DynamicApp> {
  const values = Array.from({ length: options.items }, (_, i) => `v0-${i}`);
  const versions = new Array<number>(options.items).fill(0);
  let queries = 0;
  let connection = Promise.resolve();
  /** One query at a time on the one connection, each taking queryMs. */
  const query = <T>(work: () => T): Promise<T> => {
    const run = connection.then(async () => {
      queries++;
      await new Promise((r) => setTimeout(r, options.queryMs));
      return work();
    });
    connection = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
  const item = (n: number) => ({ id: n, value: values[n], version: versions[n], description: PAD });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const one = /^\/api\/items\/(\d+)$/.exec(url.pathname);
    const n = one ? Number(one[1]) : -1;
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'max-age=0', 'content-length': String(Buffer.byteLength(text)), ...extra });
      res.end(text);
    };
    if (one && (n < 0 || n >= options.items)) return send(404, { error: 'no such item' });
    if (one && req.method === 'POST') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        void query(() => {
          values[n] = body.slice(0, 200);
          versions[n]++;
        }).then(() => send(200, item(n), { 'peerdial-purge': '/api/items?' }));
      });
      return;
    }
    if (one && req.method === 'GET') {
      void query(() => item(n)).then((body) => send(200, body));
      return;
    }
    if (url.pathname === '/api/items' && req.method === 'GET') {
      const page = Math.max(0, Math.floor(Number(url.searchParams.get('page') ?? 0)) || 0);
      void query(() => values.slice(page * 10, page * 10 + 10).map((_, i) => item(page * 10 + i))).then((body) => send(200, body));
      return;
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    get queries() {
      return queries;
    },
    value: (i) => values[i],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1]?.endsWith('dynamic-app.ts')) {
  const [port, queryMs, items] = process.argv.slice(2).map(Number);
  void startDynamicApp({ port, host: process.env.DYNAMIC_APP_HOST ?? '127.0.0.1', queryMs: queryMs || 10, items: items || 200 }).then(() => process.stdout.write('dynamic app ready\n'));
}
