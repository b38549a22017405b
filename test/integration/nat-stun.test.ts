// STUN on the SIP port and NAT behaviour discovery between real nodes on loopback (no NAT in
// the path: the finding must say so). A member with two addresses answers RFC 5780 tests by
// itself; a member with one address answers them with a partner member on the same port.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { controlOf } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { ATTR, BINDING, attribute, decodeAddress, decodeXorAddress, parseStun, serializeStun } from '../../native/wire/stun/message.js';
import type { NatView } from '../../renderer/src/lib/control-types.js';

const nodes: NodeProcess[] = [];
async function node(args: string[]): Promise<NodeProcess> {
  const started = await startNode({ args: ['--no-mdns', '--no-multicast-register', ...args] });
  nodes.push(started);
  return started;
}
async function natOf(n: NodeProcess, ready: (v: NatView) => boolean): Promise<NatView> {
  const client = controlOf(n);
  try {
    let last: NatView | undefined;
    return await until('the NAT check to finish', async () => {
      last = await client.invoke('nat.status', {});
      return ready(last) ? last : undefined;
    }, 30_000, () => JSON.stringify(last));
  } finally {
    client.close();
  }
}

/** One Binding request from a fresh socket; the answer's attributes, decoded. */
async function bind(address: string, port: number, bytes?: Buffer): Promise<{ mapped?: { address: string; port: number }; origin?: unknown; other?: unknown; local: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const transactionId = randomBytes(12);
  const request = bytes ?? serializeStun({ method: BINDING, klass: 'request', transactionId, attributes: [] }, { fingerprint: true });
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const timer = setInterval(() => socket.send(request, port, address), 200);
      socket.send(request, port, address);
      socket.once('message', (m) => {
        clearInterval(timer);
        resolve(m);
      });
      setTimeout(() => {
        clearInterval(timer);
        reject(new Error('no STUN answer'));
      }, 3_000);
    });
    const parsed = parseStun(answer);
    assert.ok(parsed.ok, 'the answer parses as STUN with a good FINGERPRINT');
    const m = parsed.message;
    const xor = attribute(m, ATTR.XOR_MAPPED_ADDRESS);
    const origin = attribute(m, ATTR.RESPONSE_ORIGIN);
    const other = attribute(m, ATTR.OTHER_ADDRESS);
    return { mapped: xor && decodeXorAddress(xor, m.transactionId), origin: origin && decodeAddress(origin), other: other && decodeAddress(other), local: socket.address().port };
  } finally {
    socket.close();
  }
}

