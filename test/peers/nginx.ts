// A real web server for the rescue path: Debian's nginx-light, one worker in the foreground,
// serving a directory on 127.0.0.1 with its own ETag and Last-Modified, and the Cache-Control
// a test chooses. Everything it writes (pid, logs, temp files) stays in its own temp dir.
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/node-process.js';

export const NGINX_INSTALL_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs Debian\'s nginx-light)';

/** Throws a sentence that says how to install nginx when it is missing; returns its version. */
export function requireNginx(): string {
  const probe = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`nginx is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${NGINX_INSTALL_HINT}`);
  const version = /nginx\/(\S+)/.exec(probe.stdout + probe.stderr)?.[1];
  if (!version) throw new Error(`\`nginx -v\` did not print a version: ${NGINX_INSTALL_HINT}`);
  return version;
}

export interface Nginx {
  url: string;
  /** The access log so far: one line per request, `STATUS PATH`. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Serves `root` (made readable to nginx's worker) with `Cache-Control: cacheControl` on every file.
 * nginx cannot bind port 0 and say which port it got, so the port is picked first; when another
 * socket takes it before nginx binds it, nginx exits ("Address already in use") and this starts
 * it again on a fresh port.
 */
export async function startNginx(options: { root: string; cacheControl: string }): Promise<Nginx> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNginxOnce(options);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof PortTaken)) throw error;
    }
  }
}

class PortTaken extends Error {}

async function startNginxOnce(options: { root: string; cacheControl: string }): Promise<Nginx> {
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'peerdial-nginx-'));
  const port = await freePort();
  // The worker runs as nobody: it must be able to read the files.
  await chmod(options.root, 0o755);
  const p = (name: string) => path.join(prefix, name);
  await writeFile(
    p('nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  log_format brief '$status $request_uri';
  access_log ${p('access.log')} brief;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${options.root};
    etag on;
    location / { add_header Cache-Control "${options.cacheControl}"; }
  }
}
`,
  );
  const child = spawn('nginx', ['-c', p('nginx.conf'), '-p', prefix, '-e', p('error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  // 'close': exited, and everything it wrote is read (the reason it stopped is in `out`).
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  // nginx writes its pid file only once its listening sockets are open: until then a connection
  // to the port may reach whatever socket took it meanwhile, not nginx.
  const ownsPort = async () => (await readFile(p('nginx.pid'), 'utf8').catch(() => '')).trim() === String(child.pid);
  const deadline = Date.now() + 10_000;
  while (!((await ownsPort()) && (await accepts(port)))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited;
      await rm(prefix, { recursive: true, force: true });
      const why = `nginx exited with ${child.exitCode ?? child.signalCode}:\n${out}`;
      throw /Address already in use/.test(out) ? new PortTaken(why) : new Error(why);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      await rm(prefix, { recursive: true, force: true });
      throw new Error(`nginx did not listen within 10 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    accessLog: async () => (await readFile(p('access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop: async () => {
      // SIGQUIT: a graceful stop of master and worker.
      if (child.exitCode === null) child.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
