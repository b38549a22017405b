// Calls with audio both ways between users behind every pair of router kinds in the NAT lab
// (test/netns/nat-lab.ts), found by name through the overlay. ICE picks the path: direct
// wherever the two NATs let checks through, relayed by a member's TURN server only where they
// cannot (a symmetric NAT facing one that filters by port, and the firewall that drops UDP,
// which gets through over TURN on TCP). Each user plays its own tone; each recording must carry
// the other side's.
import assert from 'node:assert/strict';
import { mkdtemp, open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { toneHz, writeTone } from '../support/calls.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { labNodes, startPartnerMembers } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type NatLab, type RouterKind } from '../netns/nat-lab.js';

type Place = 'public' | Exclude<RouterKind, 'upnp'>;
const PLACES: Place[] = ['public', 'full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'double', 'udp-blocked'];
/** Routers that filter by port: a symmetric NAT's fresh mapping towards the peer never gets in. */
const PORT_FILTERING: Place[] = ['port-restricted', 'double', 'symmetric'];

/** Where ICE must find a direct path, and where only a relay can carry the audio. */
function expectedPath(a: Place, b: Place): 'direct' | 'relayed' {
  if (a === 'udp-blocked' || b === 'udp-blocked') return 'relayed';
  if ((a === 'symmetric' && PORT_FILTERING.includes(b)) || (b === 'symmetric' && PORT_FILTERING.includes(a))) return 'relayed';
  return 'direct';
}

interface User {
  place: Place;
  name: string;
  node: LanNode;
  hz: number;
  recording: string;
}

/** The samples a recording gained since `fromByte` (the recorder appends 16-bit PCM as calls go on). */
async function samplesSince(file: string, fromByte: number): Promise<Int16Array> {
  const size = (await stat(file)).size;
  const handle = await open(file, 'r');
  try {
    const length = (size - fromByte) & ~1;
    const bytes = Buffer.alloc(Math.max(0, length));
    await handle.read(bytes, 0, bytes.length, fromByte);
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  } finally {
    await handle.close();
  }
}

describe('calls through every pair of NATs', () => {
  let lab: NatLab;
  let dir: string;
  const nodes = labNodes();
  /** Two users in each place, so a pair of the same kind sits behind two routers. */
  const users = new Map<string, User>();

  before(async () => {
    await requireNetnsPrivileges();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-nat-calls-'));
    lab = await makeNatLab();
    const members = await startPartnerMembers(nodes, lab);
    let index = 0;
    for (const place of PLACES) {
      for (const copy of ['a', 'b']) {
        const host = place === 'public' ? await lab.addPublicHost() : await lab.addHost(await lab.addRouter(place));
        const name = `${place.replace(/-/g, '')}${copy}`;
        const hz = 300 + 100 * index++;
        const recording = path.join(dir, `${name}.wav`);
        const node = await nodes.start(host, [
          ...(place === 'public' ? ['--role', 'member'] : ['--role', 'client']),
          '--sip-port', '5060', '--user', name, '--auto-answer',
          '--play', await writeTone(path.join(dir, `${name}-tone.wav`), hz, 30),
          '--record', recording,
          ...members.flatMap((m) => ['--bootstrap', m]),
        ]);
        users.set(name, { place, name, node, hz, recording });
      }
    }
    // Users behind NATs keep two relays ready (credentials in hand) before anyone calls.
    for (const user of users.values()) {
      if (user.place === 'public') continue;
      await until(`${user.name}'s relays to be ready`, async () => (await user.node.invoke('relay.status', {})).finder.relays.filter((r) => r.ready).length >= 2, 30_000);
    }
  });

  after(async () => {
    await nodes.stopAll();
    await lab?.teardown();
    if (dir) await removeDir(dir);
  });

  const activeCall = async (user: User, peer: string | undefined, what: string): Promise<CallView> => {
    let last: CallView[] = [];
    return until(what, async () => {
      last = await user.node.invoke('call.list', {});
      const call = last.find((c) => c.state === 'active' && (peer === undefined || c.peer.includes(peer)));
      return call?.quality?.path && call.quality.packetsReceived >= 100 ? call : undefined;
    }, 20_000, () => JSON.stringify(last));
  };

  for (let i = 0; i < PLACES.length; i++) {
    for (let j = i; j < PLACES.length; j++) {
      const [from, to] = [PLACES[i], PLACES[j]];
      const expected = expectedPath(from, to);
      it(`${from} calls ${to}: audio both ways, ${expected}`, async () => {
        const caller = users.get(`${from.replace(/-/g, '')}a`)!;
        const callee = users.get(`${to.replace(/-/g, '')}b`)!;
        const heardBefore = [(await stat(caller.recording)).size, (await stat(callee.recording)).size];
        const dialled = await caller.node.invoke('call.dial', { to: callee.name });
        const out = await activeCall(caller, callee.name, `${caller.name}'s call to ${callee.name} to carry audio`);
        const inbound = await activeCall(callee, caller.name, `${callee.name} to hear ${caller.name}`);
        await caller.node.invoke('call.hangup', { id: dialled.id });
        await until(`${callee.name}'s call to end`, async () => !(await callee.node.invoke('call.list', {})).some((c) => c.state !== 'ended'), 10_000);

        assert.equal(out.quality!.path!.kind, expected, `${caller.name} → ${callee.name}: ${JSON.stringify(out.quality!.path)}`);
        assert.equal(inbound.quality!.path!.kind, expected, `${callee.name} ← ${caller.name}: ${JSON.stringify(inbound.quality!.path)}`);
        // Each recording gained the other side's tone.
        const [callerHeard, calleeHeard] = await Promise.all([samplesSince(caller.recording, heardBefore[0]), samplesSince(callee.recording, heardBefore[1])]);
        const callerHz = toneHz(callerHeard);
        const calleeHz = toneHz(calleeHeard);
        assert.ok(callerHz !== undefined && Math.abs(callerHz - callee.hz) < 25, `${caller.name} heard ${callerHz} Hz, ${callee.name} plays ${callee.hz} Hz`);
        assert.ok(calleeHz !== undefined && Math.abs(calleeHz - caller.hz) < 25, `${callee.name} heard ${calleeHz} Hz, ${caller.name} plays ${caller.hz} Hz`);
      });
    }
  }
});
