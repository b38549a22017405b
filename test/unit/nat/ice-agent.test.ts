// The ICE agent between two ends on a simulated network with a fake clock: direct paths, a
// port-restricted NAT on each side, forged checks, role conflicts, and consent freshness.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IceAgent, type IceRole } from '../../../native/proto/nat/ice-agent.js';
import { BINDING, serializeStun, ATTR, type TransportAddress } from '../../../native/wire/stun/message.js';
import { encodePriority, encodeTieBreaker } from '../../../native/wire/stun/ice.js';
import { FakeClock } from '../../support/fake-clock.js';

const key = (a: TransportAddress) => `${a.address}:${a.port}`;

/**
 * Two ends, each behind an optional port-restricted NAT (RFC 4787: endpoint-independent mapping,
 * address-and-port-dependent filtering) whose public address is `nat`. One-way delay 5 ms.
 */
class Network {
  readonly clock = new FakeClock();
  readonly agents = new Map<string, { agent: IceAgent; host: TransportAddress; nat?: TransportAddress; sentTo: Set<string> }>();
  delivered = 0;
  dropped = 0;
  /** Drops every datagram while true. */
  cut = false;

  end(name: string, role: IceRole, host: TransportAddress, nat?: TransportAddress): IceAgent {
    const agent = new IceAgent({
      role,
      timers: this.clock,
      now: () => this.clock.now,
      send: (bytes, to) => this.send(name, bytes, to),
    });
    this.agents.set(name, { agent, host, nat, sentTo: new Set() });
    agent.addLocalCandidate({ type: 'host', address: host.address, port: host.port, base: host, via: 'socket' });
    if (nat) agent.addLocalCandidate({ type: 'srflx', address: nat.address, port: nat.port, base: host, via: 'socket', server: '192.0.2.1:3478', related: host });
    return agent;
  }

  private send(fromName: string, bytes: Buffer, to: TransportAddress): void {
    const sender = this.agents.get(fromName)!;
    sender.sentTo.add(key(to));
    const source = sender.nat ?? sender.host;
    this.clock.set(5, () => {
      const receiver = [...this.agents.values()].find((e) => key(e.nat ?? e.host) === key(to) || (!e.nat && key(e.host) === key(to)));
      // A NATed end's host address is private: unreachable from the other side.
      const viaHost = receiver?.nat && key(receiver.host) === key(to);
      const filtered = receiver?.nat && !receiver.sentTo.has(key(source));
      if (this.cut || !receiver || viaHost || filtered) {
        this.dropped++;
        return;
      }
      this.delivered++;
      receiver.agent.receive(bytes, source, 'socket');
    });
  }
}

function exchange(a: IceAgent, b: IceAgent): void {
  b.setRemote({ ufrag: a.ufrag, pwd: a.pwd, candidates: [...a.candidates] });
  a.setRemote({ ufrag: b.ufrag, pwd: b.pwd, candidates: [...b.candidates] });
}

