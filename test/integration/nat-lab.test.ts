// Behind real NATs (network namespaces, test/netns/nat-lab.ts): two members on the public
// network (partners for RFC 5780 tests) and one client behind each kind of router. Each client
// finds its router's behaviour (checked against the rules and against coturn's
// turnutils_natdiscovery from the same host), attaches to a member (over TCP behind a firewall
// that drops UDP), and every client reaches
// every other by name: a message, a ringing INVITE answered by 180; presence across a ring of
// them. A client moved to another router is reachable again within 10 s.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatView } from '../../native/control/api.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireNetnsPrivileges, runIn, spawnIn } from '../netns/lan.js';
import { startLanNode, type LanNode } from '../netns/lan-node.js';
import { EXPECTED, makeNatLab, ROUTER_KINDS, type LabHost, type NatLab, type Router, type RouterKind } from '../netns/nat-lab.js';

const CHORD_ENV = { PEERDIAL_CHORD: '{"stabilizeMs":300,"fixFingersMs":200,"checkPredecessorMs":500,"replicateMs":2000}' };
const QUIET = ['--no-mdns', '--no-multicast-register', '--refresh-seconds', '5'];

describe('behind real NATs', () => {
  let lab: NatLab;
  const dirs: string[] = [];
  const nodes: LanNode[] = [];
  const routers = new Map<RouterKind, Router>();
  const hosts = new Map<RouterKind, LabHost>();
  const clients = new Map<RouterKind, LanNode>();
  const user = (kind: RouterKind) => kind.replace(/-/g, '');
  let members: string[] = [];

  async function start(host: LabHost, args: string[]): Promise<LanNode> {
    const dataDir = await tempDataDir('peerdial-natlab-');
    dirs.push(dataDir);
    const node = await startLanNode(host, ['--data-dir', dataDir, ...QUIET, ...args], CHORD_ENV);
    nodes.push(node);
    return node;
  }

  before(async () => {
    await requireNetnsPrivileges();
    lab = await makeNatLab();
    const [a, b] = lab.publicHost.addresses;
    members = [`${a}:5060`, `${b}:5060`];
    await start(lab.publicHost, ['--bind', a, '--sip-port', '5060', '--user', 'mona']);
    await start(lab.publicHost, ['--bind', b, '--sip-port', '5060', '--user', 'mark', '--bootstrap', members[0]]);
    for (const kind of ROUTER_KINDS) {
      const router = await lab.addRouter(kind);
      routers.set(kind, router);
      const host = await lab.addHost(router);
      hosts.set(kind, host);
      clients.set(kind, await start(host, ['--role', 'client', '--sip-port', '5060', '--user', user(kind), ...members.flatMap((m) => ['--bootstrap', m])]));
    }
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await lab?.teardown();
    await Promise.all(dirs.map(removeDir));
  });

  const natOf = async (node: LanNode, ready: (v: NatView) => boolean, what: string): Promise<NatView> => {
    let last: NatView | undefined;
    return until(what, async () => {
      last = await node.invoke('nat.status', {});
      return ready(last) ? last : undefined;
    }, 30_000, () => JSON.stringify(last));
  };

  it('each client finds what its router does, as the rules make it and as coturn\'s natdiscovery finds it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-coturn-'));
    dirs.push(dir);
    const [, , c1, c2] = lab.publicHost.addresses;
    const conf = path.join(dir, 'turnserver.conf');
    await writeFile(conf, [`listening-ip=${c1}`, `listening-ip=${c2}`, `relay-ip=${c1}`, 'listening-port=3478', 'no-tls', 'no-dtls', 'no-cli', 'no-auth', 'simple-log', `userdb=${path.join(dir, 'turndb')}`, `log-file=${path.join(dir, 'turn.log')}`, `pidfile=${path.join(dir, 'turn.pid')}`].join('\n') + '\n');
    const coturn = spawnIn(lab.publicHost.ns, 'turnserver', ['-c', conf]);
    try {
      for (const kind of ROUTER_KINDS) {
        if (!EXPECTED[kind].udp) {
          const view = await natOf(clients.get(kind)!, (v) => v.behaviour !== undefined && !v.checking, `${kind}: the NAT check`);
          assert.equal(view.behaviour?.udp, false, `${kind}: ${view.behaviour?.description}`);
          assert.match(view.behaviour?.description ?? '', /UDP looks blocked/);
          // coturn's client gets no answer either (it would wait forever: 5 s is plenty on this network).
          await assert.rejects(runIn(hosts.get(kind)!.ns, 'timeout', ['5', 'turnutils_stunclient', c1], 10_000));
          continue;
        }
        const view = await natOf(clients.get(kind)!, (v) => v.behaviour?.mapping !== undefined && v.behaviour.filtering !== undefined && !v.checking, `${kind}: the NAT check`);
        assert.equal(view.behaviour?.mapping, EXPECTED[kind].mapping, `${kind}: ${view.behaviour?.description}`);
        assert.equal(view.behaviour?.filtering, EXPECTED[kind].filtering, `${kind}: ${view.behaviour?.description}`);
        assert.equal(view.publicAddress?.split(':')[0], routers.get(kind)!.publicAddress, `${kind}: the public address is the router's`);
        const out = await until(`${kind}: coturn's natdiscovery`, async () => {
          const r = await runIn(hosts.get(kind)!.ns, 'timeout', ['20', 'turnutils_natdiscovery', '-m', '-f', c1], 30_000).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
          return /(NAT with .* Mapping!|No NAT)/.test(r.stdout) && /NAT with .* Filtering!/.test(r.stdout) ? r.stdout : undefined;
        }, 40_000);
        const words = { 'endpoint-independent': 'Endpoint Independent', 'address-dependent': 'Address Dependent', 'address-and-port-dependent': 'Address and Port Dependent' } as const;
        assert.match(out, new RegExp(`NAT with ${words[EXPECTED[kind].mapping!]} Mapping`), `${kind}, coturn says:\n${out}`);
        assert.match(out, new RegExp(`NAT with ${words[EXPECTED[kind].filtering!]} Filtering`), `${kind}, coturn says:\n${out}`);
      }
    } finally {
      coturn.kill('SIGKILL');
    }
  });

  it('every client reaches every other by name: a message, and an INVITE that rings with its 180 back', async () => {
    for (const kind of ROUTER_KINDS) {
      const view = await natOf(clients.get(kind)!, (v) => v.attachment?.state === 'attached', `${kind}: attached to a member`);
      assert.equal(view.attachment?.transport, EXPECTED[kind].udp ? 'udp' : 'tcp', `${kind}: the flow's transport`);
    }
    for (const from of ROUTER_KINDS) {
      for (const to of ROUTER_KINDS) {
        if (from === to) continue;
        const sender = clients.get(from)!;
        const text = `from ${from} to ${to}`;
        await until(`${text}: delivered`, async () => {
          const sent = await sender.invoke('im.send', { to: user(to), text }).catch(() => undefined);
          if (!sent) return false;
          const status = await until('a final status', async () => {
            const m = (await sender.invoke('im.history', { peer: user(to) })).find((x) => x.id === sent.id);
            return m && m.status !== 'sending' ? m.status : undefined;
          });
          return status === 'delivered' || status === 'read';
        }, 25_000);
        const call = await sender.invoke('call.dial', { to: user(to) });
        await until(`${from} calls ${to}: it rings there and the 180 comes back`, async () => {
          const there = (await clients.get(to)!.invoke('call.list', {})).some((c) => c.direction === 'in' && c.state === 'incoming');
          const here = (await sender.invoke('call.list', {})).some((c) => c.id === call.id && c.state === 'ringing');
          return there && here;
        }, 20_000);
        await sender.invoke('call.hangup', { id: call.id });
        await until(`${to} to see the call end`, async () => !(await clients.get(to)!.invoke('call.list', {})).some((c) => c.state !== 'ended'), 20_000);
      }
    }
  });

  it('presence crosses every kind of router (each client watches the next one)', async () => {
    for (let i = 0; i < ROUTER_KINDS.length; i++) {
      const watcher = clients.get(ROUTER_KINDS[i])!;
      const watchedKind = ROUTER_KINDS[(i + 1) % ROUTER_KINDS.length];
      const watched = clients.get(watchedKind)!;
      const aor = `sip:${user(watchedKind)}@peerdial`;
      const watcherAor = `sip:${user(ROUTER_KINDS[i])}@peerdial`;
      await watcher.invoke('buddy.add', { aor });
      await until(`${watchedKind} to see the request`, async () => (await watched.invoke('buddy.list', {})).some((b) => b.aor === watcherAor && b.state === 'incoming'), 20_000);
      await watched.invoke('buddy.accept', { aor: watcherAor });
    }
    for (let i = 0; i < ROUTER_KINDS.length; i++) {
      const kind = ROUTER_KINDS[(i + 1) % ROUTER_KINDS.length];
      await clients.get(kind)!.invoke('presence.set', { status: 'busy', note: `behind ${kind}` });
    }
    for (let i = 0; i < ROUTER_KINDS.length; i++) {
      const watchedKind = ROUTER_KINDS[(i + 1) % ROUTER_KINDS.length];
      await until(`${ROUTER_KINDS[i]} to see ${watchedKind} busy`, async () => {
        const b = (await clients.get(ROUTER_KINDS[i])!.invoke('buddy.list', {})).find((x) => x.aor === `sip:${user(watchedKind)}@peerdial`);
        return b?.presence.status === 'busy' && b.presence.note === `behind ${watchedKind}`;
      }, 20_000);
    }
  });

  it('a client that moves to another network is reachable again within 10 s', async () => {
    const mover = clients.get('port-restricted')!;
    const before = await natOf(mover, (v) => v.attachment?.state === 'attached', 'attached before the move');
    const target = routers.get('symmetric')!;
    await lab.moveHost(hosts.get('port-restricted')!, target);
    const movedAt = Date.now();
    await natOf(mover, (v) => v.attachment?.state === 'attached' && v.attachment.contact !== before.attachment?.contact, 'attached again after the move');
    const sender = clients.get('full-cone')!;
    let seen = '';
    await until('a message reaches the moved client', async () => {
      const found = await sender.invoke('overlay.lookup', { aor: user('port-restricted') }).catch((e: Error) => e.message);
      seen = `lookup: ${JSON.stringify(found)}; mover: ${JSON.stringify((await mover.invoke("nat.status", {})).attachment)}; registration: ${JSON.stringify((await mover.invoke("overlay.status", {})).registration)}`;
      const sent = await sender.invoke('im.send', { to: user('port-restricted'), text: 'after the move' }).catch(() => undefined);
      if (!sent) return false;
      const status = await until('a final status', async () => {
        const m = (await sender.invoke('im.history', { peer: user('port-restricted') })).find((x) => x.id === sent.id);
        return m && m.status !== 'sending' ? m.status : undefined;
      });
      return status === 'delivered' || status === 'read';
    }, 15_000, () => seen);
    const ms = Date.now() - movedAt;
    assert.ok(ms <= 10_000, `reachable again ${ms} ms after the move`);
  });

  it('with --role auto (the default) a node chooses: a public node stays a member; behind a NAT or the UDP firewall it becomes a client, reachable by name', async () => {
    const [, , , d] = lab.publicHost.addresses;
    const boot = members.flatMap((m) => ['--bootstrap', m]);
    const publicNode = await start(lab.publicHost, ['--bind', d, '--user', 'paula', ...boot]);
    const natted = await start(await lab.addHost(routers.get('symmetric')!), ['--user', 'nadia', ...boot]);
    const firewalled = await start(await lab.addHost(routers.get('udp-blocked')!), ['--user', 'fiona', ...boot]);
    const chosen = async (node: LanNode, role: 'member' | 'client', why: RegExp) => {
      const view = await natOf(node, (v) => v.role === role && why.test(v.roleReason) && (role === 'member' || v.attachment?.state === 'attached'), `the role ${role}`);
      return view;
    };
    await chosen(publicNode, 'member', /no NAT/);
    assert.equal((await publicNode.invoke('overlay.status', {})).role, 'member');
    const n = await chosen(natted, 'client', /behind a NAT \(address-and-port-dependent mapping\)/);
    assert.equal(n.attachment?.transport, 'udp');
    const f = await chosen(firewalled, 'client', /UDP does not get through/);
    assert.equal(f.attachment?.transport, 'tcp');
    for (const [to, name] of [
      [natted, 'nadia'],
      [firewalled, 'fiona'],
    ] as const) {
      assert.equal((await to.invoke('overlay.status', {})).role, 'client');
      const sender = clients.get('full-cone')!;
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
  });
});
