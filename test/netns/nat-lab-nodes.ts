// Peerdial nodes in the NAT lab, for the tests and the benchmark: each started with its own data
// directory, fast Chord timers and no LAN discovery, and all stopped and removed together.
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startLanNode, type LanNode } from './lan-node.js';
import type { LabHost, NatLab, RouterKind } from './nat-lab.js';
import type { CallView, RelayView } from '../../native/control/api.js';

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

/** A member on a public host of its own that relays calls ("Relay calls for others"), once its relay runs and is advertised. */
export async function startRelayMember(nodes: LabNodes, lab: NatLab, members: string[], name: string): Promise<LanNode> {
  const node = await nodes.start(await lab.addPublicHost(), ['--role', 'member', '--sip-port', '5060', '--user', name, '--relay', ...members.flatMap((m) => ['--bootstrap', m])]);
  let view: RelayView | undefined;
  await until(`${name}'s relay to run and be advertised`, async () => {
    view = await node.invoke('relay.status', {});
    return view.server.state === 'running' && view.server.advertised;
  }, 30_000, () => JSON.stringify(view?.server));
  return node;
}

/** Waits until `user` keeps `count` relays ready (credentials in hand) for its calls. */
export async function relaysReady(user: LanNode, count: number): Promise<void> {
  let view: RelayView | undefined;
  await until('relays to be ready', async () => {
    view = await user.invoke('relay.status', {});
    return view.finder.relays.filter((r) => r.ready).length >= count;
  }, 30_000, () => JSON.stringify(view?.finder));
}

/** The user's active call (with `peer` in its URI) once ICE has a path and `packets` more have arrived than `after`. */
export async function callCarryingAudio(user: LanNode, what: string, options: { peer?: string; after?: number; packets?: number; ms?: number } = {}): Promise<CallView> {
  let last: CallView[] = [];
  return until(what, async () => {
    last = await user.invoke('call.list', {});
    const call = last.find((c) => c.state === 'active' && (options.peer === undefined || c.peer.includes(options.peer)));
    return call?.quality?.path && call.quality.packetsReceived >= (options.after ?? 0) + (options.packets ?? 50) ? call : undefined;
  }, options.ms ?? 20_000, () => JSON.stringify(last.map((c) => c.quality)));
}

/** Hangs up every call of these users and waits until each has none left. */
export async function hangUpAll(users: LanNode[]): Promise<void> {
  for (const user of users) for (const call of await user.invoke('call.list', {})) if (call.state !== 'ended') await user.invoke('call.hangup', { id: call.id }).catch(() => undefined);
  for (const user of users) await until('the calls to end', async () => (await user.invoke('call.list', {})).every((c) => c.state === 'ended'), 10_000);
}

/** Where a user sits for the media tests: on the public network, or behind a router of a kind. */
export type CallPlace = 'public' | Exclude<RouterKind, 'upnp'>;
export const CALL_PLACES: CallPlace[] = ['public', 'full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'double', 'udp-blocked'];
/** Routers that filter by port: a symmetric NAT's fresh mapping towards the peer never gets in. */
const PORT_FILTERING: CallPlace[] = ['port-restricted', 'double', 'symmetric'];

/** The path ICE must find between two places: direct wherever the NATs let checks through, relayed only where they cannot. */
export function expectedMediaPath(a: CallPlace, b: CallPlace): 'direct' | 'relayed' {
  if (a === 'udp-blocked' || b === 'udp-blocked') return 'relayed';
  if ((a === 'symmetric' && PORT_FILTERING.includes(b)) || (b === 'symmetric' && PORT_FILTERING.includes(a))) return 'relayed';
  return 'direct';
}

/** A user with a tone of their own, recorded, behind `place` (two per place make same-kind pairs possible). */
export async function startCallUser(nodes: LabNodes, lab: NatLab, members: string[], place: CallPlace, name: string, tone: string, recording: string): Promise<LanNode> {
  const host = place === 'public' ? await lab.addPublicHost() : await lab.addHost(await lab.addRouter(place));
  return nodes.start(host, [
    ...(place === 'public' ? ['--role', 'member'] : ['--role', 'client']),
    '--sip-port', '5060', '--user', name, '--auto-answer', '--play', tone, '--record', recording,
    ...members.flatMap((m) => ['--bootstrap', m]),
  ]);
}