describe('ICE agent', () => {
  it('connects two reachable hosts and both select the same pair', () => {
    const net = new Network();
    const a = net.end('a', 'controlling', { address: '198.51.100.1', port: 4000 });
    const b = net.end('b', 'controlled', { address: '198.51.100.2', port: 5000 });
    exchange(a, b);
    net.clock.advance(1000);
    assert.equal(a.state, 'connected');
    assert.equal(b.state, 'connected');
    assert.deepEqual(a.mediaTarget(), { to: { address: '198.51.100.2', port: 5000 }, via: 'socket' });
    assert.deepEqual(b.mediaTarget(), { to: { address: '198.51.100.1', port: 4000 }, via: 'socket' });
    assert.equal(a.selected?.remote.type, 'host');
    assert.ok((a.selected?.rttMs ?? 0) >= 10, 'the round trip is measured');
  });

  it('gets through a port-restricted NAT on each side with triggered checks on the reflexive candidates', () => {
    const net = new Network();
    const a = net.end('a', 'controlling', { address: '10.0.0.2', port: 4000 }, { address: '203.0.113.1', port: 40000 });
    const b = net.end('b', 'controlled', { address: '10.1.0.2', port: 5000 }, { address: '203.0.113.2', port: 50000 });
    exchange(a, b);
    net.clock.advance(3000);
    assert.equal(a.state, 'connected');
    assert.equal(b.state, 'connected');
    assert.deepEqual(a.mediaTarget()?.to, { address: '203.0.113.2', port: 50000 });
    assert.deepEqual(b.mediaTarget()?.to, { address: '203.0.113.1', port: 40000 });
    assert.ok(net.dropped > 0, 'the first checks hit the closed NATs');
    // B learns A's public address from A's checks even where it was listed; media only from there.
    assert.equal(b.acceptsMedia({ address: '203.0.113.1', port: 40000 }, 'socket'), true);
    assert.equal(b.acceptsMedia({ address: '203.0.113.9', port: 40000 }, 'socket'), false);
  });

  it('fails when nothing gets through, and says so', () => {
    const net = new Network();
    net.cut = true;
    const a = net.end('a', 'controlling', { address: '198.51.100.1', port: 4000 });
    const b = net.end('b', 'controlled', { address: '198.51.100.2', port: 5000 });
    exchange(a, b);
    net.clock.advance(20_000);
    assert.equal(a.state, 'failed');
    assert.equal(a.mediaTarget(), undefined);
  });

  it('drops checks that are not keyed with its password, and answers nothing to them', () => {
    const net = new Network();
    const a = net.end('a', 'controlling', { address: '198.51.100.1', port: 4000 });
    const sent: Buffer[] = [];
    const b = new IceAgent({ role: 'controlled', timers: net.clock, now: () => net.clock.now, send: (bytes) => sent.push(bytes) });
    b.addLocalCandidate({ type: 'host', address: '198.51.100.2', port: 5000, base: { address: '198.51.100.2', port: 5000 }, via: 'socket' });
    const forged = serializeStun(
      {
        method: BINDING,
        klass: 'request',
        transactionId: Buffer.alloc(12, 7),
        attributes: [
          { type: ATTR.USERNAME, value: Buffer.from(`${b.ufrag}:${a.ufrag}`) },
          { type: ATTR.PRIORITY, value: encodePriority(1) },
          { type: ATTR.ICE_CONTROLLING, value: encodeTieBreaker(1n) },
        ],
      },
      { integrityKey: Buffer.from('not the password at all!'), fingerprint: true },
    );
    assert.equal(b.receive(forged, { address: '198.51.100.66', port: 1 }, 'socket'), true);
    assert.equal(b.counters.forgedRequests, 1);
    assert.equal(sent.length, 0);
    assert.equal(b.acceptsMedia({ address: '198.51.100.66', port: 1 }, 'socket'), false);
  });

  it('settles a role conflict: of two controlling agents one becomes controlled, and they connect', () => {
    const net = new Network();
    const a = net.end('a', 'controlling', { address: '198.51.100.1', port: 4000 });
    const b = net.end('b', 'controlling', { address: '198.51.100.2', port: 5000 });
    exchange(a, b);
    net.clock.advance(3000);
    assert.equal(a.state, 'connected');
    assert.equal(b.state, 'connected');
    assert.notEqual(a.role, b.role);
    assert.ok(a.counters.roleConflicts + b.counters.roleConflicts > 0);
  });

  it('notices within seconds when the path dies, and gives up consent after 30 s', () => {
    const net = new Network();
    const a = net.end('a', 'controlling', { address: '198.51.100.1', port: 4000 });
    const b = net.end('b', 'controlled', { address: '198.51.100.2', port: 5000 });
    const states: string[] = [];
    const a2 = a;
    exchange(a2, b);
    net.clock.advance(1000);
    assert.equal(a.state, 'connected');
    const before = a.counters.consentRequestsSent;
    net.clock.advance(12_000);
    assert.ok(a.counters.consentRequestsSent > before, 'consent is asked for while the call goes on');
    assert.equal(a.state, 'connected');
    net.cut = true;
    const cutAt = net.clock.now;
    let disconnectedAt: number | undefined;
    while (net.clock.now - cutAt < 40_000) {
      net.clock.advance(100);
      if ((a.state as string) === 'disconnected' && disconnectedAt === undefined) disconnectedAt = net.clock.now;
      states.push(a.state);
    }
    assert.ok(disconnectedAt !== undefined && disconnectedAt - cutAt <= 3000, `disconnected ${disconnectedAt! - cutAt} ms after the cut`);
    assert.equal(a.state, 'failed');
    assert.equal(a.mediaTarget(), undefined, 'no media once consent is gone (RFC 7675)');
  });
});
