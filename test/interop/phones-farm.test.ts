// A zero-conf server farm in network namespaces: three `peerdial node --farm` on one LAN find each
// other by DNS-SD and share one farm key; a phone account made on one server reaches every
// server; two baresip phones registered to different servers call each other through the farm
// (each hears the other's tone); the server of one phone is killed, the phone registers to
// another server with the same credentials, and the call works again the other way. A fourth
// --farm node that asks while no member admits servers is refused and stays out of the farm.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NewPhone } from '../../native/control/api.js';
import { writeTone } from '../support/calls.js';
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireBaresipIce, startLabBaresip, type LabBaresip } from '../netns/lab-baresip.js';
import { recordedSecondsSince, toneHeardSince } from '../netns/lab-tones.js';
import { makeLan, requireNetnsPrivileges, type LanHost, type NetnsLan } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';
import { deviceOf } from '../support/contacts.js';

const OVERLAY = 'farm.test';
const DAVE_HZ = 450;
const ERIN_HZ = 700;
const near = (hz: number | undefined, expected: number) => hz !== undefined && Math.abs(hz - expected) < 25;

describe('a zero-conf server farm: three --farm servers share phones, and survive one dying', () => {
  let lan: NetnsLan;
  let dir: string;
  let a: LanNode;
  let b: LanNode;
  let c: LanNode;
  let daveHost: LanHost;
  let erinHost: LanHost;
  let dave: LabBaresip | undefined;
  let erin: LabBaresip | undefined;
  let daveAccount: NewPhone;
  let erinAccount: NewPhone;
  const started: LanNode[] = [];
  const args = (name: string, extra: string[] = []) => ['--farm', '--overlay', OVERLAY, '--role', 'member', '--sip-port', '5060', '--refresh-seconds', '5', '--data-dir', path.join(dir, name), ...extra];

  before(async () => {
    await requireNetnsPrivileges();
    requireBaresipIce();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-farm-'));
    lan = await makeLan({ hosts: 6 });
    const [aHost, bHost, cHost] = lan.hosts;
    [daveHost, erinHost] = lan.hosts.slice(4);
    a = await startLanNode(aHost, args('a'));
    started.push(a);
    await until('the first server founds a farm', async () => (await a.invoke('farm.status', {})).state === 'member', 30_000, () => a.output().slice(-1_500));
    b = await startLanNode(bHost, args('b', ['--bootstrap', `${aHost.address}:5060`]));
    started.push(b);
    c = await startLanNode(cHost, args('c', ['--bootstrap', `${aHost.address}:5060`]));
    started.push(c);
  });

  after(async () => {
    for (const phone of [dave, erin]) {
      await phone?.stop();
      await phone?.remove();
    }
    for (const n of started) await n.stop().catch(() => undefined);
    await lan?.teardown();
    if (dir) await removeDir(dir);
  });

  const status = (n: LanNode) => n.invoke('farm.status', {});

  it('the servers started after it join that farm, with no address or key typed', async () => {
    const farm = (await status(a)).id!;
    await until('b and c are members of the first server\'s farm', async () => (await status(b)).id === farm && (await status(c)).id === farm, 30_000, () => [b, c].map((n) => n.output().slice(-1_500)).join('\n----\n'));
    assert.equal((await status(a)).counters.joinsAdmitted, 2, 'the founder let both in');
    await until('each member sees the other two', async () => (await Promise.all([a, b, c].map(status))).every((s) => s.members?.length === 2), 30_000);
  });

  it('a phone account made on one server is held by every server of the farm', async () => {
    daveAccount = await a.invoke('phones.add', { name: 'Desk', user: 'dave' });
    erinAccount = await b.invoke('phones.add', { name: 'Desk', user: 'erin' });
    assert.equal(daveAccount.aor, `sip:dave@${OVERLAY}`);
    assert.equal(daveAccount.registrar, `${a.host.address}:5060`);
    for (const n of [a, b, c]) {
      await until(`${n.host.ns} holds both accounts`, async () => (await n.invoke('phones.list', {})).map((p) => p.username).sort().join() === 'dave-desk,erin-desk', 20_000, () => n.output().slice(-1_500));
    }
    const onC = await c.invoke('phones.list', {});
    assert.ok(onC.every((p) => p.farm), 'they are farm phones');
    assert.deepEqual(onC.map((p) => p.user).sort(), ['dave', 'erin']);
  });

  /**
   * A baresip registered as the farm user with the credentials given, through each of `servers`
   * (its outbound proxies: one registration, and one flow, per server, RFC 5626).
   */
  async function startPhone(host: LanHost, account: NewPhone, hz: number, servers: LanNode[]): Promise<LabBaresip> {
    const outbound = servers.map((s, i) => `;outbound${i ? i + 1 : ''}="sip:${s.host.address}:5060"`).join('');
    const phone = await startLabBaresip(host, {
      user: account.aor.slice(4).split('@')[0],
      aor: account.aor,
      instanceId: servers.length > 1,
      source: await writeTone(path.join(dir, `${account.username}.wav`), hz, 120),
      // sipnat=outbound: baresip registers through every outbound proxy it has, not just the first.
      account: `;auth_user=${account.username};auth_pass=${account.password}${outbound}${servers.length > 1 ? ';sipnat=outbound' : ''}`,
    });
    // baresip 1.0 prints each 200 (and may not send its REGISTER_OK event).
    await until(`${account.aor} registered at every server it was given`, async () => (phone.output().match(/200 OK .*\[\d+ bindings?\]/g) ?? []).length >= servers.length, 20_000, () =>
      [phone.output().slice(-2_000), ...servers.map((s) => s.output().slice(-1_000))].join('\n----\n'),
    );
    return phone;
  }

  /** `caller` dials `aor`; the callee (auto-answering) and the caller each hear the other's tone. */
  async function callAndHear(caller: LabBaresip, callerHz: number, callee: LabBaresip, calleeHz: number, aor: string, via: LanNode[]): Promise<void> {
    const count = (phone: LabBaresip, type: string) => phone.events.filter((e) => e.type === type).length;
    const closedBefore = count(callee, 'CALL_CLOSED');
    const established = [count(caller, 'CALL_ESTABLISHED'), count(callee, 'CALL_ESTABLISHED')];
    // sndfile writes each call to new files: the recordings of earlier calls are not this call's audio.
    const earlier = [caller.receivedRecording(), callee.receivedRecording()];
    const dialled = await caller.command('dial', aor);
    assert.ok(dialled.ok, dialled.data);
    let counters = '';
    await until(
      'the callee answers',
      async () => {
        counters = JSON.stringify(await Promise.all(via.map(async (n) => (await n.invoke('node.status', {})).routing.counters)));
        return count(caller, 'CALL_ESTABLISHED') > established[0] && count(callee, 'CALL_ESTABLISHED') > established[1];
      },
      20_000,
      () => [caller.output().slice(-1_000), callee.output().slice(-1_000), counters].join('\n----\n'),
    );
    for (const [listener, hz] of [[callee, callerHz], [caller, calleeHz]] as const) {
      await until(`${listener.uri} hears ${hz} Hz`, async () => {
        const file = listener.receivedRecording();
        return file !== undefined && !earlier.includes(file) && (await recordedSecondsSince(file, 0)) > 2 && near(await toneHeardSince(file, 0), hz);
      }, 15_000);
    }
    await caller.command('hangup');
    await until('the callee hung up', async () => count(callee, 'CALL_CLOSED') > closedBefore, 10_000, () =>
      [caller.output().slice(-1_500), callee.output().slice(-1_500), ...via.map((n) => n.output().slice(-1_500))].join('\n----\n'),
    );
  }

  it('phones registered to different servers call each other by AOR, and hear each other', async () => {
    // dave's phone is given two servers, as a phone is given a farm's outbound proxies; erin's one.
    dave = await startPhone(daveHost, daveAccount, DAVE_HZ, [a, c]);
    erin = await startPhone(erinHost, erinAccount, ERIN_HZ, [b]);
    await until('c finds dave and erin in the overlay, at their servers', async () => {
      const [d, e] = await Promise.all(['dave', 'erin'].map((u) => c.invoke('overlay.lookup', { aor: u }).catch(() => undefined)));
      return d?.contacts.some((x) => /;pdphone=/.test(x)) && e?.contacts.some((x) => /;pdphone=/.test(x) && deviceOf(x) === `erin@${b.host.address}`);
    }, 30_000);
    await callAndHear(dave, DAVE_HZ, erin, ERIN_HZ, `sip:erin@${OVERLAY}`, [a, b]);
  });

  it('with one of its servers killed, a phone is reached through its other server', async () => {
    await a.kill();
    started.splice(started.indexOf(a), 1);
    assert.equal((await c.invoke('phones.list', {})).find((p) => p.user === 'dave')?.state, 'registered', 'dave\'s phone registered at c with the credentials made on a');
    await until('b finds dave at c now', async () => {
      const found = await b.invoke('overlay.lookup', { aor: 'dave' }).catch(() => undefined);
      return found?.contacts.length === 1 && found.contacts[0].includes(`@${c.host.address}:5060;pdphone=`);
    }, 30_000, () => [b.output().slice(-1_000), c.output().slice(-1_000)].join('\n----\n'));
    await callAndHear(erin!, ERIN_HZ, dave!, DAVE_HZ, `sip:dave@${OVERLAY}`, [b, c]);
  });

  it('a phone removed on one server is removed from every server', async () => {
    await b.invoke('phones.remove', { id: erinAccount.phone.id });
    await until('c no longer holds erin\'s phone', async () => !(await c.invoke('phones.list', {})).some((p) => p.id === erinAccount.phone.id), 20_000);
  });

  it('a --farm server that asks while no member admits servers is refused, and the farm\'s accounts stay out of its reach', async () => {
    const farm = (await status(b)).id!;
    const refusedBefore = (await status(b)).counters.joinsRefused + (await status(c)).counters.joinsRefused;
    const d = await startLanNode(lan.hosts[3], args('d', ['--bootstrap', `${b.host.address}:5060`]));
    started.push(d);
    await until('a member refused d', async () => (await status(b)).counters.joinsRefused + (await status(c)).counters.joinsRefused > refusedBefore, 30_000, () => d.output().slice(-1_500));
    await until('d founds a farm of its own', async () => (await status(d)).state === 'member', 30_000);
    assert.notEqual((await status(d)).id, farm);
    assert.deepEqual(await d.invoke('phones.list', {}), []);
    await assert.rejects(d.invoke('phones.add', { name: 'Desk', user: 'dave' }), /already claimed/, 'the farm\'s user name is not d\'s to give out');
  });
});
