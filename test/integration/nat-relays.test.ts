// Relays run by members, in the NAT lab: two users behind symmetric NATs (no direct path between
// them) call through a member's TURN server. When that relay dies mid-call, ICE restarts on the
// other relay and the audio comes back within 5 s. A relay at its cap refuses the allocation
// (508) and the call goes through another. Signalling runs through two members that do not relay.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { until } from '../support/poll.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { callCarryingAudio, hangUpAll, labNodes, relaysReady, startPartnerMembers, startRelayMember } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type NatLab } from '../netns/nat-lab.js';
import { toneArgs } from '../netns/lab-tones.js';
import { removeDir, tempDataDir } from '../support/node-process.js';

describe('relays run by members', () => {
  let lab: NatLab;
  const nodes = labNodes();
  let members: string[] = [];
  const relays: LanNode[] = [];
  let alice: LanNode;
  let bob: LanNode;
  let toneDir: string | undefined;

  const relayAddress = async (node: LanNode) => (await node.invoke('relay.status', {})).server.address!;
  // On failure, both sides' whole call lists: once (1 CI run in 9), bob refused every packet of
  // alice's as SRTP (keys not agreed), and one side's view alone could not tell why.
  const flowing = (user: LanNode, what: string) =>
    callCarryingAudio(user, what).catch(async (error: Error) => {
      const sides = await Promise.all([alice, bob].map(async (u) => JSON.stringify(await u.invoke('call.list', {}).catch((e: Error) => e.message))));
      throw new Error(`${error.message}\nalice's calls: ${sides[0]}\nbob's calls: ${sides[1]}`);
    });

  before(async () => {
    await requireNetnsPrivileges();
    lab = await makeNatLab();
    members = await startPartnerMembers(nodes, lab);
    // The partner members carry signalling only.
    for (const member of nodes.all) await member.invoke('relay.configure', { enabled: false });
    relays.push(await startRelayMember(nodes, lab, members, 'rosa'), await startRelayMember(nodes, lab, members, 'rick'));
    // Each plays a tone: between users Opus stops sending in silence (DTX), and the audio is what is counted.
    toneDir = await tempDataDir('peerdial-relay-tones-');
    const tones: Record<string, number> = { alice: 500, bob: 700 };
    const client = async (name: string) => nodes.start(await lab.addHost(await lab.addRouter('symmetric')), ['--role', 'client', '--sip-port', '5060', '--user', name, '--auto-answer', ...(await toneArgs(toneDir!, name, tones[name])).args, ...members.flatMap((m) => ['--bootstrap', m])]);
    alice = await client('alice');
    bob = await client('bob');
    for (const user of [alice, bob]) await relaysReady(user, 2);
  });

  after(async () => {
    await nodes.stopAll();
    await lab?.teardown();
    if (toneDir) await removeDir(toneDir);
  });

  it('a relay at its cap refuses the allocation, and the call goes through the other one', async () => {
    const [rosa, rick] = relays;
    // 0.2 Mbit/s is one relayed call's worth: one allocation, and the next gets 508.
    await rosa.invoke('relay.configure', { maxMbit: 0.2 });
    const refusedBefore = (await rosa.invoke('relay.status', {})).server.counters.capacity ?? 0;
    await alice.invoke('call.dial', { to: 'bob' });
    const call = await flowing(alice, 'alice to hear bob through a relay');
    await flowing(bob, 'bob to hear alice through a relay');
    assert.equal(call.quality!.path!.kind, 'relayed');
    const rosaView = (await rosa.invoke('relay.status', {})).server;
    assert.equal(rosaView.allocations, 1, 'rosa holds as many allocations as her cap allows');
    assert.ok((rosaView.counters.capacity ?? 0) > refusedBefore, `rosa refused an allocation at her cap: ${JSON.stringify(rosaView.counters)}`);
    assert.ok((await rick.invoke('relay.status', {})).server.allocations >= 1, 'rick took the allocation rosa refused');
    await hangUpAll([alice, bob]);
    await rosa.invoke('relay.configure', { maxMbit: 10 });
  });

  it('when the relay dies mid-call, the audio comes back through the other relay within 5 s', async () => {
    await alice.invoke('call.dial', { to: 'bob' });
    const before = await flowing(alice, 'alice to hear bob through a relay');
    await flowing(bob, 'bob to hear alice through a relay');
    // Our own relay ("relayed by ADDRESS"), or else the other side's (the remote candidate).
    const used = /relayed by (\d[\d.:]*)/.exec(before.quality!.path!.text)?.[1] ?? /^relay (\S+)/.exec(before.quality!.path!.remote)?.[1];
    assert.ok(used, `the path names its relay: ${JSON.stringify(before.quality!.path)}`);
    const usedIp = used!.split(':')[0];
    const dying = (await Promise.all(relays.map(async (r) => ((await relayAddress(r)).startsWith(`${usedIp}:`) ? r : undefined)))).find(Boolean)!;
    const survivor = relays.find((r) => r !== dying)!;
    const survivorAddress = await relayAddress(survivor);
    const packetsBefore = [(await flowing(alice, 'alice')).quality!.packetsReceived, (await flowing(bob, 'bob')).quality!.packetsReceived];
    const killedAt = Date.now();
    await dying.kill();
    const [afterAlice, afterBob] = await Promise.all([
      until('alice to hear bob again through the other relay', async () => {
        const call = (await alice.invoke('call.list', {})).find((c) => c.state === 'active');
        const path = call?.quality?.path;
        return path && `${path.text} ${path.remote}`.includes(survivorAddress.split(':')[0]) && call.quality!.packetsReceived > packetsBefore[0] + 25 ? call : undefined;
      }, 5_000),
      until('bob to hear alice again through the other relay', async () => {
        const call = (await bob.invoke('call.list', {})).find((c) => c.state === 'active');
        const path = call?.quality?.path;
        return path && `${path.text} ${path.remote}`.includes(survivorAddress.split(':')[0]) && call.quality!.packetsReceived > packetsBefore[1] + 25 ? call : undefined;
      }, 5_000),
    ]);
    const switchMs = Date.now() - killedAt;
    assert.equal(afterAlice.quality!.path!.kind, 'relayed');
    assert.equal(afterBob.quality!.path!.kind, 'relayed');
    assert.ok(switchMs <= 5_000, `the audio came back ${switchMs} ms after the relay died`);
    await hangUpAll([alice, bob]);
  });
});
