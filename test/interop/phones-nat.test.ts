// Ordinary SIP phones without ICE across the NAT lab: baresip 1.0 with no media NAT module plays
// the phone. The cases Peerdial covers today (docs/protocol.md, "Phones without ICE"):
// - a phone behind a NAT calls a Peerdial user who has a public address: Peerdial sends its media
//   back where the phone's comes from (symmetric RTP), and its in-dialog requests (the ACK, the
//   BYE) back where the phone's INVITE came from, though the phone's Contact is its LAN address;
// - a Peerdial user behind a NAT calls a phone on a public address: behind a NAT that keeps one
//   mapping for all destinations, its c= is its server-reflexive address and its first packets
//   open the NAT's filter; behind a symmetric NAT, or where UDP is blocked, its c= is its
//   relayed address on a member's TURN server, which then carries the call ("relayed by").
// Each call must carry each side's tone to the other, and end from either side.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { writeTone } from '../support/calls.js';
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireBaresipIce, startLabBaresip, type LabBaresip } from '../netns/lab-baresip.js';
import { recordedBytes, recordedSecondsSince, toneArgs, toneHeardSince } from '../netns/lab-tones.js';
import { requireNetnsPrivileges } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { labNodes, relaysReady, startPartnerMembers, startRelayMember } from '../netns/nat-lab-nodes.js';
import { makeNatLab, type NatLab, type RouterKind } from '../netns/nat-lab.js';

const PHONE_HZ = 450;
const USER_HZ = 700;
/** Two seconds of 8 kHz 16-bit audio. */

/** The phone behind each of these calls a public Peerdial user. */
const PHONE_BEHIND: RouterKind[] = ['full-cone', 'port-restricted', 'symmetric', 'double'];
/** A Peerdial user behind each of these calls a public phone, and how its audio travels. */
const USER_BEHIND: { kind: RouterKind; path: 'direct' | 'relayed' }[] = [
  { kind: 'port-restricted', path: 'direct' },
  { kind: 'symmetric', path: 'relayed' },
  { kind: 'udp-blocked', path: 'relayed' },
];

