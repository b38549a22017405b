// The overlay as third-party SIP tools see it. A few headless nodes (the built CLI) form a ring
// while tshark captures their SIP ports on loopback; every overlay operation is exercised (join,
// stabilization, storage and replication, a client's lookup/put/get through its member, a
// graceful leave) along with a MESSAGE by AOR. Then Wireshark's SIP dissector reads the pcap
// back: every packet must be SIP, none malformed, every body JSON, every operation named in
// the P2P-Op header of some REGISTER. sipp then plays both ends of an overlay exchange.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { OverlayStatus } from '../../native/control/api.js';
import { OVERLAY_CONTENT_TYPE, OVERLAY_OPS } from '../../native/wire/overlay/messages.js';
import { requireSipp, SCENARIOS, startSipp } from '../peers/sipp.js';
import { EXPERT_SEVERITY, OVERLAY_HEADER_PREFS, readPackets, requireTshark, startCapture, type PacketFields } from '../peers/tshark.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { until } from '../support/poll.js';
import { reachesDevice } from '../support/contacts.js';

const OVERLAY = 'peerdial';
const CHORD_TUNING = JSON.stringify({ stabilizeMs: 300, fixFingersMs: 200, checkPredecessorMs: 500, replicateMs: 2000 });
/** Bodies of our media type are dissected as JSON, so a broken body would show. */
const DISSECT_PREFS = [...OVERLAY_HEADER_PREFS, '-d', `media_type==${OVERLAY_CONTENT_TYPE},json`];

type Control = NodeControl;
interface RunningNode {
  user: string;
  proc: NodeProcess;
  control: Control;
}



/** True when each member's successor and predecessor are its neighbours in sorted ID order. */
function ringIsCorrect(statuses: OverlayStatus[]): boolean {
  const ids = statuses.map((s) => s.nodeId).sort();
  return statuses.every((s) => {
    const i = ids.indexOf(s.nodeId);
    return s.successors[0]?.id === ids[(i + 1) % ids.length] && s.predecessor?.id === ids[(i - 1 + ids.length) % ids.length];
  });
}

/** One line per node, for a failure message. */
function ringSummary(statuses: OverlayStatus[]): string {
  const short = (id?: string) => (id ? id.slice(0, 8) : '-');
  return statuses.map((s) => `${s.aor} ${s.role} ${short(s.nodeId)}: pred ${short(s.predecessor?.id)} succ ${s.successors.map((n) => short(n.id)).join(',')}`).join('\n');
}

