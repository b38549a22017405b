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
import { removeDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireNetnsPrivileges, runIn, spawnIn } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { labNodes, messageDelivered, startPartnerMembers } from '../netns/nat-lab-nodes.js';
import { EXPECTED, makeNatLab, ROUTER_KINDS, type LabHost, type NatLab, type Router, type RouterKind } from '../netns/nat-lab.js';


describe('behind real NATs', () => {
  let lab: NatLab;
  const dirs: string[] = [];
  const routers = new Map<RouterKind, Router>();
  const hosts = new Map<RouterKind, LabHost>();
  const clients = new Map<RouterKind, LanNode>();
  const user = (kind: RouterKind) => kind.replace(/-/g, '');
  let members: string[] = [];

  const lanNodes = labNodes();
  const start = lanNodes.start;

  before(async () => {
    await requireNetnsPrivileges();
    lab = await makeNatLab();
    members = await startPartnerMembers(lanNodes, lab);
    for (const kind of ROUTER_KINDS) {
      const router = await lab.addRouter(kind);
      routers.set(kind, router);
      const host = await lab.addHost(router);
      hosts.set(kind, host);
      clients.set(kind, await start(host, ['--role', 'client', '--sip-port', '5060', '--user', user(kind), ...members.flatMap((m) => ['--bootstrap', m])]));
    }
  });

  after(async () => {
    await lanNodes.stopAll();
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

  it('with --role auto (the default) a node chooses before it joins: a node that members\' probes reach (a public one, one behind a full cone) is a member; behind another NAT, the UDP firewall or a stateful firewall on a public address it becomes a client; each is reached by name', async () => {
    const [, b, , d] = lab.publicHost.addresses;
    const boot = members.slice(0, 1).flatMap((m) => ['--bootstrap', m]);
    const chosen = async (node: LanNode, role: 'member' | 'client', why: RegExp) => {
      const view = await natOf(node, (v) => v.role === role && why.test(v.roleReason) && (role === 'member' || v.attachment?.state === 'attached'), `the role ${role}`);
      return view;
    };
    // The uptime rule: reachable, but carried by a member until it has been up 8 s; then a member.
    const newcomer = await start(await lab.addPublicHost(), ['--user', 'petra', '--member-uptime', '8', ...boot]);
    const early = await chosen(newcomer, 'client', /others can reach .* it joins the ring once it has been up 8 s/);
    assert.equal(early.reachability.state, 'reachable');
    const publicNode = await start(lab.publicHost, ['--bind', d, '--user', 'paula', '--member-uptime', '0', ...boot]);
    const natted = await start(await lab.addHost(routers.get('symmetric')!), ['--user', 'nadia', ...boot]);
    // Behind a full cone that keeps its port number outside: reachable there, so a member at that address.
    const coned = await start(await lab.addHost(routers.get('full-cone')!), ['--user', 'connie', '--sip-port', '5062', '--member-uptime', '0', ...boot]);
    const firewalled = await start(await lab.addHost(routers.get('udp-blocked')!), ['--user', 'fiona', ...boot]);
    const p = await chosen(publicNode, 'member', /no NAT between this node and the members, and others can reach/);
    assert.equal(p.reachability.state, 'reachable', JSON.stringify(p.reachability));
    assert.ok(p.reachability.probes.some((probe) => probe.result === 'arrived' && probe.from?.startsWith(b)), 'the probe came from the partner member, an address the node never sent to');
    await until('paula in the ring', async () => (await publicNode.invoke('overlay.status', {})).role === 'member');
    const promoted = await chosen(newcomer, 'member', /no NAT between this node and the members, and others can reach/);
    assert.equal(promoted.attachment, undefined, 'a member is attached to no one');
    await until('petra in the ring', async () => (await newcomer.invoke('overlay.status', {})).role === 'member');
    const n = await chosen(natted, 'client', /behind a NAT \(address-and-port-dependent mapping\)/);
    assert.equal(n.attachment?.transport, 'udp');
    const c = await chosen(coned, 'member', /behind a NAT, but your router lets anyone reach it at .*:5062 \(full cone\)/);
    assert.equal(c.reachability.state, 'reachable');
    await until('connie in the ring', async () => (await coned.invoke('overlay.status', {})).role === 'member');
    const f = await chosen(firewalled, 'client', /UDP does not get through/);
    assert.equal(f.attachment?.transport, 'tcp');
    // A public address, no NAT, but a stateful firewall: the probes from addresses it never sent to do not arrive.
    const walled = await start(await lab.addPublicHost({ firewall: true }), ['--user', 'wally', ...boot]);
    const w = await chosen(walled, 'client', /no NAT, but a firewall drops what others send unasked/);
    assert.equal(w.behaviour?.mapping, 'no-nat');
    assert.equal(w.reachability.state, 'unreachable', JSON.stringify(w.reachability));
    assert.equal(w.attachment?.transport, 'udp');
    for (const [to, name, role] of [
      [natted, 'nadia', 'client'],
      [firewalled, 'fiona', 'client'],
      [walled, 'wally', 'client'],
      [newcomer, 'petra', 'member'],
      [coned, 'connie', 'member'],
    ] as const) {
      assert.equal((await to.invoke('overlay.status', {})).role, role);
      // From behind another router: the lab's routers do not hairpin (connie shares the full cone).
      const sender = clients.get('port-restricted')!;
      await messageDelivered(sender, name);
    }
  });
});
