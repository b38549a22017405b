// The calls part of bench:nat's `media` section, in the NAT lab (needs root):
// - pairs: a call between users behind every pair of places (public, six router kinds; two
//   users per place), each connected when audio arrives both ways; its path (direct or relayed),
//   iceMs (gathering before the offer or answer went out, plus the checks after the answer: what
//   ICE adds to the call's setup) and setupTo200Ms (the caller's INVITE to the 200).
// - relaySwitchMs: two users behind symmetric NATs talk through a member's relay; the relay is
//   killed; the time until audio arrives again on both sides through another relay.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeDir } from '../test/support/node-process.js';
import { until } from '../test/support/poll.js';
import { writeTone } from '../test/support/calls.js';
import type { LanNode } from '../test/netns/lan-node.js';
import { makeNatLab } from '../test/netns/nat-lab.js';
import {
  CALL_PLACES,
  callCarryingAudio,
  expectedMediaPath,
  hangUpAll,
  labNodes,
  relaysReady,
  startCallUser,
  startPartnerMembers,
  startRelayMember,
} from '../test/netns/nat-lab-nodes.js';

export interface MediaPair {
  connected: boolean;
  path: 'direct' | 'relayed' | null;
  expected: 'direct' | 'relayed';
  iceMs: number | null;
  gatherMs: number | null;
  checksMs: number | null;
  setupTo200Ms: number | null;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function measureMediaPairs(): Promise<{ pairs: Record<string, MediaPair>; connectedFraction: number; directFraction: number; iceAddsMsP50: number | null; iceAddsMsP90: number | null }> {
  const lab = await makeNatLab();
  const nodes = labNodes('peerdial-bench-media-');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-bench-media-'));
  try {
    const members = await startPartnerMembers(nodes, lab);
    const users = new Map<string, LanNode>();
    let index = 0;
    for (const place of CALL_PLACES) {
      for (const copy of ['a', 'b']) {
        const name = `${place.replace(/-/g, '')}${copy}`;
        const tone = await writeTone(path.join(dir, `${name}.wav`), 300 + 100 * index++, 30);
        users.set(name, await startCallUser(nodes, lab, members, place, name, tone, path.join(dir, `${name}-heard.wav`)));
      }
    }
    for (const place of CALL_PLACES) if (place !== 'public') for (const copy of ['a', 'b']) await relaysReady(users.get(`${place.replace(/-/g, '')}${copy}`)!, 2);
    const pairs: Record<string, MediaPair> = {};
    for (let i = 0; i < CALL_PLACES.length; i++) {
      for (let j = i; j < CALL_PLACES.length; j++) {
        const [from, to] = [CALL_PLACES[i], CALL_PLACES[j]];
        const caller = users.get(`${from.replace(/-/g, '')}a`)!;
        const calleeName = `${to.replace(/-/g, '')}b`;
        const callee = users.get(calleeName)!;
        const expected = expectedMediaPath(from, to);
        const dialled = await caller.invoke('call.dial', { to: calleeName });
        const result: MediaPair = { connected: false, path: null, expected, iceMs: null, gatherMs: null, checksMs: null, setupTo200Ms: null };
        try {
          const out = await callCarryingAudio(caller, 'audio at the caller', { peer: calleeName, ms: 15_000 });
          await callCarryingAudio(callee, 'audio at the callee', { ms: 15_000 });
          const p = out.quality!.path!;
          result.connected = true;
          result.path = p.kind;
          result.gatherMs = p.gatherMs ?? null;
          result.checksMs = p.checksMs ?? null;
          result.iceMs = (p.gatherMs ?? 0) + (p.checksMs ?? 0);
          result.setupTo200Ms = out.setup?.toAnswerMs === undefined ? null : Math.round(out.setup.toAnswerMs);
        } catch {
          // Not connected: reported as such.
        }
        await caller.invoke('call.hangup', { id: dialled.id }).catch(() => undefined);
        await hangUpAll([caller, callee]);
        pairs[`${from} -> ${to}`] = result;
        console.log(JSON.stringify({ pair: `${from} -> ${to}`, ...result }));
      }
    }
    const all = Object.values(pairs);
    const directPossible = all.filter((p) => p.expected === 'direct');
    const ice = all.filter((p) => p.iceMs !== null).map((p) => p.iceMs!);
    return {
      pairs,
      connectedFraction: all.filter((p) => p.connected).length / all.length,
      directFraction: directPossible.filter((p) => p.path === 'direct').length / directPossible.length,
      iceAddsMsP50: percentile(ice, 50),
      iceAddsMsP90: percentile(ice, 90),
    };
  } finally {
    await nodes.stopAll();
    await lab.teardown();
    await removeDir(dir);
  }
}

export async function measureRelaySwitch(runs: number): Promise<{ p50: number | null; max: number | null; runs: (number | null)[] }> {
  const lab = await makeNatLab();
  const nodes = labNodes('peerdial-bench-switch-');
  const times: (number | null)[] = [];
  try {
    const members = await startPartnerMembers(nodes, lab);
    for (const member of nodes.all) await member.invoke('relay.configure', { enabled: false });
    const relays = [await startRelayMember(nodes, lab, members, 'relay0'), await startRelayMember(nodes, lab, members, 'relay1')];
    const client = async (name: string) => nodes.start(await lab.addHost(await lab.addRouter('symmetric')), ['--role', 'client', '--sip-port', '5060', '--user', name, '--auto-answer', ...members.flatMap((m) => ['--bootstrap', m])]);
    const alice = await client('alice');
    const bob = await client('bob');
    for (let run = 0; run < runs; run++) {
      for (const user of [alice, bob]) await relaysReady(user, 2);
      await alice.invoke('call.dial', { to: 'bob' });
      const before = [await callCarryingAudio(alice, 'alice hears bob'), await callCarryingAudio(bob, 'bob hears alice')];
      const p = before[0].quality!.path!;
      const usedIp = (/relayed by (\d[\d.]*)/.exec(p.text)?.[1] ?? /^relay (\d[\d.]*)/.exec(p.remote)?.[1])!;
      const addresses = await Promise.all(relays.map(async (r) => (await r.invoke('relay.status', {})).server.address ?? ''));
      const dying = relays[addresses.findIndex((a) => a.startsWith(`${usedIp}:`))];
      const t0 = performance.now();
      await dying.kill();
      try {
        await Promise.all([alice, bob].map((user, k) => callCarryingAudio(user, 'audio through another relay', { after: before[k].quality!.packetsReceived + (performance.now() - t0) / 20, packets: 10, ms: 15_000 })));
        // Audio again, through a path without the dead relay.
        await until('a path without the dead relay', async () => {
          const call = (await alice.invoke('call.list', {})).find((c) => c.state === 'active');
          const path = call?.quality?.path;
          return path && !`${path.text} ${path.remote}`.includes(usedIp);
        }, 15_000, undefined, 20);
        times.push(Math.round(performance.now() - t0));
      } catch {
        times.push(null);
      }
      console.log(JSON.stringify({ relaySwitchRun: run, ms: times[times.length - 1] }));
      await hangUpAll([alice, bob]);
      // A fresh relay in place of the dead one, for the next run.
      relays[relays.indexOf(dying)] = await startRelayMember(nodes, lab, members, `relay${run + 2}`);
    }
  } finally {
    await nodes.stopAll();
    await lab.teardown();
  }
  const ok = times.filter((t): t is number => t !== null);
  return { p50: percentile(ok, 50), max: ok.length ? Math.max(...ok) : null, runs: times };
}
