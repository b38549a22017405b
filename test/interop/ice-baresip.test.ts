// ICE between Peerdial and baresip 1.0 (its ice, stun and turn modules; libre's RFC 5245 agent)
// across two NATs of the lab. baresip (carol) sits behind a port-restricted router, Bob's node
// behind a full-cone one, so a direct path exists and ICE must find it: carol's NAT lets in only
// what answers her own datagrams, so Bob's checks get through once hers have gone out, and hers
// reach his public address from anywhere. No registrar: carol dials Bob's public SIP address,
// and Bob calls her back at hers (her NAT lets his INVITE in because her OPTIONS to him just went
// out). Both ways ICE must pick a direct pair, baresip's recording must carry Bob's tone and
// Bob's recording carol's. baresip's STUN server is a member's (STUN on its SIP port).
// She hangs up the first call, Bob the second: his BYE must reach her though her Contact is her
// private address (it goes back where her 200 came from).
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { writeTone } from '../support/calls.js';
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { BARESIP_SIP_PORT, requireBaresipIce, startLabBaresip, type LabBaresip } from '../netns/lab-baresip.js';
import { recordedBytes, recordedSecondsSince, toneArgs, toneHeardSince } from '../netns/lab-tones.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { callCarryingAudio, labNodes, startPartnerMembers } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type NatLab, type Router } from '../netns/nat-lab.js';

const BOB_HZ = 700;
const CAROL_HZ = 450;
/** Two seconds of 8 kHz 16-bit audio. */

describe('ICE with baresip across two NATs', () => {
  let lab: NatLab;
  let dir: string;
  const nodes = labNodes();
  let bob: LanNode;
  let bobRecording: string;
  /** Bob's SIP socket as others on the public network reach it. */
  let bobPublic: string;
  let carolRouter: Router;
  let carol: LabBaresip;

  before(async () => {
    await requireNetnsPrivileges();
    requireBaresipIce();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-ice-baresip-'));
    lab = await makeNatLab();
    const members = await startPartnerMembers(nodes, lab);
    const tone = await toneArgs(dir, 'bob', BOB_HZ);
    bobRecording = tone.recording;
    bob = await nodes.start(await lab.addHost(await lab.addRouter('full-cone')), ['--role', 'client', '--sip-port', '5060', '--user', 'bob', '--auto-answer', ...tone.args, ...members.flatMap((m) => ['--bootstrap', m])]);
    bobPublic = await until('bob\'s public SIP address', async () => (await bob.invoke('nat.status', {})).publicAddress, 30_000);
    carolRouter = await lab.addRouter('port-restricted');
    carol = await startLabBaresip(await lab.addHost(carolRouter), {
      user: 'carol',
      source: await writeTone(path.join(dir, 'carol.wav'), CAROL_HZ, 120),
      account: `;medianat=ice;stunserver=stun:${members[0]}`,
    });
  });

  after(async () => {
    await carol?.stop();
    await carol?.remove();
    await nodes.stopAll();
    await lab?.teardown();
    if (dir) await removeDir(dir);
  });

  /** baresip's recording of the call just established, once it holds two seconds of audio. */
  const carolHearing = () =>
    until('baresip to record two seconds of the call', async () => {
      const file = carol.receivedRecording();
      return file && (await recordedSecondsSince(file, 0)) > 2 ? file : undefined;
    }, 20_000, () => carol.output().slice(-3000));

  /** Where baresip's ICE sent its media: "mnat 'ice' connected: raddr HOST:PORT" in its log, the latest call's. */
  const carolRemote = () => [...carol.output().matchAll(/mnat 'ice' connected: raddr (\S+)/g)].pop()?.[1];

  const assertDirect = (t: TestContext, call: CallView) => {
    const p = call.quality!.path!;
    t.diagnostic(`bob: ${JSON.stringify(p)}; baresip sends to ${carolRemote()}`);
    assert.equal(p.kind, 'direct', JSON.stringify(p));
    // Bob's NAT lets anyone in, carol's only answers: Bob reaches her through her public mapping.
    assert.match(p.remote, new RegExp(`^(srflx|prflx) ${carolRouter.publicAddress.replace(/\./g, '\\.')}:\\d+$`), JSON.stringify(p));
    // ...and baresip's selected pair ends at Bob's router, not at a relay.
    assert.equal(carolRemote()?.split(':')[0], bobPublic.split(':')[0], carol.output().slice(-3000));
  };

  async function assertTones(carolFile: string, bobFrom: number) {
    const carolHeard = await toneHeardSince(carolFile, 0);
    const bobHeard = await toneHeardSince(bobRecording, bobFrom);
    assert.ok(carolHeard !== undefined && Math.abs(carolHeard - BOB_HZ) < 25, `baresip heard ${carolHeard} Hz, bob plays ${BOB_HZ} Hz`);
    assert.ok(bobHeard !== undefined && Math.abs(bobHeard - CAROL_HZ) < 25, `bob heard ${bobHeard} Hz, baresip plays ${CAROL_HZ} Hz`);
  }

  it('baresip calls bob: ICE finds the direct path, both hear each other', async (t) => {
    const bobFrom = await recordedBytes(bobRecording);
    const closedBefore = carol.events.filter((e) => e.type === 'CALL_CLOSED').length;
    await carol.command('dial', `sip:bob@${bobPublic}`);
    const call = await callCarryingAudio(bob, 'bob to hear baresip', { peer: 'carol', packets: 100 });
    const carolFile = await carolHearing();
    assertDirect(t, call);
    await carol.command('hangup');
    await until('baresip to close the call', async () => carol.events.filter((e) => e.type === 'CALL_CLOSED').length > closedBefore);
    await until('bob\'s call to end', async () => (await bob.invoke('call.list', {})).every((c) => c.state === 'ended'), 10_000);
    await assertTones(carolFile, bobFrom);
  });

  it('bob calls baresip back at her public address: ICE with Peerdial controlling, both hear each other', async (t) => {
    // Her OPTIONS to Bob opens her NAT to his SIP address (as a phone's keep-alive does), so his INVITE gets in.
    await carol.command('options', `sip:bob@${bobPublic}`);
    await until('bob to answer baresip\'s OPTIONS', async () => carol.output().includes(`----- OPTIONS of sip:bob@${bobPublic}`));
    const bobFrom = await recordedBytes(bobRecording);
    const closedBefore = carol.events.filter((e) => e.type === 'CALL_CLOSED').length;
    const recordingBefore = carol.receivedRecording();
    const dialled = await bob.invoke('call.dial', { to: `sip:carol@${carolRouter.publicAddress}:${BARESIP_SIP_PORT}` });
    const call = await callCarryingAudio(bob, 'bob to hear baresip', { peer: 'carol', packets: 100 });
    assert.equal(call.id, dialled.id);
    await until('baresip to start a new recording', async () => carol.receivedRecording() !== recordingBefore);
    const carolFile = await carolHearing();
    assertDirect(t, call);
    const closed = async () => carol.events.filter((e) => e.type === 'CALL_CLOSED').length > closedBefore;
    await bob.invoke('call.hangup', { id: dialled.id });
    await until('baresip to close the call on Bob\'s BYE', closed, 10_000);
    await until('bob\'s call to end', async () => (await bob.invoke('call.list', {})).every((c) => c.state === 'ended'), 10_000);
    await assertTones(carolFile, bobFrom);
  });
});
