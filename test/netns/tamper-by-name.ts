// Run inside a test LAN's namespace: a dishonest rescuer's front. It passes every request to the
// real rescue server behind it, and flips one byte of each body served by a site's name (Host is
// not an address), leaving /r/ requests by address untouched: only a check by name catches it.
// Usage: tamper-by-name.ts LISTEN-HOST LISTEN-PORT REAL-PORT   (prints "ready" once listening)
import http from 'node:http';
import { isIP } from 'node:net';

const [host, port, realPort] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  const byName = !isIP((req.headers.host ?? '').replace(/:\d+$/, ''));
  const up = http.request({ host, port: Number(realPort), path: req.url, method: req.method, headers: req.headers }, (upRes) => {
    const chunks: Buffer[] = [];
    upRes.on('data', (c: Buffer) => chunks.push(c));
    upRes.on('end', () => {
      const body = Buffer.concat(chunks);
      if (byName && body.length > 100) body[100] ^= 0xff;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      res.end(body);
    });
  });
  up.on('error', () => res.destroy());
  up.end();
});
server.listen(Number(port), host, () => process.stdout.write('ready\n'));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
