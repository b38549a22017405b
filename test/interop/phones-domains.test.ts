// Calls and messages between the overlay and another SIP domain, over real DNS (RFC 3263), in
// network namespaces: knot serves example.test (NAPTR -> SRV -> Kamailio) and peerdial.test
// (SRV -> two Peerdial members, by priority); Kamailio serves example.test, where a baresip is
// registered as carol. A Peerdial user calls and messages sip:carol@example.test by DNS; carol
// calls sip:alice@peerdial.test, reaching the overlay through the first member, then, with that
// member stopped, through the second (Kamailio's DNS failover). Each call carries each side's
// tone to the other.
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
import { startLabDns, type LabDns } from '../netns/lab-dns.js';
import { startLabKamailio, type LabKamailio } from '../netns/lab-kamailio.js';
import { recordedBytes, recordedSecondsSince, toneArgs, toneHeardSince } from '../netns/lab-tones.js';
import { makeLan, requireNetnsPrivileges, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';

const CAROL_HZ = 450;
const ALICE_HZ = 700;
const near = (hz: number | undefined, expected: number) => hz !== undefined && Math.abs(hz - expected) < 25;

describe('calls and messages between the overlay and another SIP domain, over DNS', () => {
  let lan: NetnsLan;
  let dir: string;
  let dns: LabDns;
  let kamailio: LabKamailio;
  let carol: LabBaresip;
  let alice: LanNode;
  let m1: LanNode;
  let m2: LanNode;
  let aliceRecording: string;
  const started: LanNode[] = [];

  before(async () => {
    await requireNetnsPrivileges();
    requireBaresipIce();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-domains-'));
    lan = await makeLan({ hosts: 5 });
    const [dnsHost, kamailioHost, aliceHost, m1Host, m2Host] = lan.hosts;
    dns = await startLabDns(dnsHost, {
      'example.test': [`@ NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.example.test.`, '_sip._udp SRV 0 0 5060 sip.example.test.', `sip A ${kamailioHost.address}`].join('\n'),
      'peerdial.test': ['_sip._udp SRV 10 0 5060 m1.peerdial.test.', '_sip._udp SRV 20 0 5060 m2.peerdial.test.', `m1 A ${m1Host.address}`, `m2 A ${m2Host.address}`].join('\n'),
    });
    await dns.serve(lan.hosts);
    kamailio = await startLabKamailio(kamailioHost, 'example.test');
    carol = await startLabBaresip(kamailioHost, {
      user: 'carol',
      aor: 'sip:carol@example.test',
      source: await writeTone(path.join(dir, 'carol.wav'), CAROL_HZ, 120),
      account: `;outbound="sip:${kamailio.address}"`,
    });
    const common = ['--overlay', 'peerdial.test', '--role', 'member', '--sip-port', '5060', '--no-mdns', '--no-multicast-register', '--refresh-seconds', '5'];
    const dataDir = (name: string) => ['--data-dir', path.join(dir, name)];
    m1 = await startLanNode(m1Host, [...common, ...dataDir('m1')]);
    started.push(m1);
    m2 = await startLanNode(m2Host, [...common, ...dataDir('m2'), '--bootstrap', `${m1Host.address}:5060`]);
    started.push(m2);
    const tone = await toneArgs(dir, 'alice', ALICE_HZ);
    aliceRecording = tone.recording;
    alice = await startLanNode(aliceHost, [...common, ...dataDir('alice'), '--user', 'alice', ...tone.args, '--bootstrap', `${m1Host.address}:5060`, '--bootstrap', `${m2Host.address}:5060`]);
    started.push(alice);
    await until('alice found in the overlay from both members', async () => {
      for (const m of [m1, m2]) if (!(await m.invoke('overlay.lookup', { aor: 'alice' }).catch(() => undefined))?.contacts.length) return false;
      return true;
    }, 30_000, () => [m1, m2, alice].map((n) => n.output().slice(-1_500)).join('\n----\n'));
    await until('carol registered at Kamailio', async () => carol.events.some((e) => e.type === 'REGISTER_OK') || /200 OK .*\[1 binding\]/.test(carol.output()), 15_000, () => carol.output().slice(-1_500));
  });

  after(async () => {
    await carol?.stop();
    await carol?.remove();
    for (const n of started) await n.stop().catch(() => undefined);
    await kamailio?.stop();
    await dns?.stop();
    await lan?.teardown();
    if (dir) await removeDir(dir);
  });

  /** Waits until the call is active, lets two seconds of audio flow, and checks both tones. */
  async function assertAudioBothWays(callId: string, aliceFrom: number, carolFrom: number): Promise<void> {
    await until('the call active at alice', async () => (await alice.invoke('call.list', {})).find((c: CallView) => c.id === callId)?.state === 'active', 15_000);
    await until('alice hears carol', async () => near(await toneHeardSince(aliceRecording, aliceFrom).catch(() => undefined), CAROL_HZ) && (await recordedSecondsSince(aliceRecording, aliceFrom)) > 2, 15_000);
    await until('carol hears alice', async () => {
      const file = carol.receivedRecording();
      return file !== undefined && (await recordedSecondsSince(file, carolFrom)) > 2 && near(await toneHeardSince(file, carolFrom), ALICE_HZ);
    }, 15_000);
  }

  it('alice calls sip:carol@example.test: NAPTR and SRV lead to Kamailio, which rings carol; audio both ways', async () => {
    const aliceFrom = await recordedBytes(aliceRecording);
    const call = await alice.invoke('call.dial', { to: 'sip:carol@example.test' });
    await assertAudioBothWays(call.id, aliceFrom, 0);
    await alice.invoke('call.hangup', { id: call.id });
    await carol.waitFor('CALL_CLOSED', 10_000);
  });

  it('alice messages sip:carol@example.test, and it is delivered', async () => {
    const sent = await alice.invoke('im.send', { to: 'sip:carol@example.test', text: 'Hello from the overlay' });
    await until('delivered to carol', async () => {
      const history = await alice.invoke('im.history', { peer: 'sip:carol@example.test' });
      const status = history.find((m) => m.id === sent.id)?.status;
      return status === 'delivered' || status === 'sent';
    }, 15_000);
  });

  it('carol calls sip:alice@peerdial.test: Kamailio finds the first member by SRV, which routes to alice', async () => {
    const before = (await m1.invoke('node.status', {})).routing.counters.proxied;
    await callFromCarol();
    assert.ok((await m1.invoke('node.status', {})).routing.counters.proxied > before, 'the member of priority 10 routed it');
  });

  it('with that member stopped, Kamailio fails over to the second member by SRV, and the call goes through', async () => {
    await m1.stop();
    started.splice(started.indexOf(m1), 1);
    const before = (await m2.invoke('node.status', {})).routing.counters.proxied;
    await callFromCarol();
    assert.ok((await m2.invoke('node.status', {})).routing.counters.proxied > before, 'the member of priority 20 routed it');
  });

  async function callFromCarol(): Promise<void> {
    const known = new Set((await alice.invoke('call.list', {})).map((c: CallView) => c.id));
    const aliceFrom = await recordedBytes(aliceRecording);
    const carolFile = carol.receivedRecording();
    const carolFrom = carolFile ? await recordedBytes(carolFile) : 0;
    const closedBefore = carol.events.filter((e) => e.type === 'CALL_CLOSED').length;
    const counters = async () => JSON.stringify(await Promise.all([m1, m2].filter((m) => started.includes(m)).map(async (m) => (await m.invoke('node.status', {})).routing.counters)));
    const dialled = await carol.command('dial', 'sip:alice@peerdial.test');
    assert.ok(dialled.ok, dialled.data);
    let seen = '';
    const incoming = await until(
      'alice rings',
      async () => {
        seen = await counters();
        return (await alice.invoke('call.list', {})).find((c: CallView) => !known.has(c.id) && c.direction === 'in');
      },
      20_000,
      () => [seen, carol.output().slice(-600)].join('\n----\n'),
    );
    assert.equal(incoming.peer, 'sip:carol@example.test');
    await alice.invoke('call.answer', { id: incoming.id });
    await assertAudioBothWays(incoming.id, aliceFrom, carolFrom);
    await alice.invoke('call.hangup', { id: incoming.id });
    await until('carol hung up', async () => carol.events.filter((e) => e.type === 'CALL_CLOSED').length > closedBefore, 10_000);
  }
});
