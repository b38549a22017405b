// Peerdial nodes in the NAT lab, for the tests and the benchmark: each started with its own data
// directory, fast Chord timers and no LAN discovery, and all stopped and removed together.
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startLanNode, type LanNode } from './lan-node.js';
import type { LabHost, NatLab } from './nat-lab.js';

export const CHORD_ENV = { PEERDIAL_CHORD: '{"stabilizeMs":300,"fixFingersMs":200,"checkPredecessorMs":500,"replicateMs":2000}' };
export const QUIET = ['--no-mdns', '--no-multicast-register', '--refresh-seconds', '5'];

export interface LabNodes {
  readonly all: LanNode[];
  /** Starts a node on `host`; `dataDir` keeps one across restarts (removed at the end all the same). */
  start(host: LabHost, args: string[], dataDir?: string): Promise<LanNode>;
  stopAll(): Promise<void>;
}

export function labNodes(prefix = 'peerdial-natlab-'): LabNodes {
  const dirs: string[] = [];
  const all: LanNode[] = [];
  return {
    all,
    async start(host, args, dataDir) {
      const dir = dataDir ?? (await tempDataDir(prefix));
      if (!dirs.includes(dir)) dirs.push(dir);
      const node = await startLanNode(host, ['--data-dir', dir, ...QUIET, ...args], CHORD_ENV);
      all.push(node);
      return node;
    },
    async stopAll() {
      await Promise.all(all.map((n) => n.stop().catch(() => undefined)));
      await Promise.all(dirs.map(removeDir));
    },
  };
}

/**
 * The two members on the public host (mona on .10, mark on .11, both on port 5060, so they answer
 * RFC 5780 tests for each other as partners); returns their HOST:PORT, to bootstrap from.
 */
export async function startPartnerMembers(nodes: LabNodes, lab: NatLab): Promise<string[]> {
  const [a, b] = lab.publicHost.addresses;
  const members = [`${a}:5060`, `${b}:5060`];
  await nodes.start(lab.publicHost, ['--bind', a, '--sip-port', '5060', '--user', 'mona']);
  await nodes.start(lab.publicHost, ['--bind', b, '--sip-port', '5060', '--user', 'mark', '--bootstrap', members[0]]);
  return members;
}

/** Sends messages from `sender` to the user `name` until one is delivered (or read), for up to 30 s. */
export async function messageDelivered(sender: LanNode, name: string): Promise<void> {
  await until(`a message to ${name}`, async () => {
    const sent = await sender.invoke('im.send', { to: name, text: `hello ${name}` }).catch(() => undefined);
    if (!sent) return false;
    const status = await until('a final status', async () => {
      const m = (await sender.invoke('im.history', { peer: name })).find((x) => x.id === sent.id);
      return m && m.status !== 'sending' ? m.status : undefined;
    });
    return status === 'delivered' || status === 'read';
  }, 30_000);
}
