// "Ask my router to open a port" against a real router: miniupnpd (UPnP IGD, NAT-PMP, PCP) in
// the NAT lab's 'upnp' router, whose own filtering drops what it was not asked for. A node behind
// it maps its SIP port, and a host it never sent to reaches that port through the mapping
// (coturn's turnutils_stunclient gets an answer from our STUN server); turned off, the mapping
// leaves the router and the same host gets nothing; the setting outlives a restart; quitting
// deletes the mapping. Each of the three protocols maps, forwards and deletes on its own. A call
// from a symmetric NAT to a user behind the router is direct "through your router's port
// mapping" (the call's port is mapped for the call, and deleted when it ends), where without it
// the two NATs would need a relay.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatView } from '../../native/control/api.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { requireNetnsPrivileges, runIn } from '../netns/lan.js';
import type { LanNode } from '../netns/lan-node.js';
import { callCarryingAudio, hangUpAll, labNodes, messageDelivered, startPartnerMembers } from '../netns/nat-lab-nodes.js';
import { toneArgs, toneHeardSince } from '../netns/lab-tones.js';
import { makeNatLab, type LabHost, type NatLab, type Router } from '../netns/nat-lab.js';


describe('port mapping on a real router (miniupnpd)', () => {
  let lab: NatLab;
  let router: Router;
  let host: LabHost;
  let stranger: LabHost;
  const lanNodes = labNodes('peerdial-portmap-');
  const nodes = lanNodes.all;
  const start = lanNodes.start;
  let members: string[] = [];

  before(async () => {
    await requireNetnsPrivileges();
    lab = await makeNatLab();
    members = await startPartnerMembers(lanNodes, lab);
    router = await lab.addRouter('upnp');
    host = await lab.addHost(router);
    stranger = await lab.addPublicHost();
  });

  after(async () => {
    await lanNodes.stopAll();
    await lab?.teardown();
  });

  const natOf = (node: LanNode, ready: (v: NatView) => boolean, what: string): Promise<NatView> => {
    let last: NatView | undefined;
    return until(what, async () => {
      last = await node.invoke('nat.status', {});
      return ready(last) ? last : undefined;
    }, 30_000, () => JSON.stringify(last?.portMapping ?? last));
  };

  /** coturn's STUN client from a host the node never sent to, at the router's public port 5060. */
  const strangerReaches = async (): Promise<boolean> => {
    const out = await runIn(stranger.ns, 'timeout', ['5', 'turnutils_stunclient', '-p', '5060', router.publicAddress], 10_000).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    return /UDP reflexive addr/.test(out.stdout);
  };

  /** The DNAT rules miniupnpd holds in the router for our port. */
  const routerRules = async (): Promise<string> => (await runIn(router.lanNs, 'nft', ['list', 'chain', 'inet', 'miniupnpd', 'prerouting_miniupnpd'])).stdout;

  it('a node behind the router maps its SIP port by PCP, and a host it never sent to reaches it; off deletes the mapping and the setting outlives a restart; quitting deletes it', async () => {
    assert.equal(await strangerReaches(), false, 'before any mapping the router drops what the stranger sends');
    const dataDir = await tempDataDir('peerdial-portmap-');
    let ulla = await start(host, ['--role', 'client', '--sip-port', '5060', '--user', 'ulla', ...members.flatMap((m) => ['--bootstrap', m])], dataDir);
    const mapped = await natOf(ulla, (v) => v.portMapping.state === 'mapped', 'a port mapping');
    assert.equal(mapped.portMapping.enabled, true, 'on by default');
    assert.equal(mapped.portMapping.protocol, 'pcp');
    assert.equal(mapped.portMapping.external, `${router.publicAddress}:5060`);
    assert.deepEqual(mapped.portMapping.transports, ['udp', 'tcp']);
    assert.equal(mapped.portMapping.gateway, router.gateway);
    assert.ok(mapped.portMapping.lifetimeS && mapped.portMapping.lifetimeS > 0);
    assert.equal(mapped.portMapping.note, undefined, 'the router\'s address is the public address members see');
    assert.match(await routerRules(), /dport 5060/);
    assert.equal(await strangerReaches(), true, 'through the mapping, a host the node never sent to reaches its STUN server on the SIP port');

    const off = await ulla.invoke('nat.configure', { portMapping: false });
    assert.equal(off.portMapping.state, 'off');
    assert.equal(off.portMapping.enabled, false);
    assert.doesNotMatch(await routerRules(), /dport 5060/, 'turned off, the mapping is deleted from the router');
    assert.equal(await strangerReaches(), false);

    await ulla.stop();
    ulla = await start(host, ['--role', 'client', '--sip-port', '5060', '--user', 'ulla', ...members.flatMap((m) => ['--bootstrap', m])], dataDir);
    const after = await natOf(ulla, (v) => v.behaviour !== undefined, 'a NAT check after the restart');
    assert.equal(after.portMapping.enabled, false, 'the setting is kept');
    assert.equal(after.portMapping.state, 'off');

    await ulla.invoke('nat.configure', { portMapping: true });
    await natOf(ulla, (v) => v.portMapping.state === 'mapped', 'the mapping again');
    assert.match(await routerRules(), /dport 5060/);
    await ulla.stop();
    assert.doesNotMatch(await routerRules(), /dport 5060/, 'quitting deletes the mapping');
  });

  it('with --role auto, a node whose router forwards its SIP port (the mapping it made) and that members\' probes reach becomes a member at the router\'s address, and others reach it by name', async () => {
    // The members answer for each other (partners), so they can probe.
    await natOf(nodes[0], (v) => v.stunServer.partner !== undefined, 'the members\' partnership');
    const uma = await start(host, ['--sip-port', '5060', '--user', 'uma', '--member-uptime', '0', ...members.flatMap((m) => ['--bootstrap', m])]);
    const view = await natOf(uma, (v) => v.role === 'member' && /port mapping/.test(v.roleReason), 'a member through its port mapping');
    assert.equal(view.portMapping.state, 'mapped');
    assert.equal(view.reachability.state, 'reachable', JSON.stringify(view.reachability));
    assert.match(view.roleReason, new RegExp(`behind a NAT, but your router forwards ${router.publicAddress.replace(/\./g, '\\.')}:5060 to it`));
    await until('uma in the ring', async () => (await uma.invoke('overlay.status', {})).role === 'member');
    // Its binding in the overlay names the router's public address, and a public node's message reaches it.
    // Its binding in the overlay comes to name the router's public address (it was the member's flow while a client).
    await until('uma\'s binding at the router\'s address', async () => {
      const r = await nodes[0].invoke('overlay.lookup', { aor: 'uma' }).catch(() => undefined);
      return r?.contacts.some((c) => c.includes(`@${router.publicAddress}:5060`)) ?? false;
    });
    await messageDelivered(nodes[0], 'uma');
    await uma.stop();
  });

  it('a call from a symmetric NAT to a user behind the router goes direct through the call port the router maps for it, and the mapping ends with the call', async () => {
    const dir = await tempDataDir('peerdial-portmap-tones-');
    const veraTone = await toneArgs(dir, 'vera', 700);
    const waltTone = await toneArgs(dir, 'walt', 450);
    const vera = await start(await lab.addHost(router), ['--role', 'client', '--sip-port', '5060', '--user', 'vera', '--auto-answer', ...veraTone.args, ...members.flatMap((m) => ['--bootstrap', m])]);
    const walt = await start(await lab.addHost(await lab.addRouter('symmetric')), ['--role', 'client', '--sip-port', '5060', '--user', 'walt', ...waltTone.args, ...members.flatMap((m) => ['--bootstrap', m])]);
    await natOf(vera, (v) => v.portMapping.state === 'mapped' && v.attachment?.state === 'attached', 'vera\'s SIP port mapped and attached');
    await natOf(walt, (v) => v.attachment?.state === 'attached', 'walt attached');
    await messageDelivered(walt, 'vera');
    await walt.invoke('call.dial', { to: 'vera' });
    const veraCall = await callCarryingAudio(vera, 'vera to hear walt', { peer: 'walt', packets: 100 });
    const waltCall = await callCarryingAudio(walt, 'walt to hear vera', { peer: 'vera', packets: 100 });
    // Without the mapping a symmetric NAT facing a port-filtering router needs a relay (the members relay).
    assert.equal(veraCall.quality!.path!.kind, 'direct', JSON.stringify(veraCall.quality!.path));
    assert.equal(veraCall.quality!.path!.text, 'direct through your router\'s port mapping');
    assert.equal(waltCall.quality!.path!.kind, 'direct', JSON.stringify(waltCall.quality!.path));
    assert.match(waltCall.quality!.path!.remote, new RegExp(`^srflx ${router.publicAddress.replace(/\./g, '\\.')}:\\d+$`));
    const callPort = Number(waltCall.quality!.path!.remote.split(':').pop());
    assert.match(await routerRules(), new RegExp(`dport ${callPort}\\b`), 'the call\'s port is mapped on the router');
    await hangUpAll([walt, vera]);
    await until('the call port\'s mapping to leave the router', async () => !new RegExp(`dport ${callPort}\\b`).test(await routerRules()), 10_000);
    assert.match(await routerRules(), /dport 5060/, 'the SIP port stays mapped');
    const veraHeard = await toneHeardSince(veraTone.recording, 0);
    const waltHeard = await toneHeardSince(waltTone.recording, 0);
    assert.ok(veraHeard !== undefined && Math.abs(veraHeard - 450) < 25, `vera heard ${veraHeard} Hz`);
    assert.ok(waltHeard !== undefined && Math.abs(waltHeard - 700) < 25, `walt heard ${waltHeard} Hz`);
    await vera.stop();
    await walt.stop();
    await removeDir(dir);
  });

  for (const protocol of ['pcp', 'nat-pmp', 'upnp'] as const) {
    it(`${protocol}: maps a UDP port that a host it never sent to reaches, and deletes it`, async () => {
      const port = { pcp: 41001, 'nat-pmp': 41002, upnp: 41003 }[protocol];
      const script = path.resolve('test/netns/map-port.ts');
      const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--import', 'tsx', script, protocol, router.gateway, host.address, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const lines: string[] = [];
      let stderr = '';
      child.stdout.on('data', (d) => lines.push(...String(d).split('\n').filter(Boolean)));
      child.stderr.on('data', (d) => (stderr += d));
      try {
        const first = await until('the mapping', async () => lines[0], 30_000, () => stderr);
        const view = JSON.parse(first);
        assert.equal(view.state, 'mapped', first);
        assert.equal(view.protocol, protocol);
        assert.equal(view.external, `${router.publicAddress}:${port}`);
        const echoed = await runIn(stranger.ns, process.execPath, ['-e', echoScript(router.publicAddress, port)], 10_000);
        assert.equal(echoed.stdout.trim(), 'echoed', 'the stranger\'s datagram came back through the mapping');
        child.stdin.end();
        const last = await until('the deletion', async () => lines[1], 15_000, () => stderr);
        assert.equal(JSON.parse(last).counters.deleted, 1);
        assert.doesNotMatch(await routerRules(), new RegExp(`dport ${port}\\b`), 'deleted from the router');
      } finally {
        child.kill();
      }
    });
  }
});

function echoScript(address: string, port: number): string {
  return `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',()=>{console.log('echoed');process.exit(0)});const t=setInterval(()=>{if(++n>8){console.log('silence');process.exit(0)}s.send('ping',${port},'${address}')},250);`;
}
