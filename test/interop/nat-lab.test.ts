// The NAT lab (test/netns/nat-lab.ts) checked by tools that are not ours: coturn's RFC 5780
// client, turnutils_natdiscovery, run from a host behind each kind of router, finds the mapping
// and filtering the router is named for (and no answer at all through the UDP firewall); a port
// mapped through the 'upnp' router's miniupnpd, over UPnP IGD (upnpc) and over NAT-PMP (natpmpc),
// lets the public host reach a UDP listener behind it; a host moved to another router is seen at
// that router's public address (turnutils_stunclient); hosts on two 'routed' networks (no NAT)
// reach each other and the public host from their own addresses, through the upstream. The root
// namespace is never touched.
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { until } from '../support/poll.js';
import { ip, requireNetnsPrivileges, runIn, spawnIn } from '../netns/lan.js';
import { ALL_ROUTER_KINDS, EXPECTED, makeNatLab, ROUTED_PREFIX, type Coturn, type LabHost, type Mapping, type NatLab, type Router, type RouterKind } from '../netns/nat-lab.js';

/** How turnutils_natdiscovery words each behaviour ("NAT with Endpoint Independent Mapping!"). */
const WORDS: Record<Mapping, string> = {
  'endpoint-independent': 'Endpoint Independent',
  'address-dependent': 'Address Dependent',
  'address-and-port-dependent': 'Address and Port Dependent',
};
const VERDICT = /^NAT with (.+) (Mapping|Filtering)!$|^No NAT/m;

/**
 * A UDP socket in a namespace (port argv[1], address argv[2] or any) that prints every datagram
 * it gets as `ADDRESS:PORT TEXT`, one a line, after `listening`; given argv[3] and argv[4], it
 * first says hello to that address and port (making its NAT mapping).
 */
const LISTENER = `const s = require('node:dgram').createSocket('udp4');
const [port, address, to, toPort] = process.argv.slice(1);
s.on('message', (m, from) => process.stdout.write(from.address + ':' + from.port + ' ' + m + '\\n'));
s.bind(Number(port), address || undefined, () => {
  process.stdout.write('listening\\n');
  if (to) s.send('hello', Number(toPort), to);
});`;
/** Sends one datagram from a fresh ephemeral port (so the router sees a new flow each time), from address argv[4] if given. */
const SEND = `const s = require('node:dgram').createSocket('udp4');
const [to, port, text, from] = process.argv.slice(1);
s.bind(0, from || undefined, () => s.send(text, Number(port), to, (e) => { s.close(); if (e) throw e; }));`;

/** What the root namespace has that a lab could change: its links, its netfilter ruleset, forwarding. */
async function rootNamespaceState(): Promise<{ links: string; ruleset: string; forwarding: string }> {
  const links = (await ip('-o', 'link', 'show')).split('\n').map((l) => l.split(':')[1]?.trim()).filter(Boolean).sort().join(' ');
  const run = async (command: string, args: string[]) => (await promisify(execFile)(command, args)).stdout;
  return { links, ruleset: await run('nft', ['list', 'ruleset']), forwarding: await run('sysctl', ['-n', 'net.ipv4.ip_forward']) };
}

