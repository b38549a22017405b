// Runs tshark (Wireshark's command-line face) to capture loopback traffic into a pcap and to
// read a pcap back as dissected fields. The interop tests use it to check that what Peerdial
// sends is SIP that a third-party dissector understands without complaint.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';

export const INSTALL_HINT = "run `sudo bash scripts/install-test-deps.sh` (it installs Debian's tshark)";
const CAPTURE_HINT = 'capturing needs root, or a user in the wireshark group with dumpcap allowed to capture (dpkg-reconfigure wireshark-common)';

/**
 * Wireshark's SIP dissector does not know our headers; declaring them as custom header fields
 * makes it dissect them into `sip.P2P-Op` and `sip.P2P-Overlay`, filterable like any other.
 */
export const OVERLAY_HEADER_PREFS = ['-o', 'uat:custom_sip_header_fields:"P2P-Op","Peerdial overlay operation"', '-o', 'uat:custom_sip_header_fields:"P2P-Overlay","Peerdial overlay name"'];

/** Expert-info severities (epan/proto.h PI_*): anything at error level means the dissector found the packet broken. */
export const EXPERT_SEVERITY = { chat: 0x00200000, note: 0x00400000, warn: 0x00600000, error: 0x00800000 } as const;

/** Throws a sentence that says how to install tshark when it is missing. */
export function requireTshark(): string {
  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`tshark is not installed (${(probe.error as NodeJS.ErrnoException).code}): ${INSTALL_HINT}`);
  const version = /TShark \(Wireshark\) (\S+)/.exec(probe.stdout)?.[1];
  if (!version) throw new Error(`\`tshark --version\` did not print a version: ${INSTALL_HINT}`);
  return version;
}

export interface Capture {
  file: string;
  /** Stops capturing (SIGINT lets tshark finish the pcap) and resolves once the file is complete. */
  stop(): Promise<void>;
}

/**
 * Captures UDP and TCP on `ports` of the loopback interface into `file`, for at most
 * `maxSeconds`. Resolves once tshark is seen capturing: a datagram sent to `probePort` (which
 * the capture filter includes, and readers should leave out) shows up in its packet summary.
 * Stopping does the same first, so nothing sent before stop() is missing from the file.
 */
export async function startCapture(options: { file: string; ports: number[]; probePort: number; maxSeconds: number; iface?: string; hosts?: string[] }): Promise<Capture> {
  const ports = [...options.ports, options.probePort].map((p) => `port ${p}`).join(' or ');
  // Traffic to or from these addresses is captured whatever its port (a client's media, say).
  const hosts = (options.hosts ?? []).map((h) => ` or host ${h}`).join('');
  const args = ['-i', options.iface ?? 'lo', '-f', `(udp or tcp) and (${ports}${hosts})`, '-w', options.file, '-a', `duration:${options.maxSeconds}`, '-P', '-l', '-n'];
  const child: ChildProcess = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let summaries = '';
  child.stdout!.on('data', (d) => (summaries += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`could not run tshark (${e.message}): ${INSTALL_HINT}`)));
    child.on('exit', (code) => resolve(code));
  });
  exited.catch(() => undefined);

  const probesSeen = () => summaries.split('\n').filter((line) => line.includes(`${options.probePort}`)).length;
  /** Sends probes until tshark has printed one more than before: every packet before it is in hand. */
  const sync = async (what: string) => {
    const before = probesSeen();
    const probe = dgram.createSocket('udp4');
    try {
      const deadline = Date.now() + 15_000;
      while (probesSeen() <= before) {
        if (child.exitCode !== null) throw new Error(`tshark exited with ${child.exitCode} ${what} (${CAPTURE_HINT}):\n${output}`);
        if (Date.now() > deadline) throw new Error(`tshark did not see a probe ${what} within 15 s:\n${output}`);
        probe.send('capture probe', options.probePort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      probe.close();
    }
  };
  try {
    await sync('before capturing');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    file: options.file,
    async stop() {
      // tshark writes what it has dissected; packets still queued behind it at SIGINT would be lost.
      if (child.exitCode === null) await sync('before stopping').catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const code = await exited;
      if (code !== 0 && code !== null) throw new Error(`tshark exited with ${code}:\n${output}`);
    },
  };
}

export type PacketFields = Record<string, string[]>;

/**
 * Reads a pcap back, one row per packet that passes `displayFilter`, with each requested field's
 * values (a field can occur several times in one packet; values must not contain `|` or tabs). Two passes, so TCP segments know the
 * frame their reassembled message ended in.
 */
export function readPackets(file: string, fields: string[], displayFilter: string, extraArgs: string[] = []): PacketFields[] {
  const args = ['-r', file, '-2', '-n', ...extraArgs, '-Y', displayFilter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=|', '-E', 'quote=n', ...fields.flatMap((f) => ['-e', f])];
  const run = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (run.error) throw new Error(`could not run tshark (${run.error.message}): ${INSTALL_HINT}`);
  if (run.status !== 0) throw new Error(`tshark ${args.join(' ')} exited with ${run.status}:\n${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const cells = line.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, cells[i] ? cells[i].split('|').filter(Boolean) : []]));
    });
}
