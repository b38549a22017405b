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
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { toneHz, writeTone } from '../support/calls.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { CALL_PLACES, callCarryingAudio, expectedMediaPath, labNodes, relaysReady, startCallUser, startPartnerMembers, type CallPlace } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type NatLab } from '../netns/nat-lab.js';

interface User {
  place: CallPlace;
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
    for (const place of CALL_PLACES) {
      for (const copy of ['a', 'b']) {
        const name = `${place.replace(/-/g, '')}${copy}`;
        const hz = 300 + 100 * index++;
        const recording = path.join(dir, `${name}.wav`);
        const node = await startCallUser(nodes, lab, members, place, name, await writeTone(path.join(dir, `${name}-tone.wav`), hz, 30), recording);
        users.set(name, { place, name, node, hz, recording });
      }
    }
    // Users behind NATs keep two relays ready (credentials in hand) before anyone calls.
    for (const user of users.values()) if (user.place !== 'public') await relaysReady(user.node, 2);
  });

  after(async () => {
    await nodes.stopAll();
    await lab?.teardown();
    if (dir) await removeDir(dir);
  });

  for (let i = 0; i < CALL_PLACES.length; i++) {
    for (let j = i; j < CALL_PLACES.length; j++) {
      const [from, to] = [CALL_PLACES[i], CALL_PLACES[j]];
      const expected = expectedMediaPath(from, to);
      it(`${from} calls ${to}: audio both ways, ${expected}`, async () => {
        const caller = users.get(`${from.replace(/-/g, '')}a`)!;
        const callee = users.get(`${to.replace(/-/g, '')}b`)!;
        const heardBefore = [(await stat(caller.recording)).size, (await stat(callee.recording)).size];
        const dialled = await caller.node.invoke('call.dial', { to: callee.name });
        const out = await callCarryingAudio(caller.node, `${caller.name}'s call to ${callee.name} to carry audio`, { peer: callee.name, packets: 100 });
        const inbound = await callCarryingAudio(callee.node, `${callee.name} to hear ${caller.name}`, { peer: caller.name, packets: 100 });
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
