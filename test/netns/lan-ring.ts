// Three hosts on one bridge, each running `peerdial node --data-dir D --user NAME` and nothing
// more, until they form one ring: for the LAN discovery tests and bench:lan (how long it takes).
import type { OverlayStatus } from '../../native/control/api.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { makeLan, type NetnsLan } from './lan.js';
import { startLanNode, type LanNode } from './lan-node.js';

export const RING_NAMES = ['alice', 'bob', 'carol'];

export interface RingOptions {
  /** iptables drops mDNS on every host: the multicast REGISTER alone is left. */
  blockMdns?: boolean;
  args?: string[];
  /** SIP bound to each host's address instead of all addresses. */
  bindToAddress?: boolean;
}

export interface LanRing {
  lan: NetnsLan;
  nodes: LanNode[];
  /** From starting the three processes to one ring in ID order. */
  ringMs: number;
  stop(): Promise<void>;
}

/** Undefined when the nodes form one ring in ID order (each one's successor and predecessor are its neighbours), else what is wrong. */
export function ringProblem(statuses: OverlayStatus[]): string | undefined {
  const sorted = [...statuses].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i];
    const next = sorted[(i + 1) % sorted.length].nodeId;
    const previous = sorted[(i + sorted.length - 1) % sorted.length].nodeId;
    if (s.successors[0]?.id !== next) return `${s.aor}: successor ${s.successors[0]?.id ?? 'none'} instead of ${next}`;
    if (s.predecessor?.id !== previous) return `${s.aor}: predecessor ${s.predecessor?.id ?? 'none'} instead of ${previous}`;
  }
  return undefined;
}

/** Starts the three nodes and waits (up to `waitMs`) for the ring; stop() removes everything. */
export async function formLanRing(options: RingOptions, waitMs = 30_000): Promise<LanRing> {
  const lan = await makeLan({ hosts: 3 });
  const nodes: LanNode[] = [];
  const dataDirs: string[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await lan.teardown();
    await Promise.all(dataDirs.map(removeDir));
  };
  try {
    if (options.blockMdns) for (const host of lan.hosts) await lan.blockMdns(host);
    dataDirs.push(...(await Promise.all(RING_NAMES.map(() => tempDataDir('peerdial-lan-')))));
    const started = Date.now();
    nodes.push(...(await Promise.all(lan.hosts.map((host, i) => startLanNode(host, ['--data-dir', dataDirs[i], '--user', RING_NAMES[i], ...(options.bindToAddress ? ['--bind', host.address] : []), ...(options.args ?? [])])))));
    let last = '';
    await until(
      'all three in one ring',
      async () => {
        const statuses = await Promise.all(nodes.map((n) => n.invoke('overlay.status', {})));
        last = ringProblem(statuses) ?? '';
        return last === '';
      },
      waitMs,
      () => `${last}\n${nodes.map((n) => n.output()).join('\n---\n')}`,
      50,
    );
    return { lan, nodes, ringMs: Date.now() - started, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