describe('the NAT lab, as coturn, miniupnpd and their clients find it', () => {
  let lab: NatLab;
  let coturn: Coturn;
  let rootBefore: Awaited<ReturnType<typeof rootNamespaceState>>;
  const routers = new Map<RouterKind, Router>();
  const hosts = new Map<RouterKind, LabHost>();
  const listeners: ChildProcess[] = [];

  before(async () => {
    await requireNetnsPrivileges();
    rootBefore = await rootNamespaceState();
    lab = await makeNatLab();
    try {
      coturn = await lab.startCoturn();
      for (const kind of ALL_ROUTER_KINDS) {
        const router = await lab.addRouter(kind);
        routers.set(kind, router);
        hosts.set(kind, await lab.addHost(router));
      }
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  });

  after(async () => {
    for (const l of listeners) l.kill('SIGKILL');
    await lab?.teardown();
    const left = (await ip('netns', 'list')).split('\n').filter((l) => l.startsWith(`pdnat-${process.pid}-`));
    assert.deepEqual(left, [], 'teardown deletes every namespace of the lab');
  });

  /** Starts LISTENER in `ns`; `lines` holds what it printed (without `listening`). */
  async function listen(ns: string, args: string[]): Promise<{ lines: string[] }> {
    const listener = spawnIn(ns, process.execPath, ['-e', LISTENER, ...args]);
    listeners.push(listener);
    const state = { lines: [] as string[], ready: false };
    let buffered = '';
    listener.stdout!.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'listening') state.ready = true;
        else state.lines.push(line);
      }
    });
    await until(`a UDP listener on ${args[0]} in ${ns}`, async () => state.ready, 10_000);
    return state;
  }
  const send = (ns: string, to: string, port: number, text: string, from?: string) => runIn(ns, process.execPath, ['-e', SEND, to, String(port), text, ...(from ? [from] : [])]);

  async function natdiscovery(host: LabHost): Promise<string> {
    const r = await runIn(host.ns, 'timeout', ['20', 'turnutils_natdiscovery', '-m', '-f', '-P', coturn.addresses[0]], 30_000).catch((e: { stdout?: string; message: string }) => ({ stdout: e.stdout ?? e.message }));
    return r.stdout;
  }

  for (const kind of ALL_ROUTER_KINDS) {
    const expected = EXPECTED[kind];
    const named = expected.udp ? `${expected.mapping} mapping, ${expected.filtering} filtering` : 'no answer over UDP';
    it(`${kind}: turnutils_natdiscovery behind it finds ${named}`, async () => {
      const host = hosts.get(kind)!;
      if (!expected.udp) {
        const out = await natdiscovery(host);
        assert.doesNotMatch(out, VERDICT, `no verdict without answers; natdiscovery said:\n${out}`);
        assert.match(out, /STUN receive timeout/, out);
        assert.doesNotMatch(out, /reflexive addr/, out);
        return;
      }
      // A verdict needs every answer it waits for: one lost datagram leaves a verdict out, so ask again.
      let out = '';
      await until(`${kind}: a mapping and a filtering verdict`, async () => {
        out = await natdiscovery(host);
        return /(NAT with .* Mapping!|No NAT)/.test(out) && /NAT with .* Filtering!/.test(out);
      }, 60_000, () => out);
      const verdicts = out.split('\n').filter((l) => VERDICT.test(l));
      assert.deepEqual(verdicts, [`NAT with ${WORDS[expected.mapping!]} Mapping!`, `NAT with ${WORDS[expected.filtering!]} Filtering!`], out);
      assert.match(out, new RegExp(`UDP reflexive addr: ${routers.get(kind)!.publicAddress.replace(/\./g, '\\.')}:\\d+`), 'the mapping is on the router\'s public address');
    });
  }

  it('upnp: a UDP port mapped through miniupnpd over UPnP IGD (upnpc) and over NAT-PMP (natpmpc) lets the public host reach a listener behind the router', async () => {
    const router = routers.get('upnp')!;
    const host = hosts.get('upnp')!;
    const upnpListener = await listen(host.ns, ['40000']);
    const natpmpListener = await listen(host.ns, ['40001']);
    const texts = (listener: { lines: string[] }) => listener.lines.map((l) => l.split(' ').slice(1).join(' '));
    // Before any mapping the router drops what the public host sends (port-restricted filtering).
    await send(lab.publicHost.ns, router.publicAddress, 40000, 'before the mapping');

    const upnpc = await runIn(host.ns, 'timeout', ['15', 'upnpc', '-i', '-e', 'nat-lab', '-a', host.address, '40000', '40000', 'UDP'], 20_000);
    // -i: upnpc calls a router whose WAN address is reserved (TEST-NET-2) "not connected?" and stops without it.
    assert.match(upnpc.stdout, new RegExp(`external ${router.publicAddress.replace(/\./g, '\\.')}:40000 UDP is redirected to internal ${host.address.replace(/\./g, '\\.')}:40000`), upnpc.stdout);
    await until('a datagram through the UPnP mapping', async () => {
      await send(lab.publicHost.ns, router.publicAddress, 40000, 'through upnp');
      return texts(upnpListener).includes('through upnp');
    }, 10_000, () => `received: ${JSON.stringify(upnpListener.lines)}\n${router.daemonLog!().slice(-3000)}`);
    assert.equal(texts(upnpListener)[0], 'through upnp', 'what came before the mapping was dropped');

    const natpmpc = await runIn(host.ns, 'timeout', ['15', 'natpmpc', '-g', router.gateway, '-a', '40001', '40001', 'udp', '600'], 20_000);
    assert.match(natpmpc.stdout, new RegExp(`Public IP address : ${router.publicAddress.replace(/\./g, '\\.')}`), natpmpc.stdout);
    assert.match(natpmpc.stdout, /Mapped public port 40001 protocol UDP to local port 40001/, natpmpc.stdout);
    await until('a datagram through the NAT-PMP mapping', async () => {
      await send(lab.publicHost.ns, router.publicAddress, 40001, 'through nat-pmp');
      return texts(natpmpListener).includes('through nat-pmp');
    }, 10_000, () => `received: ${JSON.stringify(natpmpListener.lines)}\n${router.daemonLog!().slice(-3000)}`);

    // Both mappings are miniupnpd's: it lists them over UPnP.
    const list = await runIn(host.ns, 'timeout', ['15', 'upnpc', '-i', '-l'], 20_000);
    assert.match(list.stdout, /UDP\s+40000->192\.168\.\d+\.\d+:40000/, list.stdout);
    assert.match(list.stdout, /UDP\s+40001->192\.168\.\d+\.\d+:40001/, list.stdout);
  });

  it('full-cone lets any public host reach a mapping; address-restricted only the addresses it sent to, from any port', async () => {
    const stranger = await lab.addPublicHost();
    const [, , peerAddress] = lab.publicHost.addresses;
    const peer = await listen(lab.publicHost.ns, ['4000', peerAddress]);
    for (const [kind, port] of [['full-cone', 41000], ['address-restricted', 41001]] as const) {
      const router = routers.get(kind)!;
      // The host says hello to the peer: the peer sees the mapping.
      const behind = await listen(hosts.get(kind)!.ns, [String(port), '', peerAddress, '4000']);
      const mapped = await until(`${kind}: the hello at the peer`, async () => peer.lines.find((l) => l.startsWith(`${router.publicAddress}:`) && l.endsWith(' hello'))?.split(' ')[0], 10_000, () => peer.lines.join('\n'));
      const mappedPort = Number(mapped.split(':')[1]);
      // A host the mapping never sent to, then the peer's address from another port.
      await send(stranger.ns, router.publicAddress, mappedPort, 'from a stranger');
      await until(`${kind}: the peer's address from another port gets through`, async () => {
        await send(lab.publicHost.ns, router.publicAddress, mappedPort, 'from the peer address', peerAddress);
        return behind.lines.some((l) => l.endsWith(' from the peer address'));
      }, 10_000, () => behind.lines.join('\n'));
      const [sender, text] = [behind.lines[0].split(':')[0], behind.lines[0].split(' ').slice(1).join(' ')];
      if (kind === 'full-cone') assert.deepEqual([sender, text], [stranger.address, 'from a stranger'], `${kind}: the stranger gets through`);
      else assert.deepEqual([sender, text], [peerAddress, 'from the peer address'], `${kind}: the stranger was dropped, the peer's address let in`);
    }
  });

  it('a host moved to another router is seen at that router\'s public address, from a new private address', async () => {
    const from = routers.get('port-restricted')!;
    const to = routers.get('full-cone')!;
    const mover = await lab.addHost(from);
    // turnutils_stunclient prints its first answer, then waits for RFC 5780 answers a filtering
    // NAT drops: the address is read from that first answer and the client stopped.
    const reflexive = (what: string) =>
      new Promise<string>((resolve, reject) => {
        const client = spawnIn(mover.ns, 'turnutils_stunclient', [coturn.addresses[0]]);
        let out = '';
        const timer = setTimeout(() => {
          client.kill('SIGKILL');
          reject(new Error(`no answer from coturn for ${what} within 10 s:\n${out}`));
        }, 10_000);
        client.stdout!.on('data', (d) => {
          out += d;
          const address = /UDP reflexive addr: ([\d.]+):\d+/.exec(out)?.[1];
          if (!address) return;
          clearTimeout(timer);
          client.kill('SIGKILL');
          resolve(address);
        });
      });
    assert.equal(await reflexive('the mapping before the move'), from.publicAddress);
    const oldAddress = mover.address;
    await lab.moveHost(mover, to);
    assert.ok(mover.address.startsWith(`${to.lanPrefix}.`) && mover.address !== oldAddress, `${oldAddress} became ${mover.address}`);
    assert.equal(mover.router, to);
    assert.equal(await reflexive('the mapping after the move'), to.publicAddress);
    const route = await runIn(mover.ns, 'ip', ['route', 'show', 'default']);
    assert.match(route.stdout, new RegExp(`default via ${to.gateway.replace(/\./g, '\\.')} `));
  });

  // Last but one: from here on the upstream routes (the earlier tests saw it forward nothing).
  it('routed: hosts on two routed networks reach each other and the public host from their own addresses, through the upstream, unasked', async () => {
    const [a, b] = [await lab.addRouter('routed'), await lab.addRouter('routed')];
    const [hostA, hostB] = [await lab.addHost(a), await lab.addHost(b)];
    assert.ok(hostA.address.startsWith(`${ROUTED_PREFIX}.`) && hostB.address.startsWith(`${ROUTED_PREFIX}.`), `${hostA.address}, ${hostB.address}`);
    const crossed = await lab.countForwarded({ from: `${a.lanPrefix}.0/24`, to: `${b.lanPrefix}.0/24`, protocol: 'udp', port: 42000 });
    // Nobody said hello first: no NAT and no firewall in the way, each way.
    const atB = await listen(hostB.ns, ['42000']);
    const atPublic = await listen(lab.publicHost.ns, ['42001', lab.publicHost.address]);
    await until('a datagram from network a to network b', async () => {
      await send(hostA.ns, hostB.address, 42000, 'from a');
      return atB.lines.find((l) => l.endsWith(' from a'));
    }, 10_000, () => atB.lines.join('\n'));
    assert.equal(atB.lines[0].split(':')[0], hostA.address, 'b sees a\'s own address');
    assert.ok((await crossed()) > 0, 'the upstream forwarded it');
    await until('a datagram from network b to the public host', async () => {
      await send(hostB.ns, lab.publicHost.address, 42001, 'from b');
      return atPublic.lines.find((l) => l.endsWith(' from b'));
    }, 10_000, () => atPublic.lines.join('\n'));
    assert.equal(atPublic.lines[0].split(':')[0], hostB.address, 'the public host sees b\'s own address');
    const atA = await listen(hostA.ns, ['42002']);
    await until('a datagram from the public host to network a', async () => {
      await send(lab.publicHost.ns, hostA.address, 42002, 'from the public host');
      return atA.lines.find((l) => l.endsWith(' from the public host'));
    }, 10_000, () => atA.lines.join('\n'));
  });

  it('nothing of the lab is in the root namespace: no links, no netfilter rules, forwarding as it was', async () => {
    assert.deepEqual(await rootNamespaceState(), rootBefore);
    // The routers' rules are in their own namespaces.
    const rules = await runIn(routers.get('symmetric')!.ns, 'nft', ['list', 'ruleset']);
    assert.match(rules.stdout, /masquerade fully-random/);
  });
});
