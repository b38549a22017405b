// The web site the rescue benchmark (bench/rescue.ts) rescues: a generated set of static files of
// realistic sizes and an nginx (Debian's nginx-light) that serves them with one worker, as the
// origin's own web server. Everything nginx writes (pid, logs, temp files) stays in a temp dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { seededRandom } from '../test/support/random.js';

export interface SiteFile {
  /** URL path, e.g. /static/f017.bin. */
  path: string;
  size: number;
  /** SHA-1 of the body (hex), so the load generator can tell an altered body from the real one. */
  sha1: string;
}

export interface SiteMix {
  files: number;
  /** The log-normal the sizes are the quantiles of: median and sigma (of ln size). */
  medianBytes: number;
  sigma: number;
  minBytes: number;
  maxBytes: number;
  /** What came out: smallest, median, mean, largest, total. */
  actual: { min: number; p50: number; mean: number; p90: number; max: number; totalBytes: number };
}

export interface Site {
  root: string;
  files: SiteFile[];
  /** A file of exactly 10 KB (not part of the mix the load generator draws from): the wrk target. */
  tenKb: SiteFile;
  mix: SiteMix;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation; |error| < 1.2e-9). */
function probit(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Writes `files` static files whose sizes are the evenly spaced quantiles of a log-normal
 * (median 16 KB, sigma 1.4 by default: about 1 KB to 450 KB, mean about 42 KB, as the objects
 * of a web page are), clamped to [1 KB, 500 KB], in a shuffled order so that size does not follow
 * the name. Bodies are seeded pseudo-random bytes: incompressible, and reproducible from the seed.
 */
export async function generateSite(root: string, options: { files?: number; medianBytes?: number; sigma?: number; seed?: number } = {}): Promise<Site> {
  const count = options.files ?? 60;
  const medianBytes = options.medianBytes ?? 16 * 1024;
  const sigma = options.sigma ?? 1.4;
  const minBytes = 1024;
  const maxBytes = 500 * 1024;
  const random = seededRandom(options.seed ?? 20_240_601);
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    const z = probit((i + 0.5) / count);
    sizes.push(Math.min(maxBytes, Math.max(minBytes, Math.round(medianBytes * Math.exp(sigma * z)))));
  }
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j], sizes[i]];
  }
  const dir = path.join(root, 'static');
  await mkdir(dir, { recursive: true });
  const write = async (name: string, size: number): Promise<SiteFile> => {
    const words = new Uint32Array(Math.ceil(size / 4));
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(random() * 2 ** 32);
    const body = Buffer.from(words.buffer, 0, size);
    await writeFile(path.join(dir, name), body);
    return { path: `/static/${name}`, size, sha1: createHash('sha1').update(body).digest('hex') };
  };
  const files: SiteFile[] = [];
  for (let i = 0; i < count; i++) files.push(await write(`f${String(i).padStart(3, '0')}.bin`, sizes[i]));
  const tenKb = await write('ten-kb.bin', 10 * 1024);
  await writeFile(path.join(root, 'index.html'), '<!doctype html><title>rescue bench</title><p>a site with static files</p>\n');
  // nginx's worker runs as nobody: let it read what mkdtemp made private.
  await chmod(root, 0o755);
  await chmod(dir, 0o755);
  const sorted = [...sizes].sort((a, b) => a - b);
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    root,
    files,
    tenKb,
    mix: {
      files: count,
      medianBytes,
      sigma,
      minBytes,
      maxBytes,
      actual: {
        min: sorted[0],
        p50: sorted[Math.floor(count / 2)],
        mean: Math.round(total / count),
        p90: sorted[Math.floor(count * 0.9)],
        max: sorted[count - 1],
        totalBytes: total,
      },
    },
  };
}

/**
 * nginx.conf for one worker in the foreground. `listen` is every HOST:PORT it serves on. Static
 * files get nginx's own ETag and Last-Modified, plus Cache-Control so that they are cacheable
 * (what lets a rescue server keep them). No access log: it would cost the one worker time.
 */
export function nginxConfig(options: { prefix: string; root: string; listen: string[]; user?: string }): string {
  const p = (name: string) => path.join(options.prefix, name);
  return `# Written by bench/rescue-nginx.ts
worker_processes 1;
daemon off;
master_process on;
${options.user ? `user ${options.user};\n` : ''}pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
worker_rlimit_nofile 65536;
events {
  worker_connections 16384;
  multi_accept on;
}
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  types { application/octet-stream bin; }
  access_log off;
  sendfile on;
  # tcp_nopush stalled 100 KB responses by ~40 ms on loopback (shared/RECIPES.md).
  tcp_nopush off;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  server {
${options.listen.map((l) => `    listen ${l} backlog=4096;`).join('\n')}
    server_name _;
    root ${options.root};
    etag on;
    location / {
      add_header Cache-Control "public, max-age=300";
    }
  }
}
`;
}

export interface Nginx {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts nginx with `config` written under `prefix`, inside `ns` (a network namespace) when
 * given, and waits until `probe` (HOST:PORT) accepts connections. `probe` must be reachable from
 * where this process runs: from the root namespace pass undefined and the wait uses `ip netns
 * exec` to test the port inside the namespace.
 */
export async function startNginx(options: { prefix: string; config: string; ns?: string; probe: string }): Promise<Nginx> {
  await mkdir(options.prefix, { recursive: true });
  const conf = path.join(options.prefix, 'nginx.conf');
  await writeFile(conf, options.config);
  const args = ['-c', conf, '-p', options.prefix, '-e', path.join(options.prefix, 'error.log')];
  const child = options.ns
    ? spawn('ip', ['netns', 'exec', options.ns, 'nginx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : // Its own process group outside a namespace, so that killing the group takes its worker too.
      spawn('nginx', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const [host, port] = [options.probe.slice(0, options.probe.lastIndexOf(':')), Number(options.probe.slice(options.probe.lastIndexOf(':') + 1))];
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${out}`);
    const open = options.ns ? await portOpenIn(options.ns, host, port) : await portOpen(host, port);
    if (open) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen on ${options.probe} within 10 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM: nginx's fast shutdown (master and worker).
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function portOpenIn(ns: string, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    // bash's /dev/tcp: no extra tool needed inside the namespace.
    const c = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code === 0));
    c.on('error', () => resolve(false));
  });
}