describe('STUN on the SIP port, and NAT behaviour discovery', () => {
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(nodes.map((n) => removeDir(n.dataDir)));
  });

  it('a member answers Binding requests on its SIP port, next to SIP: the mapped address is the asker\'s', async () => {
    const a = await node(['--user', 'alice']);
    const answer = await bind('127.0.0.1', a.sipPort);
    assert.deepEqual(answer.mapped, { address: '127.0.0.1', port: answer.local });
    assert.deepEqual(answer.origin, { address: '127.0.0.1', port: a.sipPort });
    // A datagram of garbage with the STUN shape is dropped and counted; SIP still works after it.
    const garbage = Buffer.concat([Buffer.from('0001000c2112a442', 'hex'), randomBytes(12), Buffer.from('00200008ffff', 'hex')]);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.send(garbage, a.sipPort, '127.0.0.1', () => resolve()));
    socket.close();
    const view = await natOf(a, (v) => v.counters.malformed >= 1);
    assert.equal(view.counters.malformed, 1);
    assert.ok((await bind('127.0.0.1', a.sipPort)).mapped, 'still answering after the bad datagram');
  });

  it('a member with two addresses answers CHANGE-REQUEST itself; a node behind it finds no NAT and open filtering', async () => {
    const m = await node(['--bind', '127.0.0.1', '--stun-other-address', '127.0.0.2']);
    const first = await bind('127.0.0.1', m.sipPort);
    assert.equal((first.other as { address: string }).address, '127.0.0.2', 'OTHER-ADDRESS names the second address');
    const c = await node(['--bind', '127.0.0.3', '--bootstrap', `127.0.0.1:${m.sipPort}`]);
    const view = await natOf(c, (v) => v.behaviour !== undefined && !v.checking);
    assert.equal(view.behaviour?.udp, true);
    assert.equal(view.behaviour?.mapping, 'no-nat', view.behaviour?.description);
    assert.equal(view.behaviour?.filtering, 'endpoint-independent', view.behaviour?.description);
    assert.equal(view.publicAddress, `127.0.0.3:${c.sipPort}`);
    assert.match(view.behaviour?.description ?? '', /no NAT/);
  });

  it('two members with one address each on the same port answer for each other (partners)', async () => {
    const a = await node(['--bind', '127.0.0.4']);
    const b = await node(['--bind', '127.0.0.5', '--sip-port', String(a.sipPort), '--bootstrap', `127.0.0.4:${a.sipPort}`]);
    const aView = await natOf(a, (v) => v.stunServer.partner !== undefined);
    assert.equal(aView.stunServer.partner, `127.0.0.5:${a.sipPort}`);
    const bView = await natOf(b, (v) => v.stunServer.partner !== undefined);
    assert.equal(bView.stunServer.partner, `127.0.0.4:${a.sipPort}`);
    const answer = await bind('127.0.0.4', a.sipPort);
    assert.equal((answer.other as { address: string }).address, '127.0.0.5', 'OTHER-ADDRESS is the partner');
    // A third node asks a's address: the "other address" answers come from b.
    const c = await node(['--bind', '127.0.0.6', '--bootstrap', `127.0.0.4:${a.sipPort}`]);
    const view = await natOf(c, (v) => v.behaviour !== undefined && !v.checking);
    assert.equal(view.behaviour?.mapping, 'no-nat', view.behaviour?.description);
    assert.equal(view.behaviour?.filtering, 'endpoint-independent', view.behaviour?.description);
    const after = await natOf(a, () => true);
    assert.ok(after.counters.passedToPartner >= 1, 'a passed a request to its partner');
  });

  it('a partner request from someone who is not a ring member is refused, and nobody can make a node answer a third party', async () => {
    const a = await node(['--bind', '127.0.0.7']);
    // Ask to be a's partner from a socket that is not in a's ring: no PEERDIAL-PARTNER in the answer.
    const transactionId = randomBytes(12);
    const ask = serializeStun({ method: BINDING, klass: 'request', transactionId, attributes: [{ type: ATTR.PEERDIAL_PARTNER, value: Buffer.from([0x13, 0x88, 0, 0]) }] }, { fingerprint: true });
    await bind('127.0.0.7', a.sipPort, ask);
    // An "answer for me" indication aimed at a third party, from a stranger: dropped and counted.
    const target = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => target.bind(0, '127.0.0.1', resolve));
    let reflected = false;
    target.on('message', () => (reflected = true));
    const { encodeXorAddress } = await import('../../native/wire/stun/message.js');
    const id = randomBytes(12);
    const forged = serializeStun({ method: BINDING, klass: 'indication', transactionId: id, attributes: [{ type: ATTR.PEERDIAL_ANSWER_TO, value: encodeXorAddress({ address: '127.0.0.1', port: target.address().port }, id) }, { type: ATTR.CHANGE_REQUEST, value: Buffer.from([0, 0, 0, 0]) }] }, { fingerprint: true });
    const sender = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sender.send(forged, a.sipPort, '127.0.0.7', () => resolve()));
    sender.close();
    const view = await natOf(a, (v) => v.counters['answer-request-not-from-partner'] >= 1 && v.counters.partnerRefused >= 1);
    assert.equal(view.stunServer.partner, undefined);
    // The drop is counted before any answer could go out; give a stray answer one more round trip.
    await bind('127.0.0.7', a.sipPort);
    target.close();
    assert.equal(reflected, false, 'no datagram reached the third party');
  });
});
