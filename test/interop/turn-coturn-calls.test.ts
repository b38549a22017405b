// A user's own TURN server (--turn turn:USER:PASS@HOST:PORT[?transport=tcp]) carries calls that
// have no direct path: coturn (long-term credentials) on the NAT lab's public host, the lab's two
// members not relaying, so no other relay exists. Two users behind symmetric NATs (each NAT maps
// every destination to a new port and filters by port: no direct path) talk through coturn over
// UDP; a user behind a router that drops all UDP reaches coturn over TCP. Each user plays its own
// tone; each recording must carry the other side's.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { recordedBytes, toneArgs, toneHeardSince } from '../netns/lab-tones.js';
import { callCarryingAudio, hangUpAll, labNodes, startPartnerMembers } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type Coturn, type NatLab, type RouterKind } from '../netns/nat-lab.js';

interface User {
  name: string;
  node: LanNode;
  hz: number;
  recording: string;
}

describe('calls relayed by the users\' own TURN server (coturn)', () => {
  let lab: NatLab;
  let dir: string;
  let coturn: Coturn;
  const nodes = labNodes();
  let members: string[];

  const startUser = async (name: string, router: RouterKind, hz: number, transport?: 'tcp'): Promise<User> => {
    const turn = `turn:${coturn.user}:${coturn.password}@${coturn.addresses[0]}:${coturn.port}${transport ? `?transport=${transport}` : ''}`;
    const tone = await toneArgs(dir, name, hz);
    const node = await nodes.start(await lab.addHost(await lab.addRouter(router)), [
      '--role', 'client', '--sip-port', '5060', '--user', name, '--auto-answer', '--turn', turn, ...tone.args,
      ...members.flatMap((m) => ['--bootstrap', m]),
    ]);
    return { name, node, hz, recording: tone.recording };
  };

  before(async () => {
    await requireNetnsPrivileges();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-turn-coturn-calls-'));
    lab = await makeNatLab();
    coturn = await lab.startCoturn();
    members = await startPartnerMembers(nodes, lab);
    for (const member of nodes.all) await member.invoke('relay.configure', { enabled: false });
  });

  after(async () => {
    await nodes.stopAll();
    await lab?.teardown();
    if (dir) await removeDir(dir);
  });

  /** Calls `callee` from `caller`; returns both sides' views of the call once audio flows both ways, and the tones heard. */
  async function talk(caller: User, callee: User): Promise<{ out: CallView; inbound: CallView; callerHeard?: number; calleeHeard?: number }> {
    // The callee must be found by name first (registered through its member).
    await until(`${caller.name} to find ${callee.name}`, async () => (await caller.node.invoke('overlay.lookup', { aor: callee.name })).contacts.length > 0, 30_000);
    const before = [await recordedBytes(caller.recording), await recordedBytes(callee.recording)];
    await caller.node.invoke('call.dial', { to: callee.name });
    const out = await callCarryingAudio(caller.node, `${caller.name} to hear ${callee.name}`, { peer: callee.name, packets: 100 });
    const inbound = await callCarryingAudio(callee.node, `${callee.name} to hear ${caller.name}`, { peer: caller.name, packets: 100 });
    await hangUpAll([caller.node, callee.node]);
    const [callerHeard, calleeHeard] = await Promise.all([toneHeardSince(caller.recording, before[0]), toneHeardSince(callee.recording, before[1])]);
    return { out, inbound, callerHeard, calleeHeard };
  }

  /** Relayed through coturn: our own allocation there ("relayed by your TURN server"), or the other side's (a relay candidate on coturn's address). */
  const assertThroughCoturn = (who: string, call: CallView) => {
    const path = call.quality!.path!;
    assert.equal(path.kind, 'relayed', `${who}: ${JSON.stringify(path)}`);
    assert.ok(path.text === 'relayed by your TURN server' || path.remote.startsWith(`relay ${coturn.addresses[0]}:`), `${who} is relayed by coturn: ${JSON.stringify(path)}`);
  };

  const assertHeard = (who: User, hz: number | undefined, other: User) =>
    assert.ok(hz !== undefined && Math.abs(hz - other.hz) < 25, `${who.name} heard ${hz} Hz, ${other.name} plays ${other.hz} Hz`);

  it('two users behind symmetric NATs talk through coturn over UDP', async (t) => {
    const alice = await startUser('alice', 'symmetric', 400);
    const bob = await startUser('bob', 'symmetric', 700);
    for (const user of [alice, bob]) {
      const finder = (await user.node.invoke('relay.status', {})).finder;
      assert.deepEqual(finder.relays.map((r) => [r.label, r.source, r.transport]), [['your TURN server', 'configured', 'udp']], `${user.name}'s only relay is coturn`);
    }
    const { out, inbound, callerHeard, calleeHeard } = await talk(alice, bob);
    t.diagnostic(`alice: ${JSON.stringify(out.quality!.path)}; bob: ${JSON.stringify(inbound.quality!.path)}`);
    assertThroughCoturn('alice', out);
    assertThroughCoturn('bob', inbound);
    assert.ok([out, inbound].some((c) => c.quality!.path!.text === 'relayed by your TURN server'), `one side allocated the path on coturn: ${JSON.stringify([out.quality!.path, inbound.quality!.path])}`);
    assertHeard(alice, callerHeard, bob);
    assertHeard(bob, calleeHeard, alice);
  });

  it('a user behind a router that drops UDP talks through coturn over TCP (?transport=tcp)', async (t) => {
    const carol = await startUser('carol', 'udp-blocked', 550, 'tcp');
    const dave = await startUser('dave', 'symmetric', 850);
    assert.deepEqual((await carol.node.invoke('relay.status', {})).finder.relays.map((r) => [r.label, r.transport]), [['your TURN server', 'tcp']]);
    const { out, inbound, callerHeard, calleeHeard } = await talk(carol, dave);
    t.diagnostic(`carol: ${JSON.stringify(out.quality!.path)}; dave: ${JSON.stringify(inbound.quality!.path)}`);
    // Carol has no UDP at all: only her own allocation, reached over TCP, can carry her audio.
    assert.equal(out.quality!.path!.kind, 'relayed', JSON.stringify(out.quality!.path));
    assert.equal(out.quality!.path!.text, 'relayed by your TURN server', JSON.stringify(out.quality!.path));
    assertThroughCoturn('dave', inbound);
    assertHeard(carol, callerHeard, dave);
    assertHeard(dave, calleeHeard, carol);
  });
});