describe('overlay traffic as tshark and sipp see it', () => {
  const nodes: RunningNode[] = [];
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'peerdial-overlay-pcap-'));
  const pcap = path.join(workDir, 'overlay.pcap');
  let sipPorts: number[] = [];
  let packets: PacketFields[] = [];

  async function start(user: string, sipPort: number, args: string[]): Promise<RunningNode> {
    const proc = await startNode({ user, args: ['--sip-port', String(sipPort), '--refresh-seconds', '5', ...args], env: { PEERDIAL_CHORD: CHORD_TUNING } });
    const control = controlOf(proc);
    const node = { user, proc, control };
    nodes.push(node);
    return node;
  }
  const members = () => nodes.filter((n) => n.user !== 'erin' && n.proc.child.exitCode === null && n.proc.child.signalCode === null);

  before(async () => {
    // Fails (not skips) without the tools: scripts/install-test-deps.sh installs both.
    requireTshark();
    requireSipp();
    sipPorts = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const capture = await startCapture({ file: pcap, ports: sipPorts, probePort: await freePort(), maxSeconds: 90 });
    try {
      const [alicePort, ...others] = sipPorts;
      const bootstrap = ['--bootstrap', `127.0.0.1:${alicePort}`];
      await start('alice', alicePort, []);
      // join: find-closest, notify; then stabilization: neighbours, notify, ping; storage: store.
      for (const [i, user] of ['bob', 'carol', 'dave'].entries()) await start(user, others[i], bootstrap);
      // The client registers (put), looks up (lookup, get) through its member.
      const erin = await start('erin', others[3], ['--client', ...bootstrap]);
      await until('a correct ring of four', async () => ringIsCorrect(await Promise.all(members().map((n) => n.control.invoke('overlay.status', {})))));
      await until('every user registered', async () => (await Promise.all(nodes.map((n) => n.control.invoke('overlay.status', {})))).every((s) => s.registration.state === 'registered'));
      // Lookups from every member: some keys live elsewhere, so fetch goes over the wire.
      // The client is reached through its member's flow (RFC 5626): that is its contact.
      const erinContact = await until('erin attached to her member', async () => {
        const nat = await erin.control.invoke('nat.status', {});
        return nat.attachment?.state === 'attached' && nat.attachment.contact;
      });
      for (const from of [...members(), erin]) {
        for (const target of nodes) {
          await until(`${from.user} finds ${target.user}`, async () => {
            const view = await from.control.invoke('overlay.lookup', { aor: `sip:${target.user}@${OVERLAY}` });
            return reachesDevice(view.contacts, target === erin ? erinContact : target.proc.sipContact!);
          });
        }
      }
      // MESSAGEs by AOR, member to client and client to member.
      for (const [from, to] of [
        [nodes[0], erin],
        [erin, nodes[1]],
      ] as const) {
        const sent = await from.control.invoke('im.send', { to: `sip:${to.user}@${OVERLAY}`, text: `hello ${to.user}, by name` });
        const outcome = await until(`${from.user}'s message to ${to.user} settles`, async () => {
          const m = (await from.control.invoke('im.history', { peer: `sip:${to.user}@${OVERLAY}`, limit: 10 })).find((x) => x.id === sent.id);
          return m && m.status !== 'sending' && m;
        });
        assert.equal(outcome.status, 'delivered', outcome.reason);
      }
      // A graceful leave: its records go to its successor, and both neighbours hear of it.
      const carol = nodes.find((n) => n.user === 'carol')!;
      carol.control.close();
      assert.equal(await carol.proc.stop(), 0);
      await until('the ring of three closes', async () => ringIsCorrect(await Promise.all(members().map((n) => n.control.invoke('overlay.status', {})))));
    } finally {
      await capture.stop();
    }
    if (process.env.PEERDIAL_KEEP_PCAP) copyFileSync(pcap, process.env.PEERDIAL_KEEP_PCAP);
    const onNodePorts = sipPorts.map((p) => `udp.port == ${p} || tcp.port == ${p}`).join(' || ');
    packets = readPackets(
      pcap,
      ['frame.number', 'udp.length', 'tcp.len', 'tcp.reassembled_in', 'stun.type', 'sip.Supported', 'sip.Method', 'sip.Status-Code', 'sip.P2P-Op', 'sip.P2P-Overlay', 'sip.Content-Length', 'json.object', '_ws.malformed', '_ws.expert.severity'],
      // Every datagram, and every TCP segment that carries bytes (not the bare handshakes and ACKs),
      // but for TCP's own retransmissions: their bytes were decoded where they first went (once in
      // CI a resent segment, which tshark reassembles into nothing, counted as undecodable).
      `(${onNodePorts}) && (udp || (tcp.len > 0 && !tcp.analysis.retransmission && !tcp.analysis.spurious_retransmission))`,
      DISSECT_PREFS,
    );
  });

  after(async () => {
    for (const n of nodes) n.control.close();
    await Promise.all(nodes.map((n) => n.proc.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.proc.dataDir)));
    rmSync(workDir, { recursive: true, force: true });
  });

  const describePacket = (p: PacketFields) => JSON.stringify(p);

  it('captures a real exchange: hundreds of overlay packets', () => {
    assert.ok(packets.length >= 100, `only ${packets.length} packets captured`);
  });

  it('every packet on the overlay ports decodes as a SIP request or response, or as STUN (keepalives and NAT checks share the SIP port)', () => {
    const neither = packets.filter((p) => !p['sip.Method'].length && !p['sip.Status-Code'].length && !p['tcp.reassembled_in'].length && !p['stun.type'].length);
    assert.deepEqual(neither.map(describePacket), []);
    assert.ok(packets.some((p) => p['stun.type'].length), 'the client\'s STUN keepalives to its member were captured and decoded as STUN');
  });

  it('no packet is malformed or draws a warning from the dissector', () => {
    const complaints = packets.filter((p) => p['_ws.malformed'].length || p['_ws.expert.severity'].some((s) => Number(s) >= EXPERT_SEVERITY.warn));
    assert.deepEqual(complaints.map(describePacket), []);
  });

  it('every overlay body is JSON to Wireshark', () => {
    const withBody = packets.filter((p) => Number(p['sip.Content-Length'][0] ?? 0) > 0 && (p['sip.P2P-Op'].length || p['sip.Method'][0] === 'REGISTER'));
    assert.ok(withBody.length > 0);
    assert.deepEqual(withBody.filter((p) => !p['json.object'].length).map(describePacket), []);
  });

  it('names every overlay operation in the P2P-Op header of some REGISTER, in overlay peerdial', () => {
    // A client's attach to its member is a REGISTER too (RFC 5626 outbound), not an overlay operation.
    const all = packets.filter((p) => p['sip.Method'][0] === 'REGISTER');
    const attaches = all.filter((p) => !p['sip.P2P-Op'].length);
    assert.deepEqual(attaches.filter((p) => !/outbound/.test(p['sip.Supported'].join(','))).map(describePacket), [], 'every REGISTER is an overlay operation or a client attaching');
    const registers = all.filter((p) => p['sip.P2P-Op'].length);
    const seen = new Set(registers.flatMap((p) => p['sip.P2P-Op']));
    assert.deepEqual([...OVERLAY_OPS].filter((op) => !seen.has(op)), [], `operations seen: ${[...seen].join(', ')}`);
    assert.deepEqual(registers.filter((p) => p['sip.P2P-Overlay'][0] !== OVERLAY).map(describePacket), []);
    // Each request got its 200 back with the operation echoed.
    const answered = new Set(packets.filter((p) => p['sip.Status-Code'][0] === '200').flatMap((p) => p['sip.P2P-Op']));
    assert.deepEqual([...OVERLAY_OPS].filter((op) => !answered.has(op)), []);
  });

  it('carries the MESSAGEs by AOR as SIP MESSAGE answered 200', () => {
    const messages = packets.filter((p) => p['sip.Method'][0] === 'MESSAGE');
    assert.ok(messages.length >= 2, `MESSAGEs seen: ${messages.length}`);
  });

  it("sipp, as the bootstrap peer, parses a joining node's ping and find-closest REGISTERs and its answers let the node join", async () => {
    const alice = nodes[0];
    // The answer names a real member, with the proof of its ID: a joining node takes no node without one.
    const aliceStatus = await alice.control.invoke('overlay.status', {});
    const member = { id: aliceStatus.nodeId, host: '127.0.0.1', port: alice.proc.sipPort, ...aliceStatus.nodeProof };
    const sippPort = await freePort();
    const scenario = path.join(workDir, 'overlay-bootstrap-uas.xml');
    writeFileSync(scenario, bootstrapUasScenario());
    const uas = startSipp({
      scenario: path.relative(SCENARIOS, scenario),
      localPort: sippPort,
      calls: 2,
      // The answer goes in as a key: sipp would read the body's own brackets as keywords.
      keys: { answer: JSON.stringify({ done: true, node: member, successors: [] }) },
    });
    await new Promise((r) => setTimeout(r, 300));
    const frank = await start('frank', await freePort(), ['--bootstrap', `127.0.0.1:${sippPort}`]);
    const run = await uas.done;
    assert.equal(run.code, 0, run.output.slice(-3_000));
    assert.equal(run.successful, 2);
    let last: OverlayStatus[] = [];
    const status = await until('frank in the ring that sipp pointed it to', async () => {
      last = await Promise.all(members().map((n) => n.control.invoke('overlay.status', {})));
      return ringIsCorrect(last) && last.find((s) => s.aor === `sip:frank@${OVERLAY}`);
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${ringSummary(last)}\n${frank.proc.output()}`);
    });
    assert.equal(status.role, 'member');
    assert.ok(frank.proc.output().includes('as member'));
  });

  it("sipp, as a peer, sends a ping REGISTER and parses the node's 200 with P2P-Op and a JSON body", async () => {
    const scenario = path.join(workDir, 'overlay-ping-uac.xml');
    writeFileSync(scenario, pingUacScenario());
    const alice = nodes[0];
    const aliceStatus = await alice.control.invoke('overlay.status', {});
    const run = await startSipp({ scenario: path.relative(SCENARIOS, scenario), remote: `127.0.0.1:${alice.proc.sipPort}`, localPort: await freePort(), keys: { nodeid: aliceStatus.nodeId } }).done;
    assert.equal(run.code, 0, run.output.slice(-3_000));
    assert.equal(run.successful, 1);
  });
});

/**
 * sipp as the member a new node bootstraps through. Joining takes two requests, each its own
 * Call-ID (so its own sipp "call"): a ping, then a find-closest for the node's own ID. sipp checks
 * each one's P2P-Op, P2P-Overlay, Content-Type and body (check_it fails the call otherwise) and
 * answers both with one body, valid for either: "done", with a real member as the key's
 * successor, so the node goes on to join the actual ring through that member.
 */
function bootstrapUasScenario(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<scenario name="overlay bootstrap answered by sipp">
  <recv request="REGISTER">
    <action>
      <ereg regexp="^ *(ping|find-closest)$" search_in="hdr" header="P2P-Op:" check_it="true" assign_to="op"/>
      <ereg regexp="${OVERLAY}" search_in="hdr" header="P2P-Overlay:" check_it="true" assign_to="overlay"/>
      <ereg regexp="(Content-Type|c): *application/peerdial-overlay\\+json" search_in="msg" check_it="true" assign_to="type"/>
      <ereg regexp="^\\{(&quot;key&quot;:&quot;[0-9a-f]{40}&quot;)?\\}" search_in="body" check_it="true" assign_to="body"/>
    </action>
  </recv>
  <Reference variables="overlay,type,body"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
P2P-Op: [$op]
Content-Type: application/peerdial-overlay+json
Content-Length: [len]

[answer]
]]>
  </send>
</scenario>
`;
}

/**
 * sipp as an overlay peer: a ping, and the 200 must echo P2P-Op and carry the node's reference.
 * sipp's header="..." lookup is case-sensitive, while header names are not (RFC 3261 7.3.1), so
 * the echoed P2P-Op is matched in the whole message, in any case; Content-Type too, in its long
 * or compact form (`c:`, RFC 3261 7.3.3), which the overlay's own messages use.
 */
function pingUacScenario(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<scenario name="overlay ping from sipp">
  <send retrans="500">
    <![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:sipp@${OVERLAY}>;tag=[pid]SIPpTag00[call_number]
To: <sip:[nodeid]@${OVERLAY}>
Call-ID: [call_id]
CSeq: 1 REGISTER
P2P-Op: ping
P2P-Overlay: ${OVERLAY}
Content-Type: application/peerdial-overlay+json
Content-Length: [len]

{}
]]>
  </send>
  <recv response="200">
    <action>
      <ereg regexp="[Pp]2[Pp]-[Oo][Pp]: *ping" search_in="msg" check_it="true" assign_to="op"/>
      <ereg regexp="(Content-Type|c): *application/peerdial-overlay\\+json" search_in="msg" check_it="true" assign_to="type"/>
      <ereg regexp="\\{&quot;node&quot;:\\{&quot;id&quot;:&quot;[0-9a-f]{40}&quot;" search_in="body" check_it="true" assign_to="node"/>
    </action>
  </recv>
  <Reference variables="op,type,node"/>
</scenario>
`;
}
