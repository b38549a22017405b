// avahi (the mDNS responder of Linux desktops) inside one namespace of a test LAN, with a private
// system D-Bus of its own, so that avahi-browse and avahi-publish can be run there. Nothing of
// the host's D-Bus or avahi is touched; the processes die with the namespace.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runIn, spawnIn, type LanHost } from './lan.js';

export interface Avahi {
  /** Its files (configuration, bus socket): the caller removes them. */
  dir: string;
  /** Environment for avahi-browse and avahi-publish: the private bus. */
  env: NodeJS.ProcessEnv;
  /** avahi-browse -r -t -p TYPE: resolved services, one parsed line each. */
  browse(type: string): Promise<BrowsedService[]>;
  /** avahi-publish -s NAME TYPE PORT TXT...: published until stop(). */
  publish(name: string, type: string, port: number, txt: string[]): ChildProcess;
  output(): string;
}

export interface BrowsedService {
  iface: string;
  name: string;
  type: string;
  host: string;
  address: string;
  port: number;
  txt: string[];
}

export async function startAvahi(host: LanHost): Promise<Avahi> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-avahi-'));
  const bus = `unix:path=${path.join(dir, 'bus')}`;
  await writeFile(
    path.join(dir, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
  );
  await writeFile(
    path.join(dir, 'avahi.conf'),
    `[server]
host-name=avahi-${host.address.split('.').pop()}
use-ipv4=yes
use-ipv6=no
allow-interfaces=${host.iface}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
`,
  );
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus };
  let out = '';
  const keep = (child: ChildProcess) => {
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    return child;
  };
  keep(spawnIn(host.ns, 'dbus-daemon', [`--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--nopidfile'], { env }));
  await waitFor(async () => (await runIn(host.ns, 'sh', ['-c', `test -S ${path.join(dir, 'bus')}`]).then(() => true, () => false)), 'the private D-Bus', () => out);
  // avahi-daemon keeps its pid file and socket in /run/avahi-daemon: a tmpfs of its own there,
  // in the private mount namespace `ip netns exec` gives it, so the host's /run is left alone.
  keep(
    spawnIn(host.ns, 'sh', ['-c', `mount -t tmpfs none /run && mkdir -p /run/avahi-daemon && exec avahi-daemon -f ${path.join(dir, 'avahi.conf')} --no-chroot --no-drop-root --no-rlimits`], { env }),
  );
  const avahi: Avahi = {
    dir,
    env,
    async browse(type) {
      const { stdout } = await runIn(host.ns, 'env', [`DBUS_SYSTEM_BUS_ADDRESS=${bus}`, 'avahi-browse', '-r', '-t', '-p', '-k', type], 10_000);
      return stdout
        .split('\n')
        .filter((line) => line.startsWith('='))
        .map(parseResolvedLine);
    },
    publish(name, type, port, txt) {
      return keep(spawnIn(host.ns, 'avahi-publish', ['-s', name, type, String(port), ...txt], { env }));
    },
    output: () => out,
  };
  await waitFor(async () => avahi.browse('_peerdial._udp').then(() => true, () => false), 'avahi-daemon on the bus', () => out);
  return avahi;
}

/** `=;eth0;IPv4;NAME;TYPE;local;HOST;ADDRESS;PORT;"k=v" "k=v"`: avahi-browse -p -r, names with \DDD escapes. */
function parseResolvedLine(line: string): BrowsedService {
  const fields = line.split(';');
  const txt = [...(fields.slice(9).join(';').matchAll(/"((?:[^"\\]|\\.)*)"/g))].map((m) => m[1]);
  return {
    iface: fields[1],
    name: fields[3].replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(Number(d))),
    type: fields[4],
    host: fields[6],
    address: fields[7],
    port: Number(fields[8]),
    txt,
  };
}

async function waitFor(probe: () => Promise<boolean>, what: string, output: () => string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${ms} ms:\n${output()}`);
}