describe('plain SIP phones (no ICE) across the NAT lab', () => {
  let lab: NatLab;
  let dir: string;
  const nodes = labNodes();
  const phones: LabBaresip[] = [];
  let members: string[];
  let alice: LanNode;
  let aliceRecording: string;

  before(async () => {
    await requireNetnsPrivileges();
    requireBaresipIce();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-phones-nat-'));
    lab = await makeNatLab();
    members = await startPartnerMembers(nodes, lab);
    await startRelayMember(nodes, lab, members, 'rita');
    const tone = await toneArgs(dir, 'alice', USER_HZ);
    aliceRecording = tone.recording;
    alice = await nodes.start(await lab.addPublicHost(), ['--role', 'member', '--sip-port', '5060', '--user', 'alice', '--auto-answer', ...tone.args, ...members.flatMap((m) => ['--bootstrap', m])]);
  });

  after(async () => {
    for (const phone of phones) {
      await phone.stop();
      await phone.remove();
    }
    await nodes.stopAll();
    await lab?.teardown();
    if (dir) await removeDir(dir);
  });

  async function startPhone(host: Parameters<typeof startLabBaresip>[0], name: string, transports = 'udp'): Promise<LabBaresip> {
    const phone = await startLabBaresip(host, { user: name, source: await writeTone(path.join(dir, `${name}.wav`), PHONE_HZ, 120), account: '', transports });
    phones.push(phone);
    return phone;
  }

  /** The phone's recording of its call, once it holds two seconds of audio. */
  const phoneHearing = (phone: LabBaresip) =>
    until('the phone to record two seconds of the call', async () => {
      const file = phone.receivedRecording();
      return file && (await recordedSecondsSince(file, 0)) > 2 ? file : undefined;
    }, 20_000, () => phone.output().slice(-3000));

  /** The user's active call once 100 packets of the phone's audio have arrived. */
  async function callHearingPhone(user: LanNode): Promise<CallView> {
    let last: CallView[] = [];
    return until('the Peerdial user to hear the phone', async () => {
      last = await user.invoke('call.list', {});
      const call = last.find((c) => c.state === 'active');
      return call?.quality && call.quality.packetsReceived >= 100 ? call : undefined;
    }, 20_000, () => JSON.stringify(last.map((c) => c.quality)));
  }

  async function assertTones(phoneFile: string, userRecording: string, userFrom: number): Promise<void> {
    const phoneHeard = await toneHeardSince(phoneFile, 0);
    const userHeard = await toneHeardSince(userRecording, userFrom);
    assert.ok(phoneHeard !== undefined && Math.abs(phoneHeard - USER_HZ) < 25, `the phone heard ${phoneHeard} Hz, the user plays ${USER_HZ} Hz`);
    assert.ok(userHeard !== undefined && Math.abs(userHeard - PHONE_HZ) < 25, `the user heard ${userHeard} Hz, the phone plays ${PHONE_HZ} Hz`);
  }

  for (const kind of PHONE_BEHIND) {
    it(`a phone behind a ${kind} NAT calls a public user; both hear each other and the user's hang-up reaches the phone`, async () => {
      const router = await lab.addRouter(kind);
      const phone = await startPhone(await lab.addHost(router), `phone-${kind}`);
      const aliceAddress = (await alice.invoke('node.status', {})).sipAddress;
      const userFrom = await recordedBytes(aliceRecording);
      await phone.command('dial', `sip:alice@${aliceAddress}:5060`);
      const call = await callHearingPhone(alice);
      const phoneFile = await phoneHearing(phone);
      // Symmetric RTP: alice answers the NAT's mapping, not the LAN address in the phone's SDP.
      assert.equal(call.quality!.remoteMedia!.split(':')[0], router.publicAddress, JSON.stringify(call.quality));
      // The BYE goes where the phone's INVITE came from: its Contact is a LAN address alice cannot reach.
      await alice.invoke('call.hangup', { id: call.id });
      await phone.waitFor('CALL_CLOSED', 10_000);
      await assertTones(phoneFile, aliceRecording, userFrom);
    });
  }

  for (const { kind, path: expected } of USER_BEHIND) {
    it(`a user behind a ${kind} NAT calls a public phone: audio both ways, ${expected}, and the phone's hang-up ends the call`, async () => {
      const tone = await toneArgs(dir, `user-${kind}`, USER_HZ);
      const user = await nodes.start(await lab.addHost(await lab.addRouter(kind)), ['--role', 'client', '--sip-port', '5060', '--user', `user-${kind}`, ...tone.args, ...members.flatMap((m) => ['--bootstrap', m])]);
      if (expected === 'relayed') await relaysReady(user, 1);
      // The NAT's kind decides the default candidate: wait until the node has found it.
      await until('the user to know its NAT', async () => (await user.invoke('nat.status', {})).behaviour !== undefined, 30_000);
      const phone = await startPhone(await lab.addPublicHost(), `phone-for-${kind}`, 'udp,tcp');
      const dialled = await user.invoke('call.dial', { to: phone.uri });
      const call = await callHearingPhone(user);
      assert.equal(call.id, dialled.id);
      const phoneFile = await phoneHearing(phone);
      if (expected === 'relayed') {
        assert.equal(call.quality!.path?.kind, 'relayed', JSON.stringify(call.quality));
        assert.match(call.quality!.path!.text, /^relayed by /);
      } else {
        assert.equal(call.quality!.path, undefined, JSON.stringify(call.quality));
      }
      await phone.command('hangup');
      await until('the user\'s call to end', async () => (await user.invoke('call.list', {})).every((c) => c.state === 'ended'), 10_000);
      await assertTones(phoneFile, tone.recording, 0);
    });
  }
});
