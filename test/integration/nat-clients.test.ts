// Members carry their clients' signalling (RFC 5626 flows), on loopback: a client attaches to the
// nearest member that accepts it, publishes the member's flow URI as its contact, and a message
// by name reaches it through the member. When the member is killed, the client attaches to
// another and is reachable again. (The same across real NATs: test/netns/nat-*.test.ts.)
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { controlOf, type NodeControl } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import type { NatView } from '../../renderer/src/lib/control-types.js';

const CHORD_ENV = { PEERDIAL_CHORD: '{"stabilizeMs":300,"fixFingersMs":200,"checkPredecessorMs":500,"replicateMs":2000}' };
const nodes: NodeProcess[] = [];
const clients: NodeControl[] = [];

async function node(user: string, args: string[]): Promise<{ process: NodeProcess; api: NodeControl }> {
  const process = await startNode({ user, args: ['--no-mdns', '--no-multicast-register', '--refresh-seconds', '5', ...args], env: CHORD_ENV });
  nodes.push(process);
  const api = controlOf(process);
  clients.push(api);
  return { process, api };
}

async function attached(api: NodeControl, notTo?: string): Promise<NatView> {
  let last: NatView | undefined;
  return until('the client to be attached to a member', async () => {
    last = await api.invoke('nat.status', {});
    return last.attachment?.state === 'attached' && last.attachment.member !== notTo ? last : undefined;
  }, 20_000, () => JSON.stringify(last?.attachment));
}

async function delivered(from: NodeControl, to: string, text: string): Promise<void> {
  await until(`"${text}" to be delivered to ${to}`, async () => {
    const sent = await from.invoke('im.send', { to, text }).catch(() => undefined);
    if (!sent) return false;
    return until('a final status', async () => {
      const [m] = (await from.invoke('im.history', { peer: to })).filter((x) => x.id === sent.id);
      return m && m.status !== 'sending' ? m.status : undefined;
    }).then((status) => status === 'delivered' || status === 'read');
  }, 25_000);
}

describe('members carry their clients\' signalling', () => {
  after(async () => {
    clients.forEach((c) => c.close());
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
  });

  it('a client attaches, gets messages, presence and calls through its member, and moves to another member when its member dies', async () => {
    const m1 = await node('mona', []);
    const m2 = await node('mark', ['--bootstrap', `127.0.0.1:${m1.process.sipPort}`]);
    const bob = await node('bob', ['--bootstrap', `127.0.0.1:${m1.process.sipPort}`]);
    const carol = await node('carol', ['--bind', '127.0.0.9', '--client', '--bootstrap', `127.0.0.1:${m1.process.sipPort}`, '--bootstrap', `127.0.0.1:${m2.process.sipPort}`]);

    const first = await attached(carol.api);
    assert.equal(first.role, 'client');
    assert.match(first.attachment?.contact ?? '', /^sip:pdflow-[\w]+@127\.0\.0\.1:\d+;ob$/, 'the contact is the member\'s flow');
    const memberPort = Number(first.attachment!.member!.split(':')[1]);
    const member = [m1, m2].find((m) => m.process.sipPort === memberPort)!;
    const other = member === m1 ? m2 : m1;

    await delivered(bob.api, 'carol', 'through your member');
    const history = await carol.api.invoke('im.history', { peer: 'sip:bob@peerdial' });
    assert.ok(history.some((m) => m.text === 'through your member'));
    const memberView = await member.api.invoke('nat.status', {});
    assert.equal(memberView.carrying?.clients, 1);
    assert.ok(memberView.counters['flows.forwardedRequests'] >= 1, 'the MESSAGE went through the member');

    // Presence both ways through the member: bob and carol become buddies, bob sees carol busy.
    await bob.api.invoke('buddy.add', { aor: 'sip:carol@peerdial' });
    await until('carol to see the request', async () => (await carol.api.invoke('buddy.list', {})).some((b) => b.aor === 'sip:bob@peerdial' && b.state === 'incoming'), 20_000);
    await carol.api.invoke('buddy.accept', { aor: 'sip:bob@peerdial' });
    await carol.api.invoke('presence.set', { status: 'busy', note: 'behind a NAT' });
    await until('bob to see carol busy', async () => {
      const b = (await bob.api.invoke('buddy.list', {})).find((x) => x.aor === 'sip:carol@peerdial');
      return b?.presence.status === 'busy' && b.presence.note === 'behind a NAT';
    }, 20_000);
    // An INVITE rings carol, and her 180 reaches bob; bob hangs up.
    const call = await bob.api.invoke('call.dial', { to: 'carol' });
    await until('carol to ring and bob to hear it', async () => {
      const incoming = (await carol.api.invoke('call.list', {})).some((c) => c.direction === 'in' && c.state === 'incoming');
      const ringing = (await bob.api.invoke('call.list', {})).some((c) => c.id === call.id && c.state === 'ringing');
      return incoming && ringing;
    }, 20_000);
    await bob.api.invoke('call.hangup', { id: call.id });
    await until('carol to see the call end', async () => !(await carol.api.invoke('call.list', {})).some((c) => c.state !== 'ended'), 20_000);

    await member.process.kill('SIGKILL');
    const killedAt = Date.now();
    const second = await attached(carol.api, first.attachment!.member);
    const reattachMs = Date.now() - killedAt;
    // Any live member will do: the one it was told of, or one it met in its member's lookups (bob).
    assert.ok([other, bob].some((m) => second.attachment?.member === `127.0.0.1:${m.process.sipPort}`), `re-attached to ${second.attachment?.member}`);
    assert.ok(reattachMs < 10_000, `re-attached in ${reattachMs} ms`);
    await delivered(bob.api, 'carol', 'through your new member');
  });

  it('a member that carries its most refuses a new client with the reason, and the client goes elsewhere', async () => {
    const full = await node('fred', ['--max-clients', '0']);
    const open = await node('olga', ['--bootstrap', `127.0.0.1:${full.process.sipPort}`]);
    // Knowing only the full member, the client stays detached and says why.
    const dave = await node('dave', ['--bind', '127.0.0.10', '--client', '--bootstrap', `127.0.0.1:${full.process.sipPort}`]);
    let last: NatView | undefined;
    await until('the refusal to show', async () => {
      last = await dave.api.invoke('nat.status', {});
      return /carries 0 clients, its most; attach to another/.test(last.attachment?.reason ?? '');
    }, 15_000, () => JSON.stringify(last?.attachment));
    assert.notEqual(last?.attachment?.state, 'attached');
    assert.ok((await full.api.invoke('nat.status', {})).counters['flows.refused'] >= 1);
    // Knowing both, another client attaches to the one with room.
    const erin = await node('erin', ['--bind', '127.0.0.11', '--client', '--bootstrap', `127.0.0.1:${full.process.sipPort}`, '--bootstrap', `127.0.0.1:${open.process.sipPort}`]);
    assert.equal((await attached(erin.api)).attachment?.member, `127.0.0.1:${open.process.sipPort}`);
  });
});
